"""The hopper's pure lead selection: what is dialled next, on which number, in what order."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dialer.compliance import builtin_rule_sets
from dialer.leads import Callback, LeadStatus, Selection, select_leads
from dialer.leads_model import AttemptResult
from tests.dialer.helpers import (
    CASABLANCA,
    LONDON,
    MARTINIQUE,
    NEW_YORK,
    PARIS,
    PARIS_2,
    REUNION,
    at,
    attempt,
    lead,
)

R = AttemptResult
FR = builtin_rule_sets()["FR-2023"]
US = builtin_rule_sets()["US-TCPA"]
UK = builtin_rule_sets()["UK-Ofcom"]
NOW = "2026-07-15T11:00:00+02:00"  # a Wednesday, inside the FR windows in Paris


def ids(selected: list[Selection]) -> list[int]:
    return [s.lead.id for s in selected]


# --- nothing to dial ---------------------------------------------------------------------------------

FOUR = [attempt(R.NO_ANSWER, f"2026-07-0{d}T11:00:00+02:00") for d in (1, 2, 3, 6)]


@pytest.mark.parametrize(
    ("rule_set", "leads", "history", "now"),
    [
        # outside the window: before opening, lunch break, after closing, weekend, holidays
        (FR, [lead(consent=True)], [], "2026-07-15T09:59:59+02:00"),
        (FR, [lead(consent=True)], [], "2026-07-15T13:00:00+02:00"),
        (FR, [lead(consent=True)], [], "2026-07-15T20:00:00+02:00"),
        (FR, [lead(consent=True)], [], "2026-07-18T11:00:00+02:00"),
        (FR, [lead(consent=True)], [], "2026-07-14T11:00:00+02:00"),
        (FR, [lead(consent=True)], [], "2026-05-01T11:00:00+02:00"),
        # three zones at one instant, none of them inside its own window (06:00Z):
        # Paris 08:00, Casablanca 07:00, Martinique 02:00
        (
            FR,
            [
                lead(PARIS, lead_id=1, consent=True),
                lead(CASABLANCA, lead_id=2, consent=True),
                lead(MARTINIQUE, lead_id=3, consent=True),
            ],
            [],
            "2026-07-15T06:00:00+00:00",
        ),
        (US, [lead(NEW_YORK)], [], "2026-07-15T21:00:00-04:00"),
        # spring-forward Sunday and the autumn Sunday: FR never calls on Sundays
        (FR, [lead(consent=True)], [], "2026-03-29T11:00:00+02:00"),
        (FR, [lead(consent=True)], [], "2026-10-25T02:30:00+01:00"),
        # US spring-forward Sunday 07:59:59 EDT (the night was an hour shorter)
        (US, [lead(NEW_YORK)], [], "2026-03-08T07:59:59-04:00"),
        # beyond the cap, inside the refusal cool-off, inside the drop lockout
        (FR, [lead(consent=True)], FOUR, NOW),
        (FR, [lead(consent=True)], [attempt(R.REFUSED, "2026-06-01T11:00:00+02:00", agent_after_s=1)], NOW),
        (UK, [lead(LONDON)], [attempt(R.DROPPED, "2026-07-14T12:00:00+01:00", number=LONDON)], NOW),
        # no consent after the French opt-in date
        (FR, [lead()], [], "2026-08-11T11:00:00+02:00"),
        # statuses that are never dialled, a lead without numbers, a retry not yet due
        (FR, [lead(consent=True, status=LeadStatus.DONE)], [], NOW),
        (FR, [lead(consent=True, status=LeadStatus.DO_NOT_CALL)], [], NOW),
        (FR, [lead(consent=True, not_before=at("2026-07-15T11:30:00+02:00"))], [], NOW),
    ],
)
def test_given_every_lead_blocked_when_selecting_then_zero_leads_are_selected(
    rule_set, leads, history, now: str
) -> None:
    assert select_leads(leads, history, rule_set, at(now), 10) == []


def test_given_leads_in_several_zones_when_selecting_then_only_those_inside_their_local_window_come() -> None:
    leads = [
        lead(PARIS, lead_id=1, consent=True),
        lead(CASABLANCA, lead_id=2, consent=True),
        lead(REUNION, lead_id=3, consent=True),
        lead(MARTINIQUE, lead_id=4, consent=True),
    ]
    # 06:30Z: Réunion 10:30 (open), Paris 08:30, Casablanca 07:30, Martinique 02:30
    assert ids(select_leads(leads, [], FR, at("2026-07-15T06:30:00+00:00"), 10)) == [3]
    # 09:30Z: Paris 11:30 and Casablanca 10:30 open, Réunion 13:30 at lunch, Martinique 05:30
    assert ids(select_leads(leads, [], FR, at("2026-07-15T09:30:00+00:00"), 10)) == [1, 2]
    # 19:00Z: Martinique 15:00 only
    assert ids(select_leads(leads, [], FR, at("2026-07-15T19:00:00+00:00"), 10)) == [4]


# --- ordering --------------------------------------------------------------------------------------------


def test_given_priorities_and_attempts_when_selecting_then_priority_then_fewer_attempts_then_id() -> None:
    leads = [
        lead(lead_id=1, priority=0, attempts=0, consent=True),
        lead(lead_id=2, priority=5, attempts=2, consent=True),
        lead(lead_id=3, priority=5, attempts=1, consent=True),
        lead(lead_id=4, priority=0, attempts=0, consent=True),
        lead(lead_id=5, priority=-1, attempts=0, consent=True),
    ]
    assert ids(select_leads(leads, [], FR, at(NOW), 10)) == [3, 2, 1, 4, 5]
    assert ids(select_leads(leads, [], FR, at(NOW), 2)) == [3, 2]


CALLBACK_AT = at("2026-07-15T10:30:00+02:00")


@pytest.mark.parametrize(
    ("callback", "agents", "now", "selected", "for_agent"),
    [
        # a due callback for anyone comes before a higher-priority lead
        (Callback(CALLBACK_AT), (), NOW, [2, 1], None),
        # not yet due: waits
        (Callback(at("2026-07-15T11:30:00+02:00")), (), NOW, [1], None),
        # agent-only: only while that agent is available, routed to them
        (Callback(CALLBACK_AT, agent_id=7), (7, 8), "2026-07-15T10:45:00+02:00", [2, 1], 7),
        (Callback(CALLBACK_AT, agent_id=7), (8,), "2026-07-15T10:45:00+02:00", [1], None),
        # missed for 30 minutes (the default delay): falls back to anyone
        (Callback(CALLBACK_AT, agent_id=7), (8,), "2026-07-15T10:59:59+02:00", [1], None),
        (Callback(CALLBACK_AT, agent_id=7), (8,), "2026-07-15T11:00:00+02:00", [2, 1], None),
        # a due callback still obeys the calling window (the customer's lunch break)
        (Callback(at("2026-07-15T12:45:00+02:00")), (), "2026-07-15T13:10:00+02:00", [], None),
    ],
)
def test_given_a_callback_when_selecting_then_due_callbacks_come_first_and_agent_only_ones_wait(
    callback: Callback, agents, now: str, selected: list[int], for_agent: int | None
) -> None:
    leads = [
        lead(lead_id=1, priority=9, consent=True),
        lead(lead_id=2, priority=0, attempts=3, status=LeadStatus.CALLBACK, callback=callback, consent=True),
    ]
    result = select_leads(leads, [], FR, at(now), 10, available_agents=agents)
    assert ids(result) == selected
    callbacks = [s for s in result if s.lead.id == 2]
    assert all(s.source == "callback" and s.for_agent == for_agent for s in callbacks)


def test_given_several_due_callbacks_when_selecting_then_the_oldest_due_comes_first() -> None:
    leads = [
        lead(
            lead_id=1,
            status=LeadStatus.CALLBACK,
            callback=Callback(at("2026-07-15T10:50:00+02:00")),
            consent=True,
        ),
        lead(
            lead_id=2,
            status=LeadStatus.CALLBACK,
            callback=Callback(at("2026-07-15T10:20:00+02:00")),
            consent=True,
        ),
    ]
    assert ids(select_leads(leads, [], FR, at(NOW), 10)) == [2, 1]


def test_given_a_custom_fallback_delay_when_an_agent_callback_is_missed_then_it_is_used() -> None:
    leads = [
        lead(lead_id=2, status=LeadStatus.CALLBACK, callback=Callback(CALLBACK_AT, agent_id=7), consent=True)
    ]
    later = at("2026-07-15T10:36:00+02:00")
    assert select_leads(leads, [], FR, later, 5, callback_fallback=timedelta(minutes=10)) == []
    assert ids(select_leads(leads, [], FR, later, 5, callback_fallback=timedelta(minutes=5))) == [2]


# --- which number ------------------------------------------------------------------------------------


def test_given_two_numbers_when_one_is_wrong_then_the_other_is_dialled() -> None:
    leads = [lead(PARIS, PARIS_2, consent=True)]
    history = [attempt(R.WRONG_NUMBER, "2026-07-13T11:00:00+02:00", agent_after_s=1)]
    [selection] = select_leads(leads, history, FR, at(NOW), 1)
    assert selection.number.e164 == PARIS_2


def test_given_two_numbers_when_both_are_allowed_then_the_least_recently_tried_is_dialled() -> None:
    leads = [lead(PARIS, PARIS_2, consent=True)]
    history = [
        attempt(R.NO_ANSWER, "2026-07-10T11:00:00+02:00", number=PARIS_2),
        attempt(R.NO_ANSWER, "2026-07-13T11:00:00+02:00", number=PARIS),
    ]
    assert [s.number.e164 for s in select_leads(leads, history, FR, at(NOW), 1)] == [PARIS_2]
    assert [s.number.e164 for s in select_leads(leads, [], FR, at(NOW), 1)] == [PARIS]


def test_given_another_leads_drop_on_the_same_number_when_selecting_then_the_lockout_applies() -> None:
    history = [attempt(R.DROPPED, "2026-07-14T12:00:00+01:00", number=LONDON, lead_id=42)]
    assert select_leads([lead(LONDON)], history, UK, at(NOW), 1) == []
    assert ids(select_leads([lead(LONDON)], history, UK, at(NOW), 1, agent_guaranteed=True)) == [1]


def test_given_n_zero_or_naive_now_when_selecting_then_nothing_or_a_clear_error() -> None:
    assert select_leads([lead(consent=True)], [], FR, at(NOW), 0) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        select_leads([lead(consent=True)], [], FR, at(NOW).replace(tzinfo=None), 1)


# --- DST weekends: the window follows the lead's wall clock, on both sides of the switch ---------------


@pytest.mark.parametrize(
    ("rule_set", "number", "instant", "selected"),
    [
        # New York, spring forward (Sun 8 Mar 2026): 08:00 EDT is 12:00Z, an hour earlier in UTC than Saturday
        (US, NEW_YORK, "2026-03-07T12:59:59+00:00", False),  # Sat 07:59:59 EST
        (US, NEW_YORK, "2026-03-07T13:00:00+00:00", True),  # Sat 08:00 EST
        (US, NEW_YORK, "2026-03-08T11:59:59+00:00", False),  # Sun 07:59:59 EDT
        (US, NEW_YORK, "2026-03-08T12:00:00+00:00", True),  # Sun 08:00 EDT
        (US, NEW_YORK, "2026-03-09T00:59:59+00:00", True),  # Sun 20:59:59 EDT
        (US, NEW_YORK, "2026-03-09T01:00:00+00:00", False),  # Sun 21:00 EDT
        # London, clocks go forward (Sun 29 Mar 2026) and back (Sun 25 Oct 2026)
        (UK, LONDON, "2026-03-29T06:59:59+00:00", False),  # 07:59:59 BST
        (UK, LONDON, "2026-03-29T07:00:00+00:00", True),  # 08:00 BST
        (UK, LONDON, "2026-10-25T07:59:59+00:00", False),  # 07:59:59 GMT
        (UK, LONDON, "2026-10-25T08:00:00+00:00", True),  # 08:00 GMT
        # Paris, the Monday after each switch (no calls at weekends under FR-2023)
        (FR, PARIS, "2026-03-30T07:59:59+00:00", False),  # 09:59:59 CEST
        (FR, PARIS, "2026-03-30T08:00:00+00:00", True),  # 10:00 CEST
        (FR, PARIS, "2026-10-26T08:59:59+00:00", False),  # 09:59:59 CET
        (FR, PARIS, "2026-10-26T09:00:00+00:00", True),  # 10:00 CET
    ],
)
def test_given_a_dst_weekend_when_selecting_at_the_window_edges_then_local_wall_time_decides(
    rule_set, number: str, instant: str, selected: bool
) -> None:
    chosen = select_leads([lead(number, consent=True)], [], rule_set, at(instant), 1)
    assert bool(chosen) is selected


@pytest.mark.parametrize(
    ("number", "now"),
    [
        (PARIS, "2026-07-15T11:00:00+02:00"),
        (CASABLANCA, "2026-07-15T11:00:00+01:00"),
        (REUNION, "2026-07-15T11:00:00+04:00"),
        (MARTINIQUE, "2026-07-15T11:00:00-04:00"),
    ],
)
def test_given_leads_in_four_zones_inside_their_window_when_capped_or_cooling_off_then_none_is_selected(
    number: str, now: str
) -> None:
    open_lead = lead(number, consent=True)
    assert ids(select_leads([open_lead], [], FR, at(now), 1)) == [1]  # the window is open there…
    four = [attempt(R.NO_ANSWER, f"2026-07-0{d}T12:00:00+00:00", number=number) for d in (1, 2, 3, 6)]
    assert select_leads([open_lead], four, FR, at(now), 1) == []  # …but the 30-day cap is reached
    refused = [attempt(R.REFUSED, "2026-06-01T12:00:00+00:00", number=number, agent_after_s=1)]
    assert select_leads([open_lead], refused, FR, at(now), 1) == []  # …or the 60-day cool-off runs
