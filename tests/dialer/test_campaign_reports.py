"""Campaign report maths (dialer/campaign_reports.py): tables of attempts in, figures out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dialer.campaign_reports import (
    PASSES,
    ReportAttempt,
    RuleSetView,
    by_agent,
    by_list,
    by_pass,
    figures,
)
from dialer.compliance import builtin_rule_sets, clone_rule_set
from dialer.leads_model import Attempt, AttemptResult

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
R = AttemptResult
FR = RuleSetView(builtin_rule_sets()["FR-2023"])
UK = RuleSetView(builtin_rule_sets()["UK-Ofcom"])  # 10 % estimated AMD false positives


def att(
    result: R,
    *,
    lead: int = 1,
    answer_s: float | None = None,  # seconds from the start to the answer
    agent_after_s: float | None = None,  # seconds from the answer to the agent
    amd: bool = False,
    agent: int | None = None,
    list_id: int = 10,
    pass_no: int = 1,
    minutes: int = 0,
) -> ReportAttempt:
    start = T0 + timedelta(minutes=minutes)
    answered = None if answer_s is None else start + timedelta(seconds=answer_s)
    connected = (
        None if answered is None or agent_after_s is None else answered + timedelta(seconds=agent_after_s)
    )
    return ReportAttempt(
        Attempt(
            lead_id=lead,
            e164=f"+3361100{lead:04d}",
            started_at=start,
            result=result,
            answered_at=answered,
            agent_connected_at=connected,
            amd_machine=amd,
            agent_id=agent,
        ),
        list_id=list_id,
        pass_no=pass_no,
    )


# One morning of a campaign: 10 dials of 8 leads.
MORNING = [
    att(R.NO_ANSWER, lead=1),
    att(R.BUSY, lead=2),
    att(R.FAILED, lead=3),
    att(R.MACHINE, lead=4, answer_s=8, amd=True),  # hung up by AMD (maybe a person: Ofcom counts it)
    att(R.MACHINE, lead=5, answer_s=9, amd=True),
    att(R.SUCCESS, lead=6, answer_s=7, agent_after_s=0.5, agent=100),
    att(R.REFUSED, lead=7, answer_s=6, agent_after_s=1.9, agent=101),
    att(R.CONTACT, lead=8, answer_s=6, agent_after_s=3.5, agent=100),  # the agent came too late: abandoned
    att(R.DROPPED, lead=1, answer_s=5, pass_no=2, minutes=60),  # nobody came
    att(R.SUCCESS, lead=2, answer_s=5, agent_after_s=1.0, agent=101, pass_no=2, minutes=60),
]


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("attempts", 10),
        ("leads_dialled", 8),
        ("contacts", 5),  # success ×2, refused, late contact, drop: a person answered
        ("connected", 4),  # the drop had no agent
        ("conversions", 2),
        ("answered", 7),  # 5 people + 2 machines
        ("machines", 2),
        ("abandons", 2),  # the drop, and the agent 3.5 s after the greeting (> 2 s)
        ("contact_rate", 0.5),  # 5 / 10
        ("conversion_rate", 0.4),  # 2 / 5
        ("abandon_definition", "live_answered"),
        ("abandon_rate", 0.4),  # 2 / 5: FR-2023 uses the live-answered definition
        ("abandon_limit", 0.03),
        ("penetration", 0.8),  # 8 leads of 10
    ],
)
def test_given_a_morning_of_dials_when_the_figures_are_taken_then_each_follows_its_definition(
    field: str, expected: object
) -> None:
    f = figures(MORNING, FR, leads=10)
    value = getattr(f, field)
    assert value == (pytest.approx(expected) if isinstance(expected, float) else expected)


@pytest.mark.parametrize(
    ("view", "definition", "expected"),
    [
        (FR, "live_answered", 2 / 5),
        (FR, "ofcom", 2 / 5),  # FR-2023 estimates no AMD false positive: same as live-answered
        (FR, "all_answered", 2 / 7),  # machines in the denominator
        (UK, "live_answered", 2 / 5),
        (UK, "ofcom", (2 + 0.2) / (5 + 0.2)),  # 10 % of the 2 AMD hang-ups were people, all abandoned
        (UK, "all_answered", 2 / 7),
    ],
)
def test_given_two_rule_sets_when_abandon_rates_are_read_by_each_definition_then_the_denominators_differ(
    view: RuleSetView, definition: str, expected: float
) -> None:
    f = figures(MORNING, view)
    assert f.abandon_rates[definition] == pytest.approx(expected)


def test_given_the_ofcom_rule_set_when_the_figures_are_taken_then_its_own_rate_is_the_ofcom_one() -> None:
    f = figures(MORNING, UK)
    assert f.abandon_definition == "ofcom"
    assert f.abandon_rate == pytest.approx(2.2 / 5.2)


@pytest.mark.parametrize(
    ("seconds", "agent_after_s", "abandoned"),
    [
        (2, 1.99, False),
        (2, 2.0, False),  # "within 2 s": 2.0 s is in time
        (2, 2.01, True),
        (5, 4.0, False),  # a rule set with a longer delay
        (5, 5.5, True),
    ],
)
def test_given_the_rule_sets_seconds_when_an_agent_comes_then_the_abandon_follows_that_delay(
    seconds: float, agent_after_s: float, abandoned: bool
) -> None:
    rs = clone_rule_set(builtin_rule_sets()["US-TCPA"], "T", {"abandon_after_seconds": seconds})
    f = figures([att(R.CONTACT, answer_s=5, agent_after_s=agent_after_s, agent=1)], RuleSetView(rs))
    assert f.abandons == int(abandoned)


def test_given_no_attempt_when_the_figures_are_taken_then_every_ratio_is_none_not_zero() -> None:
    f = figures([], FR, leads=0)
    assert (f.attempts, f.contacts, f.abandons) == (0, 0, 0)
    assert (f.contact_rate, f.conversion_rate, f.abandon_rate, f.penetration) == (None, None, None, None)
    assert set(f.abandon_rates.values()) == {None}


def test_given_only_unanswered_dials_when_the_figures_are_taken_then_no_abandon_rate() -> None:
    f = figures([att(R.NO_ANSWER), att(R.BUSY, lead=2)], FR)
    assert f.contact_rate == 0.0
    assert f.abandon_rate is None  # no live call: nothing to divide by


@pytest.mark.parametrize(
    ("pass_no", "bucket"),
    [(1, 1), (2, 2), (4, 4), (5, 5), (6, 5), (42, 5), (0, 1)],
)
def test_given_an_attempts_rank_when_bucketed_then_five_holds_five_and_more(
    pass_no: int, bucket: int
) -> None:
    assert att(R.BUSY, pass_no=pass_no).pass_bucket == bucket


def test_given_dials_over_several_passes_when_reported_by_pass_then_every_pass_appears_with_its_results() -> (
    None
):
    rows = [*MORNING, att(R.SUCCESS, lead=9, answer_s=4, agent_after_s=0.2, agent=100, pass_no=7, minutes=90)]
    passes = by_pass(rows, FR, leads=10)
    assert list(passes) == list(range(1, PASSES + 1))
    assert [passes[n].attempts for n in passes] == [8, 2, 0, 0, 1]
    assert [passes[n].conversions for n in passes] == [1, 1, 0, 0, 1]
    assert passes[2].results == {"dropped": 1, "success": 1}
    assert passes[2].abandon_rate == pytest.approx(1 / 2)
    assert passes[3].contact_rate is None
    assert passes[1].penetration == pytest.approx(0.8)  # 8 of the 10 leads had a first dial


def test_given_two_lists_and_an_idle_one_when_reported_by_list_then_each_has_its_penetration() -> None:
    rows = [*MORNING, att(R.NO_ANSWER, lead=20, list_id=11), att(R.BUSY, lead=20, list_id=11, pass_no=2)]
    lists = by_list(rows, FR, {10: 16, 11: 4, 12: 50})
    assert {k: (f.attempts, f.leads_dialled, f.penetration) for k, f in lists.items()} == {
        10: (10, 8, 0.5),
        11: (2, 1, 0.25),
        12: (0, 0, 0.0),  # nothing dialled yet: 0 %, it has leads
    }


def test_given_agents_when_reported_by_agent_then_calls_nobody_took_are_apart() -> None:
    agents = by_agent(MORNING, FR)
    assert {k: (f.attempts, f.conversions, f.abandons) for k, f in agents.items()} == {
        100: (2, 1, 1),  # one success, one late pick-up (counted abandoned: the agent came after 2 s)
        101: (2, 1, 0),  # a success and a refusal
        None: (6, 0, 1),  # no answer, busy, failed, two machines, the drop
    }
    assert agents[101].conversion_rate == pytest.approx(1 / 2)
    assert agents[100].penetration is None  # an agent has no list to measure against


def test_given_a_report_wider_than_a_rule_set_period_can_hold_when_figures_are_taken_then_it_is_refused() -> (
    None
):
    rows = [att(R.BUSY), att(R.BUSY, lead=2, minutes=60 * 24 * 400)]
    with pytest.raises(ValueError, match="less than 366 days"):
        figures(rows, FR)
