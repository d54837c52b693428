"""Complaints as the API and the pages see them: loading, listing with filters and SLA states, who may handle
one. The status machine itself is app/complaints.py's (pure)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import complaints as rules
from app.errors import unprocessable
from app.history_service import check_call_visible
from app.reason_service import usable_reason
from app.schemas import ComplaintIn, ComplaintOut
from app.security import Identity
from core.audit import audit
from core.errors import NotFound
from core.models import (
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
from core.settings import Settings


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


async def open_complaint(
    db: AsyncSession, body: ComplaintIn, settings: Settings, ident: Identity, request: Request | None
) -> Complaint:
    """A new complaint with its SLA dates (acknowledge, answer), on the contact's timeline, audited; owned
    by `body.owner_id` or its author, who must be allowed to see the call it is about."""
    user_id = ident.user.id
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
        owner_id=body.owner_id or user_id,
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
            agent_id=user_id,
            body=c.description,
            data={"event": "opened", "category": c.category},
        )
    )
    audit(
        db,
        "complaint_created",
        user_id=user_id,
        target_type="complaint",
        target_id=c.id,
        request=request,
    )
    await db.commit()
    return c


async def move(
    db: AsyncSession,
    c: Complaint,
    to: ComplaintStatus,
    note: str | None,
    user_id: int,
    request: Request | None,
) -> None:
    """Move along the status machine (TransitionRefused otherwise, a Conflict), on the timeline, audited."""
    rules.check_transition(c.status, to)  # TransitionRefused: a 409
    now, previous = utcnow(), c.status
    if rules.is_reopen(previous, to):
        c.reopen_count += 1
        c.resolved_at = c.closed_at = None
    if to is ComplaintStatus.in_progress and c.acknowledged_at is None:
        c.acknowledged_at = now
    if to is ComplaintStatus.resolved:
        c.resolved_at = now
        c.acknowledged_at = c.acknowledged_at or now
        c.resolution = note or c.resolution
    if to is ComplaintStatus.closed:
        c.closed_at = now
    c.status = to
    contact = await db.get(Contact, c.contact_id)
    db.add(
        Interaction(
            contact_id=c.contact_id,
            account_id=contact.account_id if contact else None,
            kind=InteractionKind.complaint,
            complaint_id=c.id,
            agent_id=user_id,
            body=note,
            data={"event": "transition", "from": previous.value, "to": to.value},
        )
    )
    audit(
        db,
        "complaint_transition",
        user_id=user_id,
        target_type="complaint",
        target_id=c.id,
        detail={"from": previous.value, "to": to.value},
        request=request,
    )
    await db.commit()
