"""Complaints (réclamations, ACPR 2022-R-01): the status machine and SLA dates. Pure: no I/O, no clock."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from core.errors import Conflict
from core.models import ComplaintStatus as S


class SlaState(StrEnum):
    on_time = "on_time"
    due_soon = "due_soon"
    late = "late"
    met = "met"  # answered before the answer deadline
    missed = "missed"  # answered, but after it


# Allowed transitions; reopening a resolved or closed complaint puts it back in progress.
TRANSITIONS: dict[S, frozenset[S]] = {
    S.open: frozenset({S.in_progress, S.resolved}),
    S.in_progress: frozenset({S.resolved}),
    S.resolved: frozenset({S.closed, S.in_progress}),
    S.closed: frozenset({S.in_progress}),
}


class TransitionRefused(Conflict, ValueError):
    """The status machine refuses this move (a 409 at the API, mapped once by app/errors.py)."""

    code = "complaint_transition_refused"


def check_transition(current: S, target: S) -> None:
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(t.value for t in TRANSITIONS[current])) or "none"
        raise TransitionRefused(f"cannot go from {current.value} to {target.value} (allowed: {allowed})")


def is_reopen(current: S, target: S) -> bool:
    return current in (S.resolved, S.closed) and target is S.in_progress


@lru_cache(maxsize=8)
def _holidays(country: str) -> holidays.HolidayBase:
    return holidays.country_holidays(country)


def add_working_days(start: date, days: int, country: str = "FR") -> date:
    """`days` working days after `start` (weekends and the country's public holidays skipped)."""
    cal, d, left = _holidays(country), start, days
    while left > 0:
        d += timedelta(days=1)
        if d.weekday() < 5 and d not in cal:
            left -= 1
    return d


def add_months(d: date, months: int) -> date:
    """Same day `months` later, clamped to the month's end (31 Dec + 2 months = 28/29 Feb)."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True, slots=True)
class Deadlines:
    ack_due_at: datetime
    answer_due_at: datetime


def deadlines(
    received_at: datetime,
    *,
    ack_working_days: int,
    answer_months: int,
    zone: str = "Europe/Paris",
    country: str = "FR",
) -> Deadlines:
    """Deadlines fall at the end of the local day they land on, returned in the input's zone."""
    tz = ZoneInfo(zone)
    local = received_at.astimezone(tz)
    ack_day = add_working_days(local.date(), ack_working_days, country)
    answer_day = add_months(local.date(), answer_months)

    def end_of(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=tz).astimezone(received_at.tzinfo)

    return Deadlines(end_of(ack_day), end_of(answer_day))


def sla_state(
    now: datetime,
    answer_due_at: datetime,
    answered_at: datetime | None,
    due_soon: timedelta = timedelta(days=2),
) -> SlaState:
    if answered_at is not None:
        return SlaState.met if answered_at <= answer_due_at else SlaState.missed
    if now > answer_due_at:
        return SlaState.late
    if now > answer_due_at - due_soon:
        return SlaState.due_soon
    return SlaState.on_time
