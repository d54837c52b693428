"""The reasons taxonomy of complaints and dissatisfaction: categories and their sub-categories, in French
and English, active or retired. Everyone reads it (the desk's forms); managers and admins change it.
A reason is retired, never deleted: complaints keep the reason they were opened with."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, StringConstraints
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import audit
from app.errors import unprocessable
from app.models import ComplaintReason, Role
from app.schemas import ORM, Id, Label, PathId
from app.security import ANY_ROLE, Identity, get_db, require
from core.errors import Invalid, NotFound

router = APIRouter(prefix="/complaint-reasons", tags=["complaints"])
any_role = require(*ANY_ROLE)
editors = require(Role.manager)

ReasonCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,80}$")]


class ReasonIn(BaseModel):
    code: ReasonCode
    parent_id: Id | None = None  # type: ignore[valid-type]
    label_fr: Label  # type: ignore[valid-type]
    label_en: Label  # type: ignore[valid-type]
    active: bool = True


class ReasonPatch(BaseModel):
    label_fr: Label | None = None  # type: ignore[valid-type]
    label_en: Label | None = None  # type: ignore[valid-type]
    active: bool | None = None


class ReasonOut(ORM):
    id: int
    parent_id: int | None
    code: str
    label_fr: str
    label_en: str
    active: bool


def _field_error(field: str, msg: str) -> HTTPException:
    return unprocessable(field, msg)


def label_of(reason: ComplaintReason, lang: str) -> str:
    return reason.label_en if lang == "en" else reason.label_fr


def tree(reasons: list[ComplaintReason]) -> list[tuple[ComplaintReason, list[ComplaintReason]]]:
    """Categories, each with its sub-categories, in label order (French)."""
    kids: dict[int, list[ComplaintReason]] = {}
    for r in reasons:
        if r.parent_id is not None:
            kids.setdefault(r.parent_id, []).append(r)
    tops = sorted((r for r in reasons if r.parent_id is None), key=lambda r: r.label_fr.casefold())
    return [(t, sorted(kids.get(t.id, []), key=lambda r: r.label_fr.casefold())) for t in tops]


def labels(reasons: list[ComplaintReason], lang: str) -> dict[int, str]:
    """id → "Category › Sub-category" in the user's language."""
    by_id = {r.id: r for r in reasons}
    out = {}
    for r in reasons:
        parent = by_id.get(r.parent_id) if r.parent_id else None
        out[r.id] = f"{label_of(parent, lang)} › {label_of(r, lang)}" if parent else label_of(r, lang)
    return out


async def all_reasons(db: AsyncSession, active_only: bool = False) -> list[ComplaintReason]:
    stmt = select(ComplaintReason).order_by(ComplaintReason.id)
    if active_only:
        stmt = stmt.where(ComplaintReason.active.is_(True))
    return list(await db.scalars(stmt))


async def usable_reason(db: AsyncSession, reason_id: int, field: str = "reason_id") -> ComplaintReason:
    """The reason a new complaint or disposition names: it must exist and be active (422 otherwise)."""
    reason = await db.get(ComplaintReason, reason_id)
    if reason is None:
        raise _field_error(field, "no such reason")
    parent = await db.get(ComplaintReason, reason.parent_id) if reason.parent_id else None
    if not reason.active or (parent is not None and not parent.active):
        raise _field_error(field, "this reason is retired")
    return reason


def choosable(reasons: list[ComplaintReason]) -> list[ComplaintReason]:
    """Active reasons whose category is active too."""
    active = {r.id for r in reasons if r.active}
    return [r for r in reasons if r.active and (r.parent_id is None or r.parent_id in active)]


@router.get("", response_model=list[ReasonOut])
async def list_reasons(
    active: bool | None = None, _: Identity = Depends(any_role), db: AsyncSession = Depends(get_db)
) -> Any:
    """Every reason, categories each followed by their sub-categories; `active=true`: only those that may
    be chosen now (active, in an active category)."""
    reasons = await all_reasons(db)
    if active:
        reasons = choosable(reasons)
    return [r for top, kids in tree(reasons) for r in (top, *kids)]


@router.post("", response_model=ReasonOut, status_code=201)
async def create_reason(
    body: ReasonIn, request: Request, ident: Identity = Depends(editors), db: AsyncSession = Depends(get_db)
) -> Any:
    if body.parent_id is not None:
        parent = await db.get(ComplaintReason, body.parent_id)
        if parent is None:
            raise _field_error("parent_id", "no such reason")
        if parent.parent_id is not None:
            raise _field_error("parent_id", "a sub-category cannot have sub-categories (two levels)")
    if await db.scalar(select(ComplaintReason.id).where(ComplaintReason.code == body.code)):
        raise _field_error("code", "already used")
    reason = ComplaintReason(**body.model_dump())
    db.add(reason)
    try:
        await db.flush()
    except IntegrityError:
        await db.rollback()
        raise _field_error("code", "already used") from None
    audit(db, "complaint_reason.created", user_id=ident.user.id, target_type="complaint_reason",
          target_id=reason.id, detail={"code": reason.code}, request=request)  # fmt: skip
    await db.commit()
    return reason


@router.patch("/{reason_id}", response_model=ReasonOut)
async def update_reason(
    reason_id: PathId,
    body: ReasonPatch,
    request: Request,
    ident: Identity = Depends(editors),
    db: AsyncSession = Depends(get_db),
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
