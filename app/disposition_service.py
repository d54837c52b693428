"""Saving an agent's wrap-up (the call's disposition, notes and contact): one disposition per call, a
second save edits the first. The API's wrap-up route calls it; scripted calls save theirs through the
script's outcome instead."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.script_service import script_name_of
from core.audit import audit
from core.errors import Conflict, Invalid, NotFound
from core.models import Call, DispositionCode, Interaction, InteractionKind
from cti.ami_wire import AmiError
from cti.service import CtiService

log = logging.getLogger(__name__)


async def save_disposition(
    db: AsyncSession,
    service: CtiService,
    interface: str,
    user_id: int,
    linkedid: str,
    code_name: str,
    notes: str | None,
    contact_given: int | None,
    request: Request | None,
) -> dict[str, Any]:
    """The saved disposition as the API answers it; `edited` says a second save changed the first."""
    code = await db.scalar(
        select(DispositionCode).where(DispositionCode.code == code_name, DispositionCode.active)
    )
    if code is None:
        raise Invalid(f"code: unknown disposition {code_name!r}")
    pop = service.screenpop.current.get(interface)
    if pop is not None and pop["linkedid"] == linkedid:
        if await script_name_of(db, pop):
            raise Conflict("this call follows a script: save its outcome (/script/outcome)")
    if (pop is None or pop["linkedid"] != linkedid) and service.tracker.leg_of(linkedid, interface) is None:
        with_call = await db.scalar(
            select(Call.id).where(Call.linkedid == linkedid, Call.agent_id == user_id)
        )
        if with_call is None:
            raise NotFound("no such call of yours")
    await service.history.drain(timeout=5)  # the call row is written when the call ends
    call = await db.scalar(select(Call).where(Call.linkedid == linkedid))
    now = datetime.now(UTC)
    contact_id = contact_given or (call.contact_id if call else None)
    saved = await saved_disposition(db, linkedid, call, user_id)
    if saved is not None:
        # One disposition per call: a second save edits the first (audited with what it was) and never
        # extends the wrap-up time, which feeds AHT.
        before = {"code": saved.disposition_code, "notes": saved.body, "contact_id": saved.contact_id}
        saved.disposition_code = code.code
        saved.body = notes
        saved.contact_id = contact_id
        saved.data = {**(saved.data or {}), "label": code.label, "edited_at": now.isoformat()}
        audit(
            db,
            "call.disposition.edit",
            user_id=user_id,
            target_type="call",
            target_id=linkedid,
            detail={"before": before, "code": code.code, "interaction_id": saved.id},
            request=request,
        )
        await db.commit()
        service.screenpop.disposed(interface, linkedid, code.code)
        return {"id": saved.id, "call_id": saved.call_id, "contact_id": contact_id, "edited": True}
    if call is not None and call.ended_at is not None and call.wrap_s is None:
        await db.execute(
            update(Call)
            .where(Call.id == call.id)
            .values(wrap_s=round((now - call.ended_at).total_seconds(), 3))
        )
    entry = Interaction(
        contact_id=contact_id,
        kind=InteractionKind.disposition,
        call_id=call.id if call else None,
        agent_id=user_id,
        disposition_code=code.code,
        body=notes,
        at=now,
        data={"linkedid": linkedid, "label": code.label},
    )
    db.add(entry)
    audit(
        db,
        "call.disposition",
        user_id=user_id,
        target_type="call",
        target_id=linkedid,
        detail={"code": code.code},
        request=request,
    )
    await db.commit()
    service.screenpop.disposed(interface, linkedid, code.code)
    try:
        await service.end_wrapup(interface)
    except AmiError as exc:  # saved all the same; the agent can press ready
        log.warning("agent: could not end wrap-up for %s: %s", interface, exc)
    return {"id": entry.id, "call_id": entry.call_id, "contact_id": contact_id, "edited": False}


async def saved_disposition(
    db: AsyncSession, linkedid: str, call: Call | None, agent_id: int
) -> Interaction | None:
    """The disposition already saved for this call: by its row, or, before the row exists (a save while
    the call is still up), among this agent's latest dispositions by the Linkedid they carry."""
    query = select(Interaction).where(Interaction.kind == InteractionKind.disposition)
    if call is not None:
        query = query.where(Interaction.call_id == call.id).order_by(Interaction.id)
    else:
        query = query.where(Interaction.call_id.is_(None), Interaction.agent_id == agent_id)
        query = query.order_by(Interaction.id.desc())
    for entry in (await db.scalars(query.limit(20))).all():
        if call is not None or (entry.data or {}).get("linkedid") == linkedid:
            return entry
    return None
