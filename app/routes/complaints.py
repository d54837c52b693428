"""Complaints (réclamations): create, list by status and SLA state, update, and status transitions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from app import complaint_service as svc
from app.complaint_service import check_owner, complaint_out, load_complaint, may_handle
from app.deps import AnyRole, Db, state_of
from app.schemas import ComplaintIn, ComplaintOut, ComplaintPatch, Limit, PathId, TransitionIn
from app.security import ANY_ROLE, require
from core.audit import audit
from core.errors import Forbidden, Invalid
from core.models import (
    ComplaintStatus,
)

router = APIRouter(prefix="/complaints", tags=["complaints"])


any_role = require(*ANY_ROLE)


@router.post("", response_model=ComplaintOut, status_code=201)
async def create(
    body: ComplaintIn,
    request: Request,
    ident: AnyRole,
    db: Db,
) -> Any:
    settings = state_of(request).settings
    c = await svc.open_complaint(db, body, settings, ident, request)
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
        raise Forbidden("only the owner or a supervisor may change this complaint")
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
        raise Forbidden("only the owner or a supervisor may change this complaint")
    await svc.move(db, c, body.to, body.note, ident.user.id, request)
    return complaint_out(c, state_of(request).settings)
