"""Campaigns: checking and storing them, their state machine and what a start needs; the API, the pages
and `plateau campaign create` share these. Every change is written to the audit log."""

from __future__ import annotations

import os
from pathlib import Path as FilePath
from typing import Any

from fastapi import Request
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import campaign_sounds
from app.campaign_schemas import CampaignIn, CampaignOut
from app.errors import invalid_lines, unprocessable
from core.audit import audit
from core.dialer_tables import (
    CallList,
    Campaign,
    CampaignList,
    CampaignState,
)
from core.dialer_tables import Lead as LeadRow
from core.errors import Conflict, NotFound
from core.model_errors import ContentError
from core.models import Queue, QueueMember, Role, Team, User, utcnow
from cti.numbers import InvalidNumber, parse
from dialer.campaign_readiness import ReadinessFacts
from dialer.campaigns import (
    LOCKED_WHEN_RUNNING,
    StartFacts,
    check_transition,
    parse_retry_rules,
    start_blockers,
)
from dialer.croc import shipped_script_paths
from dialer.engine import DialerService
from dialer.messages import MessageError, sound_name
from dialer.store import rule_set_named

# what a PATCH may not set to null
NOT_NULL = (
    "name",
    "dial_mode",
    "dial_ratio",
    "max_channels",
    "amd_enabled",
    "amd_machine_action",
    "rule_set",
    "callback_fallback_minutes",
    "retry_rules",
    "recording_policy",
    "survey",
)


def script_names() -> set[str]:
    return {p.stem for p in shipped_script_paths()}


async def campaign(db: AsyncSession, campaign_id: int) -> Campaign:
    c = await db.get(Campaign, campaign_id)
    if c is None:
        raise NotFound("no such campaign")
    return c


async def campaign_list_ids(db: AsyncSession, campaign_id: int) -> list[int]:
    return list(
        await db.scalars(
            select(CampaignList.list_id)
            .where(CampaignList.campaign_id == campaign_id)
            .order_by(CampaignList.priority)
        )
    )


async def out(db: AsyncSession, c: Campaign) -> CampaignOut:
    out = CampaignOut.model_validate(c)
    out.list_ids = await campaign_list_ids(db, c.id)
    return out


async def validate(db: AsyncSession, values: dict[str, Any]) -> dict[str, Any]:
    """Check references and content fields; returns the values to store (normalised)."""
    if values.get("queue_id") is not None and await db.get(Queue, values["queue_id"]) is None:
        raise unprocessable("queue_id", "no such queue")
    if values.get("team_id") is not None and await db.get(Team, values["team_id"]) is None:
        raise unprocessable("team_id", "no such team")
    for i, list_id in enumerate(values.get("list_ids") or []):
        if await db.get(CallList, list_id) is None:
            raise unprocessable(("list_ids", i), "no such call list")
    if values.get("caller_id"):
        try:
            values["caller_id"] = parse(values["caller_id"]).e164
        except InvalidNumber as exc:
            raise unprocessable("caller_id", exc.reason) from None
    if values.get("callback_number"):
        try:
            values["callback_number"] = parse(values["callback_number"]).e164
        except InvalidNumber as exc:
            raise unprocessable("callback_number", exc.reason) from None
    if values.get("machine_message"):
        try:
            values["machine_message"] = sound_name(values["machine_message"])
        except MessageError as exc:
            raise unprocessable(exc.field, exc.message) from None
    if values.get("script") and values["script"] not in script_names():
        raise unprocessable(
            "script", f"no script named {values['script']!r}; known: {', '.join(sorted(script_names()))}"
        )
    if "rule_set" in values and values["rule_set"] is not None:
        if await rule_set_named(db, values["rule_set"]) is None:
            raise unprocessable("rule_set", f"no rule set named {values['rule_set']!r}")
    if values.get("retry_rules") is not None:
        try:
            rules = parse_retry_rules(values["retry_rules"])
        except ContentError as exc:
            raise invalid_lines("retry_rules", exc.errors) from None
        values["retry_rules"] = {k: r.model_dump() for k, r in rules.items()}
    return values


async def set_lists(db: AsyncSession, campaign_id: int, list_ids: list[int]) -> None:
    await db.execute(delete(CampaignList).where(CampaignList.campaign_id == campaign_id))
    for priority, list_id in enumerate(dict.fromkeys(list_ids)):
        db.add(CampaignList(campaign_id=campaign_id, list_id=list_id, priority=priority))


async def insert_campaign(
    db: AsyncSession, body: CampaignIn, *, user_id: int | None, request: Request | None
) -> Campaign:
    """Check and store a new draft campaign, audited: the API's and `plateau campaign create`'s one way."""
    values = await validate(db, body.model_dump())
    list_ids = values.pop("list_ids")
    c = Campaign(**values, state=CampaignState.draft, state_changed_at=utcnow(), state_changed_by=user_id)
    db.add(c)
    try:
        await db.flush()
    except IntegrityError:
        await db.rollback()
        raise Conflict(f"a campaign named {body.name!r} already exists") from None
    await set_lists(db, c.id, list_ids)
    audit(
        db,
        "campaign_created",
        user_id=user_id,
        target_type="campaign",
        target_id=c.id,
        detail={"name": c.name, "rule_set": c.rule_set, "dial_mode": c.dial_mode.value},
        request=request,
    )
    await db.commit()
    return c


