"""Complaint deadlines and SLA states at their exact instants: the instant, one second before and after."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.complaints import (
    SlaState,
    TransitionRefused,
    add_working_days,
    check_transition,
    deadlines,
    is_reopen,
    sla_state,
)
from core.models import ComplaintStatus as S

PARIS = ZoneInfo("Europe/Paris")
DUE = datetime(2027, 1, 21, 22, 59, 59, tzinfo=UTC)
SECOND = timedelta(seconds=1)
SOON = timedelta(days=2)


@pytest.mark.parametrize(
    ("received", "ack_days", "answer_months", "ack", "answer"),
    [
        # Friday 20 Nov 2026 23:30 UTC is Saturday 00:30 in Paris: the local day counts.
        (
            datetime(2026, 11, 20, 23, 30, tzinfo=UTC),
            10,
            2,
            datetime(2026, 12, 4, 23, 59, 59, tzinfo=PARIS),
            datetime(2027, 1, 21, 23, 59, 59, tzinfo=PARIS),
        ),
        # Summer time: the end of the local day is 21:59:59 UTC.
        (
            datetime(2026, 7, 1, 9, 0, tzinfo=UTC),
            2,
            1,
            datetime(2026, 7, 3, 23, 59, 59, tzinfo=PARIS),
            datetime(2026, 8, 1, 23, 59, 59, tzinfo=PARIS),
        ),
    ],
)
def test_given_a_received_instant_when_dated_then_each_deadline_is_the_last_second_of_its_local_day(
    received: datetime, ack_days: int, answer_months: int, ack: datetime, answer: datetime
) -> None:
    d = deadlines(received, ack_working_days=ack_days, answer_months=answer_months)
    assert d.ack_due_at == ack
    assert d.answer_due_at == answer
    assert d.ack_due_at.tzinfo is UTC, "returned in the input's zone"
    assert d.answer_due_at.tzinfo is UTC


def test_given_zero_working_days_when_dated_then_the_acknowledgement_is_due_the_same_local_day() -> None:
    d = deadlines(datetime(2026, 11, 18, 8, tzinfo=UTC), ack_working_days=0, answer_months=0)
    assert d.ack_due_at.astimezone(PARIS) == datetime(2026, 11, 18, 23, 59, 59, tzinfo=PARIS)
    assert d.answer_due_at == d.ack_due_at


def test_given_another_zone_and_country_when_dated_then_both_are_used() -> None:
    # 1 May is a holiday in the United Kingdom only on the first Monday; 4 May 2026 is that Monday.
    d = deadlines(
        datetime(2026, 5, 1, 12, tzinfo=UTC),
        ack_working_days=1,
        answer_months=1,
        zone="Europe/London",
        country="GB",
    )
    london = ZoneInfo("Europe/London")
    assert d.ack_due_at.astimezone(london) == datetime(2026, 5, 5, 23, 59, 59, tzinfo=london)
    assert d.answer_due_at.astimezone(london) == datetime(2026, 6, 1, 23, 59, 59, tzinfo=london)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (DUE - SOON - SECOND, SlaState.on_time),
        (DUE - SOON, SlaState.on_time),
        (DUE - SOON + SECOND, SlaState.due_soon),
        (DUE - SECOND, SlaState.due_soon),
        (DUE, SlaState.due_soon),
        (DUE + SECOND, SlaState.late),
    ],
)
def test_given_an_unanswered_complaint_when_now_is_around_the_due_instant_then_the_state_changes_after_it(
    now: datetime, expected: SlaState
) -> None:
    assert sla_state(now, DUE, None, SOON) is expected


def test_given_the_default_warning_when_two_days_or_less_remain_then_it_is_due_soon() -> None:
    assert sla_state(DUE - SOON, DUE, None) is SlaState.on_time
    assert sla_state(DUE - SOON + SECOND, DUE, None) is SlaState.due_soon


@pytest.mark.parametrize(
    ("answered", "expected"),
    [(DUE - SECOND, SlaState.met), (DUE, SlaState.met), (DUE + SECOND, SlaState.missed)],
)
def test_given_an_answer_around_the_due_instant_when_sla_state_computed_then_met_up_to_the_instant_itself(
    answered: datetime, expected: SlaState
) -> None:
    # Whatever now is: the answer decides.
    assert sla_state(DUE + timedelta(days=30), DUE, answered, SOON) is expected
    assert sla_state(DUE - timedelta(days=30), DUE, answered, SOON) is expected


@pytest.mark.parametrize(
    ("current", "target", "reopen"),
    [
        (S.resolved, S.in_progress, True),
        (S.closed, S.in_progress, True),
        (S.open, S.in_progress, False),
        (S.in_progress, S.in_progress, False),
        (S.resolved, S.closed, False),
        (S.closed, S.resolved, False),
    ],
)
def test_given_a_transition_when_asked_if_it_reopens_then_only_back_to_progress_from_resolved_or_closed(
    current: S, target: S, reopen: bool
) -> None:
    assert is_reopen(current, target) is reopen


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        (S.open, S.closed, "cannot go from open to closed (allowed: in_progress, resolved)"),
        (S.in_progress, S.open, "cannot go from in_progress to open (allowed: resolved)"),
        (S.resolved, S.open, "cannot go from resolved to open (allowed: closed, in_progress)"),
        (S.closed, S.resolved, "cannot go from closed to resolved (allowed: in_progress)"),
    ],
)
def test_given_a_refused_transition_when_checked_then_the_error_names_the_allowed_targets_in_order(
    current: S, target: S, message: str
) -> None:
    with pytest.raises(TransitionRefused) as refused:
        check_transition(current, target)
    assert str(refused.value) == message


def test_given_no_country_when_adding_working_days_then_french_holidays_are_skipped() -> None:
    assert add_working_days(date(2026, 7, 13), 1) == date(2026, 7, 15), "14 July skipped"
