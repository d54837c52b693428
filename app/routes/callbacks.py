"""Callbacks over the API: schedule one (inside the campaign rule set's calling windows), list them, cancel
one. An agent schedules for themselves or for anyone. Every change is written to the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from app.callback_service import CallbackIn, CallbackOut, cb_out, schedule
from app.campaign_schemas import Instant
from app.deps import AnyRole, Db, state_of
from app.schemas import Limit, PathId
from core.audit import audit
from core.dialer_tables import Callback as CallbackRow
from core.dialer_tables import (
    CallbackStatus,
)
from core.errors import Conflict, Forbidden, NotFound
from core.models import Role, utcnow

router = APIRouter(tags=["campaigns"])


@router.post("/callbacks", response_model=CallbackOut, status_code=201)
async def create_callback(
    body: CallbackIn,
    request: Request,
    ident: AnyRole,
    db: Db,
) -> Any:
    agent_id = ident.user.id if body.for_me else body.agent_id
    if ident.role is Role.agent and agent_id not in (None, ident.user.id):
        raise Forbidden("an agent schedules callbacks for themselves or for anyone")
    cb = await schedule(db, body, agent_id, state_of(request).settings.default_region, ident.user.id, request)
    return cb_out(cb, utcnow())


@router.get("/callbacks", response_model=list[CallbackOut])
async def list_callbacks(
    ident: AnyRole,
    db: Db,
    status: CallbackStatus | None = CallbackStatus.pending,
    mine: bool = False,
    due_before: Annotated[Instant | None, Query()] = None,  # type: ignore[valid-type]
    limit: Limit = 100,
) -> Any:
    q = select(CallbackRow).order_by(CallbackRow.due_at, CallbackRow.id).limit(limit)
    if status is not None:
        q = q.where(CallbackRow.status == status)
    if due_before is not None:
        q = q.where(CallbackRow.due_at <= due_before)
    if mine or ident.role is Role.agent:
        # An agent sees their own callbacks and those for anyone.
        q = q.where(
            (CallbackRow.agent_id == ident.user.id) | (CallbackRow.agent_id.is_(None))
            if not mine
            else CallbackRow.agent_id == ident.user.id
        )
    now = utcnow()
    return [cb_out(cb, now) for cb in await db.scalars(q)]


@router.post("/callbacks/{callback_id}/cancel", response_model=CallbackOut)
async def cancel_callback(
    callback_id: PathId,
    request: Request,
    ident: AnyRole,
    db: Db,
) -> Any:
    cb = await db.get(CallbackRow, callback_id)
    if cb is None:
        raise NotFound("no such callback")
    if ident.role is Role.agent and cb.agent_id != ident.user.id and cb.created_by != ident.user.id:
        raise Forbidden("only the agent it is for, its author or a manager may cancel it")
    if cb.status is not CallbackStatus.pending:
        raise Conflict(f"the callback is already {cb.status.value}")
    cb.status, cb.closed_at = CallbackStatus.cancelled, utcnow()
    audit(
        db,
        "callback_cancelled",
        user_id=ident.user.id,
        target_type="callback",
        target_id=cb.id,
        request=request,
    )
    await db.commit()
    return cb_out(cb, utcnow())
