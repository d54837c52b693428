"""Customer-care report: calls, complaints and customers from the database; every figure from
app/care_ratios.py, so the reports page, the API, the CSV and the wallboard cannot disagree.

Rows per period (day, week, month; local, in the centre's zone) and per dimension: `total`, `queue`,
`team` (the agent's), `campaign`, `reason` (complaints by reason over every contact handled). A complaint
is attributed to the queue, agent and campaign of the call it was opened from (none: the "—" row).
The loss and retention rates are the whole centre's: only on `total` rows.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import care_ratios as cr
from core.models import Account, Call, CallDirection, Complaint, Contact, User

NONE_KEY = "—"


class By(StrEnum):
    total = "total"
    queue = "queue"
    team = "team"
    campaign = "campaign"
    reason = "reason"


@dataclass(frozen=True, slots=True)
class Handled:
    """A contact handled: an inbound call answered or an outbound call connected to an agent."""

    at: datetime
    customer: Hashable | None
    queue: str | None = None
    agent_id: int | None = None
    campaign_id: int | None = None


@dataclass(frozen=True, slots=True)
class Opened:
    fact: cr.ComplaintFact
    reason_id: int | None = None
    queue: str | None = None
    agent_id: int | None = None
    campaign_id: int | None = None
    category: str | None = None  # the free text of a complaint opened without a reason


@dataclass(frozen=True, slots=True)
class CareRow:
    period_start: datetime
    key: str
    contacts_handled: int
    complaints: int
    complaint_rate: float | None
    complaints_per_1000: float | None
    ack_within_deadline: float | None
    answer_within_deadline: float | None
    median_resolve_s: float | None
    fcr: float | None
    repeat_rate: float | None
    lost: int | None = None
    customers_at_start: int | None = None
    loss_rate: float | None = None
    retention_rate: float | None = None


def customer_key(account_id: int | None, contact_id: int | None, number: str | None) -> Hashable | None:
    """The customer a contact is about: the account, else the contact, else the number; None: unknown."""
    if account_id is not None:
        return ("account", account_id)
    if contact_id is not None:
        return ("contact", contact_id)
    return ("number", number) if number else None


def _dim(
    by: By, queue: str | None, agent_id: int | None, campaign_id: int | None, teams: dict[int, Any]
) -> str:
    if by is By.queue:
        value: Any = queue
    elif by is By.team:
        value = teams.get(agent_id) if agent_id is not None else None
    elif by is By.campaign:
        value = campaign_id
    else:
        value = "total"
    return NONE_KEY if value is None else str(value)


def care_rows(
    handled: list[Handled],
    opened: list[Opened],
    by: By,
    period: cr.Period,
    zone: str,
    since: datetime,
    until: datetime,
    now: datetime,
    window: timedelta = cr.FCR_WINDOW,
    teams: dict[int, Any] | None = None,
) -> list[CareRow]:
    """Pure: rows for [since, until) grouped by period and `by`. `handled` may reach a window beyond the
    period on both sides (FCR looks for other contacts there); only those inside are counted."""
    teams = teams or {}
    facts = [cr.ContactFact(h.at, h.customer) for h in handled]
    outcomes = cr.contact_outcomes(facts, now, window)
    contacts: dict[tuple[datetime, str], list[Any]] = {}
    totals: dict[datetime, int] = {}
    for h, o in zip(handled, outcomes, strict=True):
        if not since <= h.at < until:
            continue
        start = cr.period_start(h.at, period, zone)
        totals[start] = totals.get(start, 0) + 1
        if by is not By.reason:
            key = _dim(by, h.queue, h.agent_id, h.campaign_id, teams)
            contacts.setdefault((start, key), []).append(o)
    complaints: dict[tuple[datetime, str], list[cr.ComplaintFact]] = {}
    for c in opened:
        if not since <= c.fact.received_at < until:
            continue
        start = cr.period_start(c.fact.received_at, period, zone)
        if by is By.reason:  # a reason's id; the free text of a complaint opened without one
            key = str(c.reason_id) if c.reason_id is not None else (c.category or NONE_KEY)
        else:
            key = _dim(by, c.queue, c.agent_id, c.campaign_id, teams)
        complaints.setdefault((start, key), []).append(c.fact)
    keys = set(complaints) | (set(contacts) if by is not By.reason else set())
    if by is By.total:
        keys |= {(start, "total") for start in totals}
    rows = []
    for start, key in sorted(keys, key=lambda k: (k[0], k[1])):
        outs = contacts.get((start, key), [])
        n = totals.get(start, 0) if by is By.reason else len(outs)
        cs = complaints.get((start, key), [])
        res = cr.resolution(outs)
        rate = cr.complaint_rate(len(cs), n)
        rows.append(
            CareRow(
                period_start=start,
                key=key,
                contacts_handled=n,
                complaints=len(cs),
                complaint_rate=rate,
                complaints_per_1000=cr.per_thousand(rate),
                ack_within_deadline=cr.ack_within_deadline(cs, now),
                answer_within_deadline=cr.answer_within_deadline(cs, now),
                median_resolve_s=cr.median_resolve_s(cs),
                fcr=None if by is By.reason else res.fcr,
                repeat_rate=None if by is By.reason else res.repeat_rate,
            )
        )
    return rows


_STEP = {
    cr.Period.day: timedelta(hours=26),  # into the next local day, whatever DST does
    cr.Period.week: timedelta(days=7, hours=2),
    cr.Period.month: timedelta(days=32),
}


def period_starts(since: datetime, until: datetime, period: cr.Period, zone: str) -> list[datetime]:
    """Every period start from the one holding `since` to the one holding the last instant before `until`."""
    out = [cr.period_start(since, period, zone)]
    while (nxt := cr.period_start(out[-1] + _STEP[period], period, zone)) < until:
        out.append(nxt)
    return out


# --- database edge ----------------------------------------------------------------------------------------
# A contact handled: an inbound call answered, or an outbound call connected to an agent.
HANDLED = and_(
    Call.answered_at.is_not(None),
    or_(
        Call.direction == CallDirection.inbound,
        and_(Call.direction == CallDirection.outbound, Call.agent_id.is_not(None)),
    ),
)


async def handled_contacts(db: AsyncSession, since: datetime, until: datetime) -> list[Handled]:
    stmt = (
        select(
            Call.offered_at,
            Call.direction,
            Call.queue,
            Call.agent_id,
            Call.campaign_id,
            Call.contact_id,
            Contact.account_id,
            Call.caller_number,
            Call.called_number,
        )
        .outerjoin(Contact, Contact.id == Call.contact_id)
        .where(Call.offered_at >= since, Call.offered_at < until, HANDLED)
        .order_by(Call.offered_at, Call.id)
    )
    out = []
    for (
        at,
        direction,
        queue,
        agent_id,
        campaign_id,
        contact_id,
        account_id,
        caller,
        called,
    ) in await db.execute(stmt):
        number = caller if direction == CallDirection.inbound else called
        out.append(Handled(at, customer_key(account_id, contact_id, number), queue, agent_id, campaign_id))
    return out


async def opened_complaints(db: AsyncSession, since: datetime, until: datetime) -> list[Opened]:
    stmt = (
        select(Complaint, Call.queue, Call.agent_id, Call.campaign_id)
        .outerjoin(Call, Call.id == Complaint.call_id)
        .where(Complaint.received_at >= since, Complaint.received_at < until)
    )
    return [
        Opened(
            cr.ComplaintFact(c.received_at, c.ack_due_at, c.answer_due_at, c.acknowledged_at, c.resolved_at),
            c.reason_id,
            queue,
            agent_id,
            campaign_id,
            c.category,
        )
        for c, queue, agent_id, campaign_id in await db.execute(stmt)
    ]


async def customers_lost(db: AsyncSession, start: datetime, end: datetime) -> tuple[int, int]:
    """(customers lost in [start, end), customers at `start`): accounts, and contacts without one."""
    lost = at_start = 0
    for model, only in ((Account, None), (Contact, Contact.account_id.is_(None))):
        base = [only] if only is not None else []
        lost += (
            await db.scalar(
                select(func.count())
                .select_from(model)
                .where(*base, model.care_status == "lost", model.lost_at >= start, model.lost_at < end)
            )
            or 0
        )
        at_start += (
            await db.scalar(
                select(func.count())
                .select_from(model)
                .where(
                    *base,
                    model.created_at < start,
                    or_(model.care_status != "lost", model.lost_at.is_(None), model.lost_at >= start),
                )
            )
            or 0
        )
    return lost, at_start


async def care_report(
    db: AsyncSession,
    since: datetime,
    until: datetime,
    by: By,
    period: cr.Period,
    zone: str,
    now: datetime,
    window: timedelta = cr.FCR_WINDOW,
) -> list[CareRow]:
    handled = await handled_contacts(db, since - window, until + window)
    opened = await opened_complaints(db, since, until)
    teams: dict[int, Any] = {}
    if by is By.team:
        teams = dict((await db.execute(select(User.id, User.team_id))).all())
    rows = care_rows(handled, opened, by, period, zone, since, until, now, window, teams)
    if by is not By.total:
        return rows
    starts = period_starts(since, until, period, zone)
    by_start = {r.period_start: r for r in rows}
    out = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else until
        lost, at_start = await customers_lost(db, max(start, since), end)
        loss = cr.loss_rate(lost, at_start)
        row = by_start.get(start) or CareRow(start, "total", 0, 0, None, None, None, None, None, None, None)
        out.append(
            CareRow(
                **{
                    **{f: getattr(row, f) for f in CareRow.__dataclass_fields__},
                    "lost": lost,
                    "customers_at_start": at_start,
                    "loss_rate": loss,
                    "retention_rate": cr.retention_rate(loss),
                }
            )
        )
    return out
