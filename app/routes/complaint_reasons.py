"""The reasons taxonomy of complaints and dissatisfaction: categories and their sub-categories, in French
and English, active or retired. Everyone reads it (the desk's forms); managers and admins change it.
A reason is retired, never deleted: complaints keep the reason they were opened with."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.deps import AnyRole, Db, Manager
from app.errors import unprocessable
from app.reason_service import ReasonIn, ReasonOut, ReasonPatch, all_reasons, choosable, tree
from app.schemas import PathId
from app.security import ANY_ROLE, require
from core.audit import audit
from core.errors import Invalid, NotFound
from core.models import ComplaintReason, Role

router = APIRouter(prefix="/complaint-reasons", tags=["complaints"])


any_role = require(*ANY_ROLE)


editors = require(Role.manager)


@router.get("", response_model=list[ReasonOut])
async def list_reasons(_: AnyRole, db: Db, active: bool | None = None) -> Any:
    """Every reason, categories each followed by their sub-categories; `active=true`: only those that may
    be chosen now (active, in an active category)."""
    reasons = await all_reasons(db)
    if active:
        reasons = choosable(reasons)
    return [r for top, kids in tree(reasons) for r in (top, *kids)]


@router.post("", response_model=ReasonOut, status_code=201)
async def create_reason(body: ReasonIn, request: Request, ident: Manager, db: Db) -> Any:
    if body.parent_id is not None:
        parent = await db.get(ComplaintReason, body.parent_id)
        if parent is None:
            raise unprocessable("parent_id", "no such reason")
        if parent.parent_id is not None:
            raise unprocessable("parent_id", "a sub-category cannot have sub-categories (two levels)")
    if await db.scalar(select(ComplaintReason.id).where(ComplaintReason.code == body.code)):
        raise unprocessable("code", "already used")
    reason = ComplaintReason(**body.model_dump())
    db.add(reason)
    try:
        await db.flush()
    except IntegrityError:
        await db.rollback()
        raise unprocessable("code", "already used") from None
    audit(db, "complaint_reason.created", user_id=ident.user.id, target_type="complaint_reason",
          target_id=reason.id, detail={"code": reason.code}, request=request)  # fmt: skip
    await db.commit()
    return reason


@router.patch("/{reason_id}", response_model=ReasonOut)
async def update_reason(
    reason_id: PathId,
    body: ReasonPatch,
    request: Request,
    ident: Manager,
    db: Db,
) -> Any:
    """Labels, or retire (active false) / bring back. The code never changes: reports and imports use it."""
    reason = await db.get(ComplaintReason, reason_id)
    if reason is None:
        raise NotFound("no such reason")
    changes = body.model_dump(exclude_unset=True)
    if any(v is None for v in changes.values()):
        raise Invalid("label_fr, label_en and active may not be null")
    for k, v in changes.items():
        setattr(reason, k, v)
    audit(db, "complaint_reason.updated", user_id=ident.user.id, target_type="complaint_reason",
          target_id=reason.id, detail=changes, request=request)  # fmt: skip
    await db.commit()
    return reason
