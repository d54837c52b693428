"""Whether a campaign can legally dial now, and why not (dialer.campaign_readiness): a table of campaigns
and instants against the shipped French rule set (Mon–Fri 10–13 h and 14–20 h Paris time, no public
holidays, consent required from 11 August 2026)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dialer.campaign_readiness import ReadinessFacts, dial_blockers, next_opening
from dialer.campaigns import StartFacts
from dialer.compliance import builtin_rule_sets

FR = builtin_rule_sets()["FR-2023"]
READY = StartFacts(lists=1, leads=10, rule_set_known=True, script_known=True, has_queue_or_team=True)
MON_11H = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # Monday 11:00 in Paris: open
MON_13H30 = datetime(2026, 12, 7, 12, 30, tzinfo=UTC)  # the lunch gap
FRI_21H = datetime(2026, 12, 11, 20, 0, tzinfo=UTC)  # Friday evening: next is Monday 10:00
CHRISTMAS = datetime(2026, 12, 25, 10, 0, tzinfo=UTC)  # a Friday, a public holiday
JULY = datetime(2026, 7, 6, 9, 0, tzinfo=UTC)  # before consent was required


def facts(start: StartFacts = READY, consented: int = 10, agents: int = 2, rs: object = FR) -> ReadinessFacts:
    return ReadinessFacts(start=start, rule_set=rs, consented_leads=consented, agents=agents, country="FR")  # type: ignore[arg-type]


CASES = [  # (name, facts, now, blocker codes)
    ("ready in the window", facts(), MON_11H, []),
    ("lunch gap", facts(), MON_13H30, ["window_closed"]),
    ("friday night", facts(), FRI_21H, ["window_closed"]),
    ("christmas", facts(), CHRISTMAS, ["holiday", "window_closed"]),
    ("no consent once required", facts(consented=0), MON_11H, ["no_consent"]),
    ("no consent before it was required", facts(consented=0), JULY, []),
    ("no agents", facts(agents=0), MON_11H, ["no_agent"]),
    ("no list", facts(StartFacts(0, 0, True, None, True), consented=0), MON_11H, ["no_list"]),
    ("empty lists", facts(StartFacts(1, 0, True, None, True), consented=0), MON_11H, ["no_lead"]),
    ("no queue nor team", facts(StartFacts(1, 5, True, None, False), agents=0), MON_11H,
     ["no_queue_or_team"]),
    ("unknown rule set and script", facts(StartFacts(1, 5, False, False, True), rs=None), MON_11H,
     ["no_rule_set", "no_script"]),
    ("everything wrong at night", facts(consented=0, agents=0), FRI_21H,
     ["no_agent", "no_consent", "window_closed"]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "given", "now", "codes"), CASES, ids=[c[0] for c in CASES])
def test_given_a_campaign_when_asked_at_an_instant_then_the_blockers_are_the_expected_ones(
    name: str, given: ReadinessFacts, now: datetime, codes: list[str]
) -> None:
    assert [b.code for b in dial_blockers(given, now)] == codes


OPENINGS = [  # (now, next opening in Paris wall time)
    (MON_11H, None),  # open: `now` itself
    (MON_13H30, datetime(2026, 12, 7, 14, 0)),
    (FRI_21H, datetime(2026, 12, 14, 10, 0)),
    (CHRISTMAS, datetime(2026, 12, 28, 10, 0)),
    (datetime(2026, 12, 7, 8, 59, tzinfo=UTC), datetime(2026, 12, 7, 10, 0)),  # 09:59 Paris
]


@pytest.mark.parametrize(("now", "wall"), OPENINGS)
def test_given_the_french_rule_set_when_closed_then_the_next_opening_is_the_next_window_start(
    now: datetime, wall: datetime | None
) -> None:
    opening = next_opening(FR, "FR", now)
    assert opening is not None
    if wall is None:
        assert opening == now
    else:
        assert opening.replace(tzinfo=None) == wall and opening.utcoffset() is not None


def test_given_a_closed_window_when_blocked_then_the_blocker_says_when_it_opens() -> None:
    (blocker,) = dial_blockers(facts(), FRI_21H)
    assert blocker.at is not None and blocker.at.isoformat() == "2026-12-14T10:00:00+01:00"
    assert "FR-2023" in blocker.text
