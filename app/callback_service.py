"""Callbacks: checking and storing one (inside the campaign rule set's calling windows at the customer's
place) and how the API shows it. The routes and the pages share these."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import Request
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.campaign_schemas import Instant
from app.errors import unprocessable
from app.schemas import ORM, Text
from core.audit import audit
from core.dialer_tables import Callback as CallbackRow
from core.dialer_tables import (
    CallbackSource,
    CallbackStatus,
    Campaign,
)
from core.models import User
from cti.numbers import InvalidNumber, parse
from dialer.callbacks import CallbackError, callback_audience, schedule_callback
from dialer.compliance import Reason, RuleSet, check
from dialer.compliance_zones import UnknownZone, zone_info
from dialer.leads_model import Lead, LeadNumber
from dialer.store import rule_set_named


class CallbackIn(BaseModel):
    number: Text(64, 1)  # type: ignore[valid-type]
    due_at: Instant  # type: ignore[valid-type]
    tz: Text(64, 1) | None = None  # type: ignore[valid-type]  # the customer's zone; default: the number's
    contact_id: int | None = Field(default=None, ge=1, le=2**62)
    lead_id: int | None = Field(default=None, ge=1, le=2**62)
    campaign_id: int | None = Field(default=None, ge=1, le=2**62)
    agent_id: int | None = Field(default=None, ge=1, le=2**62)  # None: anyone
    for_me: bool = False
    fallback_after_minutes: int | None = Field(default=None, ge=0, le=7 * 24 * 60)
    note: Text(2000) | None = None  # type: ignore[valid-type]


class CallbackOut(ORM):
    id: int
    number_e164: str
    contact_id: int | None
    lead_id: int | None
    campaign_id: int | None
    due_at: datetime
    due_local: str = ""
    tz: str
    agent_id: int | None
    fallback_after_minutes: int
    status: CallbackStatus
    source: CallbackSource
    note: str | None
    audience: str = ""


def cb_out(cb: CallbackRow, now: datetime) -> CallbackOut:
    out = CallbackOut.model_validate(cb)
    out.due_local = cb.due_at.astimezone(zone_info(cb.tz)).isoformat()
    out.audience = callback_audience(
        due_at=cb.due_at,
        agent_id=cb.agent_id,
        status=cb.status,
        fallback_after=timedelta(minutes=cb.fallback_after_minutes),
        now=now,
    ).value
    return out


def check_window(rs: RuleSet, number: LeadNumber, due_at: datetime) -> None:
    """A callback respects the calling windows and holidays at the customer's place."""
    verdict = check(Lead(id=0, numbers=(number,), consent=True), number, [], rs, due_at)
    timing = [b for b in verdict.blocks if b.reason in (Reason.OUTSIDE_WINDOW, Reason.PUBLIC_HOLIDAY)]
    if timing:
        nxt = verdict.next_allowed
        hint = (
            f"; the next allowed time is {nxt.astimezone(zone_info(number.zones[0])).isoformat()}"
            if nxt
            else ""
        )
        raise unprocessable("due_at", f"{timing[0].detail} under rule set {rs.name}{hint}")


async def schedule(
    db: AsyncSession,
    body: CallbackIn,
    agent_id: int | None,
    region: str,
    user_id: int,
    request: Request | None,
) -> CallbackRow:
    """Check and store a callback for `agent_id` (None: anyone), audited; inside the campaign rule set's
    calling windows at the customer's place when it belongs to a campaign."""
    if agent_id is not None and await db.get(User, agent_id) is None:
        raise unprocessable("agent_id", "no such user")
    try:
        e164 = parse(body.number, region).e164
    except InvalidNumber as exc:
        raise unprocessable("number", exc.reason) from None
    try:
        number = LeadNumber.for_e164(e164, body.tz)
    except UnknownZone as exc:
        raise unprocessable("tz" if body.tz else "number", str(exc)) from None
    fallback = body.fallback_after_minutes
    campaign = await db.get(Campaign, body.campaign_id) if body.campaign_id is not None else None
    if body.campaign_id is not None and campaign is None:
        raise unprocessable("campaign_id", "no such campaign")
    if campaign is not None:
        fallback = campaign.callback_fallback_minutes if fallback is None else fallback
        rs = await rule_set_named(db, campaign.rule_set)
        if rs is not None:
            check_window(rs, number, body.due_at)
    try:
        cb = await schedule_callback(
            db,
            number_e164=e164,
            contact_id=body.contact_id,
            due_at=body.due_at,
            tz=body.tz or number.zones[0],
            agent_id=agent_id,
            source=CallbackSource.agent,
            note=body.note,
            lead_id=body.lead_id,
            campaign_id=body.campaign_id,
            fallback_after_minutes=30 if fallback is None else fallback,
            created_by=user_id,
        )
    except CallbackError as exc:
        raise unprocessable(exc.field, exc.message) from None
    except IntegrityError:
        await db.rollback()
        raise unprocessable("contact_id", "no such contact or lead") from None
    audit(
        db,
        "callback_scheduled",
        user_id=user_id,
        target_type="callback",
        target_id=cb.id,
        detail={"due_at": cb.due_at.isoformat(), "agent_id": agent_id},
        request=request,
    )
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
        raise unprocessable("contact_id", "no such contact or lead") from None
    return cb