async def start_facts(db: AsyncSession, c: Campaign) -> StartFacts:
    list_ids = await campaign_list_ids(db, c.id)
    leads = 0
    if list_ids:
        leads = int(
            await db.scalar(
                select(func.coalesce(func.sum(CallList.lead_count), 0)).where(CallList.id.in_(list_ids))
            )
            or 0
        )
    return StartFacts(
        lists=len(list_ids),
        leads=leads,
        rule_set_known=await rule_set_named(db, c.rule_set) is not None,
        script_known=None if not c.script else c.script in script_names(),
        has_queue_or_team=c.queue_id is not None or c.team_id is not None,
    )


async def readiness_facts(db: AsyncSession, c: Campaign, country: str) -> ReadinessFacts:
    """What `dialer.campaign_readiness` decides from, read for one campaign."""
    start = await start_facts(db, c)
    list_ids = await campaign_list_ids(db, c.id)
    consented = 0
    if list_ids:
        consented = int(
            await db.scalar(
                select(func.count())
                .select_from(LeadRow)
                .where(LeadRow.list_id.in_(list_ids), LeadRow.consent)
            )
            or 0
        )
    agents = select(func.count()).select_from(User).where(User.active, User.role == Role.agent)
    if c.queue_id is not None:
        agents = agents.where(
            User.id.in_(select(QueueMember.user_id).where(QueueMember.queue_id == c.queue_id))
        )
    elif c.team_id is not None:
        agents = agents.where(User.team_id == c.team_id)
    return ReadinessFacts(
        start=start,
        rule_set=await rule_set_named(db, c.rule_set),
        consented_leads=consented,
        agents=int(await db.scalar(agents) or 0) if start.has_queue_or_team else 0,
        country=country,
    )


async def update_campaign(
    db: AsyncSession, campaign_id: int, changes: dict[str, Any], *, user_id: int, request: Request | None
) -> Campaign:
    """Apply a PATCH: refused once stopped or finished, and for the dialling fields while running."""
    c = await campaign(db, campaign_id)
    if c.state in (CampaignState.stopped, CampaignState.finished):
        raise Conflict(f"a {c.state.value} campaign cannot be edited")
    locked = sorted(LOCKED_WHEN_RUNNING & changes.keys())
    if c.state is CampaignState.running and locked:
        raise Conflict(f"pause the campaign before changing {', '.join(locked)}")
    for key in NOT_NULL:
        if key in changes and changes[key] is None:
            raise unprocessable(key, "cannot be null")
    changes = await validate(db, changes)
    new_lists = changes.pop("list_ids", None)
    for key, value in changes.items():
        setattr(c, key, value)
    if new_lists is not None:
        await set_lists(db, c.id, new_lists)
    try:
        await db.flush()
    except IntegrityError:
        await db.rollback()
        raise Conflict("another campaign has this name") from None
    audit(
        db,
        "campaign_updated",
        user_id=user_id,
        target_type="campaign",
        target_id=c.id,
        detail={"fields": sorted([*changes, *(["list_ids"] if new_lists is not None else [])])},
        request=request,
    )
    await db.commit()
    await db.refresh(c)
    return c


async def delete_campaign(
    db: AsyncSession, campaign_id: int, *, user_id: int, request: Request | None
) -> None:
    c = await campaign(db, campaign_id)
    if c.state is not CampaignState.draft:
        raise Conflict(f"only a draft campaign can be deleted; this one is {c.state.value} (stop it)")
    await db.delete(c)
    audit(
        db,
        "campaign_deleted",
        user_id=user_id,
        target_type="campaign",
        target_id=campaign_id,
        detail={"name": c.name},
        request=request,
    )
    await db.commit()


async def change_state(
    db: AsyncSession,
    campaign_id: int,
    to: CampaignState,
    dialer: DialerService | None,
    *,
    user_id: int,
    request: Request | None,
) -> Campaign:
    """Move along the state machine (a start needs lists, leads, a rule set, ...) and tell the dialer."""
    c = await campaign(db, campaign_id)
    check_transition(c.state, to)  # TransitionRefused: a 409
    if to is CampaignState.running:
        blockers = start_blockers(await start_facts(db, c))
        if blockers:
            raise Conflict("the campaign cannot start: " + "; ".join(blockers))
    previous = c.state
    c.state, c.state_changed_at, c.state_changed_by = to, utcnow(), user_id
    audit(
        db,
        "campaign_state_changed",
        user_id=user_id,
        target_type="campaign",
        target_id=c.id,
        detail={"from": previous.value, "to": to.value},
        request=request,
    )
    await db.commit()
    if dialer is not None:  # a pause or stop holds before this answer leaves; a start begins at once
        dialer.campaign_changed(c.id, to)
    return c


async def replace_recording(
    db: AsyncSession,
    c: Campaign,
    path: str,
    filename: str,
    size: int,
    sounds_dir: Any,
    *,
    user_id: int,
    request: Request | None,
) -> Campaign:
    """The uploaded message, converted with sox to what Asterisk plays and named as the campaign's
    `machine_message`; a file sox cannot read is refused and changes nothing."""
    try:
        sound = await campaign_sounds.convert(
            FilePath(path), campaign_sounds.kind_of(filename), sounds_dir, c.id
        )
    except campaign_sounds.RecordingError as exc:
        raise unprocessable("file", str(exc), "form") from None
    finally:
        os.unlink(path)  # the spooled upload
    c.machine_message = sound
    audit(
        db,
        "campaign_recording_uploaded",
        user_id=user_id,
        target_type="campaign",
        target_id=c.id,
        detail={"file": filename[:120], "bytes": size, "sound": sound},
        request=request,
    )
    await db.commit()
    await db.refresh(c)
    return c
