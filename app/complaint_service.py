"""Complaints as the API and the pages see them: loading, listing with filters and SLA states, who may handle
one. The status machine itself is app/complaints.py's (pure)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import complaints as rules
from app.errors import unprocessable
from app.models import (
    Complaint,
    ComplaintReason,
    ComplaintStatus,
    Role,
    User,
    utcnow,
)
from app.schemas import ComplaintOut
from app.security import Identity
from app.settings import Settings
from core.errors import NotFound


def complaint_out(c: Complaint, settings: Settings) -> ComplaintOut:
    out = ComplaintOut.model_validate(c)
    answered = c.resolved_at
    out.sla_state = rules.sla_state(
        utcnow(), c.answer_due_at, answered, timedelta(days=settings.complaint_due_soon_days)
    ).value
    return out


def may_handle(ident: Identity, c: Complaint) -> bool:
    return ident.role is not Role.agent or c.owner_id == ident.user.id


async def load_complaint(db: AsyncSession, complaint_id: int) -> Complaint:
    c = await db.get(Complaint, complaint_id)
    if c is None:
        raise NotFound("no such complaint")
    return c


async def check_owner(db: AsyncSession, owner_id: int | None) -> None:
    if owner_id is not None and await db.get(User, owner_id) is None:
        raise unprocessable("owner_id", "no such user")


async def search(
    db: AsyncSession,
    settings: Settings,
    status: ComplaintStatus | None,
    sla: str | None,
    owner_id: int | None,
    contact_id: int | None,
    reason_id: int | None,
    limit: int,
) -> list[ComplaintOut]:
    """Complaints by answer due date, filtered; a reason that is a category takes its children too."""
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
    out = [complaint_out(c, settings) for c in await db.scalars(stmt)]
    return [c for c in out if sla is None or c.sla_state == sla][:limit]
