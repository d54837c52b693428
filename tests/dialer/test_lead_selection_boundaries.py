"""Lead selection at its exact instants and orders: due now or one second later, first or last attempt."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dialer.compliance import parse_rule_set
from dialer.leads import Callback, LeadStatus, select_leads
from dialer.leads_model import AttemptResult
from tests.dialer.helpers import PARIS, PARIS_2, at, attempt, lead

R = AttemptResult
OPEN = parse_rule_set(
    {
        "name": "open",
        "windows": {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    }
)
NOW = at("2026-07-15T11:00:00+02:00")
S = timedelta(seconds=1)


@pytest.mark.parametrize(("offset", "selected"), [(-S, True), (timedelta(0), True), (S, False)])
def test_given_a_retry_time_when_now_reaches_it_then_the_lead_is_dialled_from_that_instant(
    offset: timedelta, selected: bool
) -> None:
    leads = [lead(consent=True, not_before=NOW + offset)]
    assert bool(select_leads(leads, [], OPEN, NOW, 1)) is selected


@pytest.mark.parametrize(("offset", "selected"), [(timedelta(0), True), (S, False)])
def test_given_a_callback_when_its_time_comes_then_it_is_due_at_that_instant(
    offset: timedelta, selected: bool
) -> None:
    cb = lead(consent=True, status=LeadStatus.CALLBACK, callback=Callback(NOW + offset))
    got = select_leads([cb], [], OPEN, NOW, 1)
    assert [(s.source, s.for_agent) for s in got] == ([("callback", None)] if selected else [])


@pytest.mark.parametrize(
    ("overdue", "agents", "expected"),
    [
        (timedelta(minutes=30) - S, (), []),  # its agent is away: it waits
        (timedelta(minutes=30) - S, (7,), [("callback", 7)]),  # its agent is there: for them
        (timedelta(minutes=30) - S, (8,), []),  # another agent is not its agent
        (timedelta(minutes=30), (), [("callback", None)]),  # the fallback instant itself: anyone
        (timedelta(minutes=30), (7,), [("callback", None)]),
    ],
)
def test_given_an_agent_only_callback_when_overdue_then_anyone_takes_it_from_the_fallback_instant(
    overdue: timedelta, agents: tuple[int, ...], expected: list
) -> None:
    cb = lead(consent=True, status=LeadStatus.CALLBACK, callback=Callback(NOW - overdue, agent_id=7))
    got = select_leads([cb], [], OPEN, NOW, 1, available_agents=agents)
    assert [(s.source, s.for_agent) for s in got] == expected


def test_given_a_callback_on_a_lead_no_longer_in_callback_when_selected_then_it_is_a_standard_lead() -> None:
    stale = lead(
        consent=True, status=LeadStatus.RETRY, callback=Callback(NOW + timedelta(days=1), agent_id=7)
    )
    assert [(s.source, s.for_agent) for s in select_leads([stale], [], OPEN, NOW, 1)] == [("standard", None)]


def test_given_callbacks_and_leads_when_ordered_then_callbacks_by_due_then_priority_then_id() -> None:
    cb_late = lead(
        consent=True, lead_id=1, status=LeadStatus.CALLBACK, callback=Callback(NOW - S), priority=9
    )
    cb_early_low = lead(consent=True, lead_id=2, status=LeadStatus.CALLBACK, callback=Callback(NOW - 2 * S))
    cb_early_high = lead(
        consent=True, lead_id=3, status=LeadStatus.CALLBACK, callback=Callback(NOW - 2 * S), priority=1
    )
    plain_high = lead(consent=True, lead_id=4, priority=50)
    plain_tried = lead(consent=True, lead_id=5, attempts=2)
    plain_new_b = lead(consent=True, lead_id=7)
    plain_new_a = lead(consent=True, lead_id=6)
    every = [plain_new_b, plain_tried, cb_late, plain_high, cb_early_low, plain_new_a, cb_early_high]
    got = select_leads(every, [], OPEN, NOW, 7)
    assert [s.lead.id for s in got] == [3, 2, 1, 4, 6, 7, 5]
    assert [s.lead.id for s in select_leads(every, [], OPEN, NOW, 2)] == [3, 2], "exactly n, the first n"


@pytest.mark.parametrize("status", [LeadStatus.NEW, LeadStatus.RETRY, LeadStatus.CALLBACK])
def test_given_each_dialable_status_when_selected_then_the_lead_comes(status: LeadStatus) -> None:
    cb = Callback(NOW) if status is LeadStatus.CALLBACK else None
    assert len(select_leads([lead(consent=True, status=status, callback=cb)], [], OPEN, NOW, 1)) == 1


def test_given_a_callback_lead_without_a_callback_when_selected_then_it_is_a_standard_lead() -> None:
    got = select_leads([lead(consent=True, status=LeadStatus.CALLBACK)], [], OPEN, NOW, 1)
    assert [s.source for s in got] == ["standard"]


def test_given_two_numbers_tried_when_choosing_then_the_last_attempt_of_each_decides() -> None:
    # PARIS was tried first and last; PARIS_2 in between: PARIS_2's last try is older
    history = [
        attempt(R.NO_ANSWER, "2026-07-10T11:00:00+02:00", number=PARIS),
        attempt(R.NO_ANSWER, "2026-07-11T11:00:00+02:00", number=PARIS_2),
        attempt(R.NO_ANSWER, "2026-07-12T11:00:00+02:00", number=PARIS),
    ]
    for order in (history, list(reversed(history))):
        (got,) = select_leads([lead(PARIS, PARIS_2, consent=True)], order, OPEN, NOW, 1)
        assert got.number.e164 == PARIS_2


def test_given_another_leads_attempt_on_a_number_when_choosing_then_it_does_not_make_it_recent() -> None:
    history = [
        attempt(R.NO_ANSWER, "2026-07-10T11:00:00+02:00", number=PARIS_2),
        attempt(R.NO_ANSWER, "2026-07-12T11:00:00+02:00", number=PARIS, lead_id=2),
    ]
    (got,) = select_leads([lead(PARIS, PARIS_2, consent=True)], history, OPEN, NOW, 1)
    assert got.number.e164 == PARIS, "never tried by this lead: first"


def test_given_no_number_tried_when_choosing_then_the_leads_first_number() -> None:
    (got,) = select_leads([lead(PARIS_2, PARIS, consent=True)], [], OPEN, NOW, 1)
    assert got.number.e164 == PARIS_2


def test_given_a_drop_when_an_agent_is_guaranteed_then_the_lockout_does_not_hold_the_lead() -> None:
    rules = parse_rule_set({**OPEN.to_data(), "name": "lock", "drop_lockout_hours": 72})
    history = [attempt(R.DROPPED, "2026-07-15T10:00:00+02:00")]
    assert select_leads([lead(consent=True)], history, rules, NOW, 1) == []
    assert len(select_leads([lead(consent=True)], history, rules, NOW, 1, agent_guaranteed=True)) == 1
