"""Callbacks: scheduled by an agent (for themselves or anyone), by the IVR, or by the dialer.

`schedule_callback` is the one way to create one (the IVR and the desk call it); `callback_audience` is
the pure rule that says who may take a callback at an instant: an agent-only callback stays with its
agent until it is `fallback_after` overdue, then anyone may take it (VICIdial's USERONLY → ANYONE).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from core.dialer_tables import Callback, CallbackSource, CallbackStatus, Lead
from cti.numbers import InvalidNumber, parse
from dialer.compliance_zones import UnknownZone, zone_info
from dialer.leads_model import require_aware

MAX_NOTE = 2000
DEFAULT_FALLBACK_MINUTES = 30


class CallbackError(ValueError):
    """A callback request that cannot be stored; `field` names the offending argument."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Audience(enum.StrEnum):
    NOT_DUE = "not_due"  # nobody yet
    AGENT = "agent"  # only the agent who owns it
    ANYONE = "anyone"
    CLOSED = "closed"  # done or cancelled


def callback_audience(
    *,
    due_at: datetime,
    agent_id: int | None,
    status: CallbackStatus,
    fallback_after: timedelta,
    now: datetime,
) -> Audience:
    """Who may take the callback at `now`. Pure."""
    require_aware(due_at, "due_at")
    require_aware(now, "now")
    if status is not CallbackStatus.pending:
        return Audience.CLOSED
    if now < due_at:
        return Audience.NOT_DUE
    if agent_id is None or now >= due_at + fallback_after:
        return Audience.ANYONE
    return Audience.AGENT


def local_due(due_at: datetime, tz: str) -> datetime:
    """The due instant on the customer's clock (what the agent told them)."""
    return due_at.astimezone(zone_info(tz))


async def schedule_callback(
    session: AsyncSession,
    *,
    number_e164: str,
    contact_id: int | None,
    due_at: datetime,
    tz: str,
    agent_id: int | None = None,
    source: CallbackSource | str,
    note: str | None = None,
    lead_id: int | None = None,
    campaign_id: int | None = None,
    fallback_after_minutes: int = DEFAULT_FALLBACK_MINUTES,
    created_by: int | None = None,
    region: str = "FR",
) -> Callback:
    """Add a pending callback to the caller's transaction (flushed, not committed) and return it.

    `due_at` is an aware instant (stored in UTC); `tz` is the customer's IANA zone; `region` is the
    default region for a number written without its country code. A callback for a lead puts the
    lead in the `callback` status, so the hopper takes it when due. Raises CallbackError naming the
    field for anything unusable.
    """
    if due_at.tzinfo is None or due_at.utcoffset() is None:
        raise CallbackError("due_at", "must carry a time zone offset")
    try:
        zone_info(tz)
    except UnknownZone as exc:
        raise CallbackError("tz", str(exc)) from None
    try:
        e164 = parse(number_e164, region).e164
    except InvalidNumber as exc:
        raise CallbackError("number_e164", exc.reason) from None
    try:
        src = CallbackSource(source)
    except ValueError:
        raise CallbackError("source", "expected agent, ivr or dialer") from None
    if note is not None and (len(note) > MAX_NOTE or "\x00" in note):
        raise CallbackError("note", f"at most {MAX_NOTE} characters, no NUL")
    if not 0 <= fallback_after_minutes <= 7 * 24 * 60:
        raise CallbackError("fallback_after_minutes", "between 0 and 10080")
    callback = Callback(
        number_e164=e164,
        contact_id=contact_id,
        lead_id=lead_id,
        campaign_id=campaign_id,
        due_at=due_at.astimezone(UTC),
        tz=tz,
        agent_id=agent_id,
        fallback_after_minutes=fallback_after_minutes,
        status=CallbackStatus.pending,
        source=src,
        note=note,
        created_by=created_by,
    )
    session.add(callback)
    if lead_id is not None:
        await session.execute(update(Lead).where(Lead.id == lead_id).values(status="callback"))
    await session.flush()
    return callback
