"""Complaint SLA dates and the status machine (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.complaints import (
    SlaState,
    TransitionRefused,
    add_months,
    add_working_days,
    check_transition,
    deadlines,
    sla_state,
)
from core.models import ComplaintStatus as S

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("start", "days", "expected", "why"),
    [
        (date(2026, 11, 20), 10, date(2026, 12, 4), "Friday: two weekends skipped"),
        (date(2026, 4, 24), 10, date(2026, 5, 12), "1 May and 8 May 2026 are Fridays, both skipped"),
        (date(2026, 5, 8), 5, date(2026, 5, 18), "Ascension Thursday 14 May skipped"),
        (date(2026, 12, 18), 10, date(2027, 1, 5), "Christmas and New Year's Day skipped"),
        (date(2026, 7, 10), 1, date(2026, 7, 13), "Saturday-Sunday skipped"),
        (date(2026, 7, 13), 1, date(2026, 7, 15), "14 July skipped"),
    ],
)
def test_given_a_start_date_when_adding_working_days_then_weekends_and_french_holidays_are_skipped(
    start: date, days: int, expected: date, why: str
) -> None:
    assert add_working_days(start, days, "FR") == expected, why


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 12, 31), 2, date(2027, 2, 28)),
        (date(2027, 12, 31), 2, date(2028, 2, 29)),
        (date(2026, 11, 30), 2, date(2027, 1, 30)),
        (date(2026, 8, 31), 2, date(2026, 10, 31)),
        (date(2026, 1, 15), 2, date(2026, 3, 15)),
    ],
)
def test_given_a_date_when_adding_months_then_the_day_is_clamped_to_month_end(
    start: date, months: int, expected: date
) -> None:
    assert add_months(start, months) == expected


def test_given_a_complaint_received_late_evening_in_paris_when_dated_then_deadlines_use_the_local_day() -> (
    None
):
    received = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)  # already Saturday 21 Nov 00:30 in Paris
    d = deadlines(received, ack_working_days=10, answer_months=2)
    assert d.ack_due_at.astimezone(PARIS).date() == date(2026, 12, 4)
    assert d.answer_due_at.astimezone(PARIS).date() == date(2027, 1, 21)
    assert d.ack_due_at.astimezone(PARIS).time().hour == 23


NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("due_in", "answered_delta", "expected"),
    [
        (timedelta(days=10), None, SlaState.on_time),
        (timedelta(days=1), None, SlaState.due_soon),
        (timedelta(hours=-1), None, SlaState.late),
        (timedelta(days=1), timedelta(hours=-5), SlaState.met),
        (timedelta(days=-3), timedelta(days=-1), SlaState.missed),
    ],
)
def test_given_due_date_and_answer_when_sla_state_computed_then_expected(
    due_in: timedelta, answered_delta: timedelta | None, expected: SlaState
) -> None:
    answered = NOW + answered_delta if answered_delta is not None else None
    assert sla_state(NOW, NOW + due_in, answered, timedelta(days=2)) is expected


ALLOWED = [
    (S.open, S.in_progress),
    (S.open, S.resolved),
    (S.in_progress, S.resolved),
    (S.resolved, S.closed),
    (S.resolved, S.in_progress),
    (S.closed, S.in_progress),
]


@pytest.mark.parametrize(("current", "target"), [(a, b) for a in S for b in S])
def test_given_a_status_when_moving_to_another_then_only_the_defined_transitions_pass(
    current: S, target: S
) -> None:
    if (current, target) in ALLOWED:
        check_transition(current, target)
    else:
        with pytest.raises(TransitionRefused, match=f"cannot go from {current.value} to {target.value}"):
            check_transition(current, target)
