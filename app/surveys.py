"""Post-call survey answers in the database: stored with the call (Linkedid), its agent, queue, campaign
and contact, on the contact's timeline; read back for the pop ("last CSAT 2/5"), the call history and
the unhappy-customers file.

The IVR's `survey` node calls `save_answers` once per score and once for the comment: each call completes
the same row (a value already given is never erased by a later save that lacks it). The call may still be
in progress (the caller is in the survey, so its `calls` row is not written yet): its agent and queue then
come from its open-call note, its campaign from the dialer's call in flight.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.customers import find_contact_ids
from core.dialer_tables import Campaign, DialerCall
from core.models import Call, Interaction, InteractionKind, OpenCall, Queue, SurveyAnswer, User

CSAT_RANGE = range(1, 6)
NPS_RANGE = range(0, 11)


@dataclass(frozen=True, slots=True)
class CallContext:
    agent_id: int | None = None
    queue: str | None = None
    campaign_id: int | None = None
    contact_id: int | None = None


async def call_context(s: AsyncSession, linkedid: str, caller: str | None, region: str) -> CallContext:
    """Who handled the call and who called, from its history row, else from what is known while it lasts."""
    call = await s.scalar(select(Call).where(Call.linkedid == linkedid))
    if call is not None:
        return CallContext(call.agent_id, call.queue, call.campaign_id, call.contact_id)
    note = await s.scalar(select(OpenCall.data).where(OpenCall.linkedid == linkedid)) or {}
    agent_id = None
    interface = str(note.get("agent") or "")
    if interface.startswith("PJSIP/"):
        endpoint = interface.removeprefix("PJSIP/")
        agent_id = await s.scalar(select(User.id).where(User.sip_endpoint == endpoint))
    campaign_id = await s.scalar(select(DialerCall.campaign_id).where(DialerCall.channel_id == linkedid))
    contact_id = None
    if caller:
        ids = (await find_contact_ids(s, [caller], region)).get(caller) or []
        contact_id = ids[0] if len(ids) == 1 else None  # a shared number: nobody in particular
    queue = note.get("queue")
    return CallContext(agent_id, str(queue) if queue else None, campaign_id, contact_id)


def _checked(value: int | None, allowed: range, name: str) -> int | None:
    if value is not None and value not in allowed:
        raise ValueError(f"{name}: {value} is outside {allowed.start}–{allowed.stop - 1}")
    return value


async def save_answers(
    s: AsyncSession,
    *,
    linkedid: str,
    flow: str,
    caller: str | None,
    csat: int | None,
    nps: int | None,
    comment: str | None,
    now: datetime,
    region: str,
) -> SurveyAnswer:
    """Create or complete the call's answer and its timeline entry; the caller commits."""
    _checked(csat, CSAT_RANGE, "csat")
    _checked(nps, NPS_RANGE, "nps")
    row = await s.scalar(select(SurveyAnswer).where(SurveyAnswer.linkedid == linkedid))
    if row is None:
        row = SurveyAnswer(linkedid=linkedid[:64], flow=flow[:64], answered_at=now)
        s.add(row)
    if row.caller_number is None or None in (row.agent_id, row.queue, row.contact_id):
        # new, or started from the desk with the agent only: what the call and the caller's number say
        ctx = await call_context(s, linkedid, caller, region)
        row.caller_number = row.caller_number or ((caller or None) and caller[:64])
        row.contact_id = row.contact_id or ctx.contact_id
        row.agent_id = row.agent_id or ctx.agent_id
        row.queue = row.queue or ctx.queue
        row.campaign_id = row.campaign_id or ctx.campaign_id
    row.csat = csat if csat is not None else row.csat
    row.nps = nps if nps is not None else row.nps
    row.comment_path = (comment[:255] if comment else None) or row.comment_path
    row.answered_at = now
    if row.contact_id is not None:
        entry = await s.get(Interaction, row.interaction_id) if row.interaction_id else None
        if entry is None:
            entry = Interaction(contact_id=row.contact_id, kind=InteractionKind.survey, agent_id=row.agent_id)
            s.add(entry)
        entry.at = now
        entry.data = timeline_data(row)
        await s.flush()
        row.interaction_id = entry.id
    await s.flush()
    return row


async def sent_from_desk(
    s: AsyncSession, *, linkedid: str, flow: str, agent_id: int, queue: str | None, now: datetime
) -> None:
    """The agent sends the caller to the survey: their call's row is started with who sent it (the answers
    complete it); sent twice, the first stays."""
    if await s.scalar(select(SurveyAnswer.id).where(SurveyAnswer.linkedid == linkedid)) is None:
        s.add(
            SurveyAnswer(
                linkedid=linkedid[:64], flow=flow[:64], agent_id=agent_id, queue=queue, answered_at=now
            )
        )


async def complete_from_calls(s: AsyncSession, linkedids: list[str]) -> None:
    """Answers given while their call was in progress take what they lack from its history row, once it is
    written (the history writer calls this in the same transaction): one statement per batch of calls."""
    if not linkedids:
        return
    answers = SurveyAnswer.__table__
    calls = Call.__table__

    def of_call(column: str) -> Any:
        found = select(calls.c[column]).where(calls.c.linkedid == answers.c.linkedid).scalar_subquery()
        return func.coalesce(answers.c[column], found)

    await s.execute(
        update(answers)
        .where(answers.c.linkedid.in_(linkedids))
        .values({c: of_call(c) for c in ("agent_id", "queue", "campaign_id", "contact_id")})
    )


def timeline_data(row: SurveyAnswer) -> dict[str, Any]:
    return {
        "linkedid": row.linkedid,
        "csat": row.csat,
        "nps": row.nps,
        "comment": row.comment_path is not None,
        "queue": row.queue,
    }


async def answers_by_linkedid(s: AsyncSession, linkedids: list[str]) -> dict[str, dict[str, Any]]:
    """The answers of these calls, for the call history's rows."""
    if not linkedids:
        return {}
    rows = await s.execute(
        select(SurveyAnswer.linkedid, SurveyAnswer.csat, SurveyAnswer.nps).where(
            SurveyAnswer.linkedid.in_(linkedids)
        )
    )
    return {lid: {"csat": csat, "nps": nps} for lid, csat, nps in rows}


async def offered(s: AsyncSession, linkedid: str, queue: str | None) -> bool:
    """Whether the call's queue or campaign offers the survey."""
    if queue and await s.scalar(select(Queue.survey).where(Queue.name == queue)):
        return True
    campaign = await s.scalar(
        select(Campaign.survey)
        .join(DialerCall, DialerCall.campaign_id == Campaign.id)
        .where(DialerCall.channel_id == linkedid)
    )
    return bool(campaign)
