"""Between the outbound tables and the pure core: rows in, frozen `dialer.leads_model` records out.

The dialer engine loads a campaign's candidate leads and the attempt history that matters for them,
hands both to `dialer.leads.select_leads`, and records each dial's outcome with `record_attempt`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.dialer_tables import (
    Callback,
    CallbackStatus,
    CustomRuleSet,
    DncEntry,
    DncKind,
    DncList,
    ImportJob,
    ImportStatus,
    Lead,
    LeadAttempt,
    LeadNumber,
)
from dialer import leads_model as m
from dialer.compliance import RuleSet, builtin_rule_sets, parse_rule_set

DIALABLE = tuple(s.value for s in m.DIALABLE_STATUSES)
DNC_CHUNK = 500


def imported() -> ColumnElement[bool]:
    """Leads whose import is done: a running, failed or interrupted import's leads are neither dialled nor
    counted (an import on SQLite commits batch by batch; its job's state makes it all-or-nothing)."""
    return or_(
        Lead.import_job_id.is_(None),
        Lead.import_job_id.in_(select(ImportJob.id).where(ImportJob.status == ImportStatus.done)),
    )


async def load_leads(
    session: AsyncSession,
    list_ids: Iterable[int],
    *,
    limit: int = 5000,
    statuses: Iterable[str] = DIALABLE,
) -> list[m.Lead]:
    """Dialable leads of the lists (up to `limit`, by priority then fewest attempts) as core records."""
    rows = list(
        await session.scalars(
            select(Lead)
            .where(Lead.list_id.in_(list(list_ids)), Lead.status.in_(list(statuses)), imported())
            .order_by(Lead.priority.desc(), Lead.attempts, Lead.id)
            .limit(limit)
        )
    )
    return await _records(session, rows)


async def load_lead(session: AsyncSession, lead_id: int) -> m.Lead | None:
    """One lead as a core record, whatever its status (the caller checks it is dialable)."""
    row = await session.get(Lead, lead_id)
    return None if row is None else (await _records(session, [row]))[0]


async def _records(session: AsyncSession, rows: list[Lead]) -> list[m.Lead]:
    """Lead rows with their numbers and earliest pending callback, as frozen core records."""
    if not rows:
        return []
    ids = [r.id for r in rows]
    numbers: dict[int, list[m.LeadNumber]] = defaultdict(list)
    for n in await session.scalars(
        select(LeadNumber)
        .where(LeadNumber.lead_id.in_(ids))
        .order_by(LeadNumber.lead_id, LeadNumber.position)
    ):
        numbers[n.lead_id].append(m.LeadNumber(n.e164, tuple(n.tz.split(",")), n.country))
    callbacks: dict[int, m.Callback] = {}
    for cb in await session.scalars(
        select(Callback)
        .where(Callback.lead_id.in_(ids), Callback.status == CallbackStatus.pending)
        .order_by(Callback.due_at.desc())
    ):
        callbacks[cb.lead_id] = m.Callback(cb.due_at, cb.agent_id)  # the earliest wins (ordered last)
    return [
        m.Lead(
            id=r.id,
            numbers=tuple(numbers[r.id]),
            priority=r.priority,
            attempts=r.attempts,
            status=m.LeadStatus(r.status),
            fields={k: str(v) for k, v in (r.fields or {}).items()},
            consent=r.consent,
            callback=callbacks.get(r.id),
            not_before=r.next_attempt_at,
        )
        for r in rows
    ]


async def load_history(session: AsyncSession, leads: Iterable[m.Lead], *, since: datetime) -> list[m.Attempt]:
    """Attempts since `since` to these leads or to any of their numbers, whatever list they came from."""
    lead_ids = [lead.id for lead in leads]
    e164s = sorted({n.e164 for lead in leads for n in lead.numbers}) if lead_ids else []
    if not lead_ids:
        return []
    rows = await session.scalars(
        select(LeadAttempt).where(
            LeadAttempt.started_at >= since,
            or_(LeadAttempt.lead_id.in_(lead_ids), LeadAttempt.e164.in_(e164s)),
        )
    )
    return [
        m.Attempt(
            lead_id=a.lead_id,
            e164=a.e164,
            started_at=a.started_at,
            result=m.AttemptResult(a.result),
            answered_at=a.answered_at,
            agent_connected_at=a.agent_connected_at,
            amd_machine=a.amd_machine,
            agent_id=a.agent_id,
            campaign_id=a.campaign_id,
        )
        for a in rows
    ]


async def record_attempt(
    session: AsyncSession,
    attempt: m.Attempt,
    *,
    ended_at: datetime | None = None,
    call_id: int | None = None,
    disposition_code: str | None = None,
) -> LeadAttempt:
    """Store one dial and count it on its lead (in the caller's transaction)."""
    row = LeadAttempt(
        lead_id=attempt.lead_id,
        campaign_id=attempt.campaign_id,
        e164=attempt.e164,
        started_at=attempt.started_at,
        answered_at=attempt.answered_at,
        agent_connected_at=attempt.agent_connected_at,
        ended_at=ended_at,
        result=attempt.result.value,
        amd_machine=attempt.amd_machine,
        agent_id=attempt.agent_id,
        call_id=call_id,
        disposition_code=disposition_code,
    )
    session.add(row)
    await session.execute(update(Lead).where(Lead.id == attempt.lead_id).values(attempts=Lead.attempts + 1))
    await session.flush()
    return row


async def rule_set_named(session: AsyncSession, name: str) -> RuleSet | None:
    """A shipped rule set, or a manager's custom one (validated again on the way out), or None."""
    shipped = builtin_rule_sets().get(name)
    if shipped is not None:
        return shipped
    row = await session.scalar(select(CustomRuleSet).where(CustomRuleSet.name == name))
    return None if row is None else parse_rule_set(row.data, f"rule set {name!r}")


async def dnc_numbers(session: AsyncSession, e164s: Iterable[str], campaign_id: int) -> set[str]:
    """Those of the numbers on a do-not-call list that binds the campaign (internal, national, its own):
    checked again at dial time, since a number may have been added after its list was scrubbed."""
    wanted = sorted(set(e164s))
    lists = select(DncList.id).where(
        DncList.kind.in_([DncKind.internal, DncKind.national])
        | ((DncList.kind == DncKind.campaign) & (DncList.campaign_id == campaign_id))
    )
    found: set[str] = set()
    for i in range(0, len(wanted), DNC_CHUNK):
        found.update(
            await session.scalars(
                select(DncEntry.e164).where(
                    DncEntry.e164.in_(wanted[i : i + DNC_CHUNK]), DncEntry.dnc_list_id.in_(lists)
                )
            )
        )
    return found
