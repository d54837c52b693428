"""Complaints (réclamations): create, list by status and SLA state, update, and status transitions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import complaints as rules
from app.audit import audit
from app.errors import unprocessable
from app.history_service import check_call_visible
from app.models import (
    Complaint,
    ComplaintReason,
    ComplaintStatus,
    Contact,
    Interaction,
    InteractionKind,
    Role,
    User,
    utcnow,
)
from app.reason_service import usable_reason
from app.schemas import ComplaintIn, ComplaintOut, ComplaintPatch, Limit, PathId, TransitionIn
from app.security import ANY_ROLE, Identity, get_db, require
from app.settings import Settings
from core.errors import Conflict, Invalid, NotFound

router = APIRouter(prefix="/complaints", tags=["complaints"])
any_role = require(*ANY_ROLE)


def _out(c: Complaint, settings: Settings) -> ComplaintOut:
    out = ComplaintOut.model_validate(c)
    answered = c.resolved_at
    out.sla_state = rules.sla_state(
        utcnow(), c.answer_due_at, answered, timedelta(days=settings.complaint_due_soon_days)
    ).value
    return out


def _may_handle(ident: Identity, c: Complaint) -> bool:
    return ident.role is not Role.agent or c.owner_id == ident.user.id


async def _get(db: AsyncSession, complaint_id: int) -> Complaint:
    c = await db.get(Complaint, complaint_id)
    if c is None:
        raise NotFound("no such complaint")
    return c


async def _check_owner(db: AsyncSession, owner_id: int | None) -> None:
    if owner_id is not None and await db.get(User, owner_id) is None:
        raise unprocessable("owner_id", "no such user")


@router.post("", response_model=ComplaintOut, status_code=201)
async def create(
    body: ComplaintIn,
    request: Request,
    ident: Identity = Depends(any_role),
    db: AsyncSession = Depends(get_db),
) -> Any:
    settings: Settings = request.app.state.settings
    contact = await db.get(Contact, body.contact_id)
    if contact is None:
        raise unprocessable("contact_id", "no such contact")
    await check_call_visible(db, ident, body.call_id)
    await _check_owner(db, body.owner_id)
    reason = await usable_reason(db, body.reason_id) if body.reason_id is not None else None
    received = body.received_at or utcnow()
    due = rules.deadlines(
        received,
        ack_working_days=settings.complaint_ack_working_days,
        answer_months=settings.complaint_answer_months,
        zone=settings.timezone,
    )
    c = Complaint(
        contact_id=body.contact_id,
        call_id=body.call_id,
        category=reason.code if reason is not None else (body.category or ""),
        reason_id=reason.id if reason is not None else None,
        channel=body.channel,
        description=body.description,
        owner_id=body.owner_id or ident.user.id,
        received_at=received,
        ack_due_at=due.ack_due_at,
        answer_due_at=due.answer_due_at,
    )
    db.add(c)
    await db.flush()
    db.add(
        Interaction(
            contact_id=c.contact_id,
            account_id=contact.account_id,
            kind=InteractionKind.complaint,
            complaint_id=c.id,
            call_id=c.call_id,
            agent_id=ident.user.id,
            body=c.description,
            data={"event": "opened", "category": c.category},
        )
    )
    audit(
        db,
        "complaint_created",
        user_id=ident.user.id,
        target_type="complaint",
        target_id=c.id,
        request=request,
    )
    await db.commit()
    return _out(c, settings)


@router.get("", response_model=list[ComplaintOut])
async def list_complaints(
    request: Request,
    status: ComplaintStatus | None = None,
    sla: str | None = Query(default=None, pattern="^(on_time|due_soon|late|met|missed)$"),
    owner_id: int | None = Query(default=None, ge=1, le=2**62),
    contact_id: int | None = Query(default=None, ge=1, le=2**62),
    reason_id: int | None = Query(default=None, ge=1, le=2**62, description="a category: its children too"),
    limit: Limit = 100,
    _: Identity = Depends(any_role),
    db: AsyncSession = Depends(get_db),
) -> Any:
    settings: Settings = request.app.state.settings
    stmt = select(Complaint).order_by(Complaint.answer_due_at, Complaint.id)
    if reason_id is not None:
        children = select(ComplaintReason.id).where(ComplaintReason.parent_id == reason_id)
        stmt = stmt.where((Complaint.reason_id == reason_id) | Complaint.reason_id.in_(children))
    for value, col in (
        (status, Complaint.status),
        (owner_id, Complaint.owner_id),
        (contact_id, Complaint.contact_id),
    ):
        if value is not None:
            stmt = stmt.where(col == value)
    if sla is None:
        stmt = stmt.limit(limit)
    out = [_out(c, settings) for c in await db.scalars(stmt)]
    return [c for c in out if sla is None or c.sla_state == sla][:limit]


@router.get("/{complaint_id}", response_model=ComplaintOut)
async def read(
    complaint_id: PathId,
    request: Request,
    _: Identity = Depends(any_role),
    db: AsyncSession = Depends(get_db),
) -> Any:
    return _out(await _get(db, complaint_id), request.app.state.settings)


@router.patch("/{complaint_id}", response_model=ComplaintOut)
async def update(
    complaint_id: PathId,
    body: ComplaintPatch,
    request: Request,
    ident: Identity = Depends(any_role),
    db: AsyncSession = Depends(get_db),
) -> Any:
    c = await _get(db, complaint_id)
    if not _may_handle(ident, c):
        raise HTTPException(403, "only the owner or a supervisor may change this complaint")
    changes = body.model_dump(exclude_unset=True)
    if any(v is None for k, v in changes.items() if k in ("category", "description", "escalation_level")):
        raise Invalid("category, description and escalation_level may not be null")
    await _check_owner(db, changes.get("owner_id"))
    for k, v in changes.items():
        setattr(c, k, v)
    audit(
        db,
        "complaint_updated",
        user_id=ident.user.id,
        target_type="complaint",
        target_id=c.id,
        detail={"fields": sorted(changes)},
        request=request,
    )
    await db.commit()
    return _out(c, request.app.state.settings)


@router.post("/{complaint_id}/transition", response_model=ComplaintOut)
async def transition(
    complaint_id: PathId,
    body: TransitionIn,
    request: Request,
    ident: Identity = Depends(any_role),
    db: AsyncSession = Depends(get_db),
) -> Any:
    c = await _get(db, complaint_id)
    if not _may_handle(ident, c):
        raise HTTPException(403, "only the owner or a supervisor may change this complaint")
    try:
        rules.check_transition(c.status, body.to)
    except rules.TransitionRefused as exc:
        raise Conflict(str(exc)) from None
    now, previous = utcnow(), c.status
    if rules.is_reopen(previous, body.to):
        c.reopen_count += 1
        c.resolved_at = c.closed_at = None
    if body.to is ComplaintStatus.in_progress and c.acknowledged_at is None:
        c.acknowledged_at = now
    if body.to is ComplaintStatus.resolved:
        c.resolved_at = now
        c.acknowledged_at = c.acknowledged_at or now
        c.resolution = body.note or c.resolution
    if body.to is ComplaintStatus.closed:
        c.closed_at = now
    c.status = body.to
    contact = await db.get(Contact, c.contact_id)
    db.add(
        Interaction(
            contact_id=c.contact_id,
            account_id=contact.account_id if contact else None,
            kind=InteractionKind.complaint,
            complaint_id=c.id,
            agent_id=ident.user.id,
            body=body.note,
            data={"event": "transition", "from": previous.value, "to": body.to.value},
        )
    )
    audit(
        db,
        "complaint_transition",
        user_id=ident.user.id,
        target_type="complaint",
        target_id=c.id,
        detail={"from": previous.value, "to": body.to.value},
        request=request,
    )
    await db.commit()
    return _out(c, request.app.state.settings)
