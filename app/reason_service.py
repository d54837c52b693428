"""The complaint reasons taxonomy (categories and their reasons, in French and English): reading it, its
labels and which reasons may be chosen. The API, the pages and the care reports share these."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, StringConstraints
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import unprocessable
from app.schemas import ORM, Id, Label
from core.models import ComplaintReason

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
        raise unprocessable(field, "no such reason")
    parent = await db.get(ComplaintReason, reason.parent_id) if reason.parent_id else None
    if not reason.active or (parent is not None and not parent.active):
        raise unprocessable(field, "this reason is retired")
    return reason


def choosable(reasons: list[ComplaintReason]) -> list[ComplaintReason]:
    """Active reasons whose category is active too."""
    active = {r.id for r in reasons if r.active}
    return [r for r in reasons if r.active and (r.parent_id is None or r.parent_id in active)]
