"""Complaints (réclamations): create, list by status and SLA state, update, and status transitions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request

from app import complaint_service as svc
from app import complaints as rules
from app.audit import audit
from app.complaint_service import check_owner, complaint_out, load_complaint, may_handle
from app.deps import AnyRole, Db, state_of
from app.errors import unprocessable
from app.history_service import check_call_visible
from app.models import (
    Complaint,
    ComplaintStatus,
    Contact,
    Interaction,
    InteractionKind,
    utcnow,
)
from app.reason_service import usable_reason
from app.schemas import ComplaintIn, ComplaintOut, ComplaintPatch, Limit, PathId, TransitionIn
from app.security import ANY_ROLE, require
from app.settings import Settings
from core.errors import Invalid

router = APIRouter(prefix="/complaints", tags=["complaints"])


any_role = require(*ANY_ROLE)


@router.post("", response_model=ComplaintOut, status_code=201)
async def create(
    body: ComplaintIn,
    request: Request,
    ident: AnyRole,
    db: Db,
) -> Any:
    settings: Settings = state_of(request).settings
    contact = await db.get(Contact, body.contact_id)
    if contact is None:
        raise unprocessable("contact_id", "no such contact")
    await check_call_visible(db, ident, body.call_id)
    await check_owner(db, body.owner_id)
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
    return complaint_out(c, settings)


@router.get("", response_model=list[ComplaintOut])
async def list_complaints(
    request: Request,
    _: AnyRole,
    db: Db,
    status: ComplaintStatus | None = None,
    sla: str | None = Query(default=None, pattern="^(on_time|due_soon|late|met|missed)$"),
    owner_id: int | None = Query(default=None, ge=1, le=2**62),
    contact_id: int | None = Query(default=None, ge=1, le=2**62),
    reason_id: int | None = Query(default=None, ge=1, le=2**62, description="a category: its children too"),
    limit: Limit = 100,
) -> Any:
    settings = state_of(request).settings
    return await svc.search(db, settings, status, sla, owner_id, contact_id, reason_id, limit)


@router.get("/{complaint_id}", response_model=ComplaintOut)
async def read(
    complaint_id: PathId,
    request: Request,
    _: AnyRole,
    db: Db,
) -> Any:
    return complaint_out(await load_complaint(db, complaint_id), state_of(request).settings)


@router.patch("/{complaint_id}", response_model=ComplaintOut)
async def update(
    complaint_id: PathId,
    body: ComplaintPatch,
    request: Request,
    ident: AnyRole,
    db: Db,
) -> Any:
    c = await load_complaint(db, complaint_id)
    if not may_handle(ident, c):
        raise HTTPException(403, "only the owner or a supervisor may change this complaint")
    changes = body.model_dump(exclude_unset=True)
    if any(v is None for k, v in changes.items() if k in ("category", "description", "escalation_level")):
        raise Invalid("category, description and escalation_level may not be null")
    await check_owner(db, changes.get("owner_id"))
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
    return complaint_out(c, state_of(request).settings)


@router.post("/{complaint_id}/transition", response_model=ComplaintOut)
async def transition(
    complaint_id: PathId,
    body: TransitionIn,
    request: Request,
    ident: AnyRole,
    db: Db,
) -> Any:
    c = await load_complaint(db, complaint_id)
    if not may_handle(ident, c):
        raise HTTPException(403, "only the owner or a supervisor may change this complaint")
    rules.check_transition(c.status, body.to)  # TransitionRefused: a 409
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
    return complaint_out(c, state_of(request).settings)
