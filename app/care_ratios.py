"""Customer-care ratios. Pure: facts in, numbers out; no database, no clock (callers pass `now`).

  complaint rate        complaints opened / contacts handled (inbound answered + outbound connected);
                        also per 1,000 contacts
  loss rate             customers lost in the period / customers at its start ("taux de perte");
                        retention rate = 1 − loss rate
  deadline shares       complaints acknowledged (answered) within their deadline / complaints whose
                        deadline has passed or that were acknowledged (answered) — a complaint still within
                        its deadline and not yet handled is neither met nor missed
  median time to resolve, over the complaints resolved
  first-contact resolution (FCR)   contacts with no other contact by the same customer within the window
                        (7 days by default) after them / contacts whose window is over
  repeat-call rate      contacts preceded by another contact by the same customer within the window /
                        contacts (the customer's first contact in the data is not a repeat)
Contacts without a customer key (withheld number, nobody matched) count in neither FCR nor repeat rate.
A ratio with nothing to divide by is None (shown "—"), never 0 % or 100 %.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

FCR_WINDOW = timedelta(days=7)


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def complaint_rate(complaints_opened: int, contacts_handled: int) -> float | None:
    return _ratio(complaints_opened, contacts_handled)


def per_thousand(rate: float | None) -> float | None:
    return None if rate is None else rate * 1000


def loss_rate(lost_in_period: int, customers_at_start: int) -> float | None:
    return _ratio(lost_in_period, customers_at_start)


def retention_rate(loss: float | None) -> float | None:
    return None if loss is None else 1 - loss


@dataclass(frozen=True, slots=True)
class ComplaintFact:
    received_at: datetime
    ack_due_at: datetime
    answer_due_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None


def _within(done: datetime | None, due: datetime, now: datetime) -> bool | None:
    """True met, False missed, None not decided yet (not done and still within the deadline)."""
    if done is not None:
        return done <= due
    return False if now > due else None


def _share(outcomes: Iterable[bool | None]) -> float | None:
    decided = [o for o in outcomes if o is not None]
    return _ratio(sum(decided), len(decided))


def ack_within_deadline(complaints: Iterable[ComplaintFact], now: datetime) -> float | None:
    return _share(_within(c.acknowledged_at, c.ack_due_at, now) for c in complaints)


def answer_within_deadline(complaints: Iterable[ComplaintFact], now: datetime) -> float | None:
    return _share(_within(c.resolved_at, c.answer_due_at, now) for c in complaints)


def median_resolve_s(complaints: Iterable[ComplaintFact]) -> float | None:
    times = [(c.resolved_at - c.received_at).total_seconds() for c in complaints if c.resolved_at]
    return statistics.median(times) if times else None


@dataclass(frozen=True, slots=True)
class ContactFact:
    at: datetime
    customer: Hashable | None  # account, else contact, else the caller's number; None: unknown


@dataclass(frozen=True, slots=True)
class Resolution:
    fcr: float | None
    repeat_rate: float | None
    resolved_first: int  # contacts whose window is over with no other contact in it
    judged: int  # contacts whose window is over
    repeats: int
    known: int  # contacts with a customer key


def contact_outcomes(
    contacts: Sequence[ContactFact], now: datetime, window: timedelta = FCR_WINDOW
) -> list[tuple[bool | None, bool] | None]:
    """Per contact, in the order given: (resolved at first contact — None while its window runs —, is a
    repeat of an earlier contact within the window); None for a contact without a customer key."""
    if window <= timedelta(0):
        raise ValueError("the FCR window must be positive")
    by_customer: dict[Hashable, list[tuple[datetime, int]]] = defaultdict(list)
    for i, c in enumerate(contacts):
        if c.customer is not None:
            by_customer[c.customer].append((c.at, i))
    out: list[tuple[bool | None, bool] | None] = [None] * len(contacts)
    for times in by_customer.values():
        times.sort()
        for j, (at, i) in enumerate(times):
            repeat = j > 0 and at - times[j - 1][0] <= window
            followed = j + 1 < len(times) and times[j + 1][0] - at <= window
            resolved = False if followed else (True if at + window <= now else None)
            out[i] = (resolved, repeat)
    return out


def resolution(outcomes: Iterable[tuple[bool | None, bool] | None]) -> Resolution:
    resolved = judged = repeats = known = 0
    for o in outcomes:
        if o is None:
            continue
        known += 1
        repeats += o[1]
        if o[0] is not None:
            judged += 1
            resolved += o[0]
    return Resolution(_ratio(resolved, judged), _ratio(repeats, known), resolved, judged, repeats, known)


def first_contact_resolution(
    contacts: Iterable[ContactFact],
    now: datetime,
    window: timedelta = FCR_WINDOW,
    judged_in: tuple[datetime, datetime] | None = None,
) -> Resolution:
    """`judged_in` [since, until): only those contacts are judged; the others (loaded a window before and
    after) only tell whether they were repeats or were called back about."""
    facts = list(contacts)
    outcomes = contact_outcomes(facts, now, window)
    if judged_in is None:
        return resolution(outcomes)
    since, until = judged_in
    return resolution(o for c, o in zip(facts, outcomes, strict=True) if since <= c.at < until)


class Period(StrEnum):
    day = "day"
    week = "week"  # Monday to Sunday
    month = "month"


def period_start(t: datetime, period: Period | str, zone: str) -> datetime:
    """The local start (midnight in `zone`) of the day, week or month holding `t`, in `t`'s time zone."""
    p = Period(period)
    local = t.astimezone(ZoneInfo(zone)).date()
    if p is Period.week:
        local = local - timedelta(days=local.weekday())
    elif p is Period.month:
        local = local.replace(day=1)
    return datetime(local.year, local.month, local.day, tzinfo=ZoneInfo(zone)).astimezone(t.tzinfo)
