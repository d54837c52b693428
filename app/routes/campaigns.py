"""Campaigns (CRUD and the draft → running ⇄ paused → stopped / finished state machine), compliance rule
sets (shipped and custom) and callbacks. Every change is written to the audit log."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import campaign_sounds
from app.audit import audit
from app.errors import invalid_lines, unprocessable
from app.models import Queue, QueueMember, Role, Team, User, utcnow
from app.recordings import Policy as RecordingPolicy
from app.routes.lists import _multipart, _receive_file
from app.schemas import ORM, Id, Limit, Name, PathId, RetentionDays, SoundName, Text
from app.security import ANY_ROLE, Identity, get_db, require
from core.errors import Conflict, NotFound
from cti.numbers import InvalidNumber, parse
from dialer.callbacks import CallbackError, callback_audience, schedule_callback
from dialer.campaign_readiness import ReadinessFacts, dial_blockers
from dialer.campaigns import (
    DEFAULT_RETRY_RULES,
    LOCKED_WHEN_RUNNING,
    StartFacts,
    TransitionRefused,
    check_transition,
    parse_retry_rules,
    start_blockers,
)
from dialer.compliance import Reason, RuleSet, builtin_rule_sets, check, clone_rule_set, parse_rule_set
from dialer.compliance_zones import UnknownZone, zone_info
from dialer.croc import shipped_script_paths
from dialer.leads_model import Lead, LeadNumber
from dialer.messages import MessageError, sound_name
from dialer.model_errors import ContentError
from dialer.models import Callback as CallbackRow
from dialer.models import (
    CallbackSource,
    CallbackStatus,
    CallList,
    Campaign,
    CampaignList,
    CampaignState,
    CustomRuleSet,
    DialMode,
    MachineAction,
)
from dialer.models import Lead as LeadRow
from dialer.store import rule_set_named

router = APIRouter(tags=["campaigns"])
RuleSetName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


def _bounded(value: datetime) -> datetime:
    """An instant the database and zone arithmetic can hold (years 1971 to 9000)."""
    if not 1971 <= value.year <= 9000:
        raise ValueError("the year must be between 1971 and 9000")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(_bounded)]
manager = require(Role.manager)
any_role = require(*ANY_ROLE)


def _script_names() -> set[str]:
    return {p.stem for p in shipped_script_paths()}


# --- campaigns -----------------------------------------------------------------------------------
class CampaignIn(BaseModel):
    name: Name  # type: ignore[valid-type]
    list_ids: list[Id] = Field(default_factory=list, max_length=50)  # type: ignore[valid-type]
    queue_id: int | None = Field(default=None, ge=1, le=2**62)
    team_id: int | None = Field(default=None, ge=1, le=2**62)
    dial_mode: DialMode = DialMode.progressive
    dial_ratio: float = Field(default=1.0, ge=1.0, le=5.0)
    caller_id: Text(32) | None = None  # type: ignore[valid-type]
    script: Text(120) | None = None  # type: ignore[valid-type]
    max_channels: int = Field(default=10, ge=1, le=1000)
    amd_enabled: bool = False
    amd_machine_action: MachineAction = MachineAction.hangup
    retry_rules: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_RETRY_RULES))
    rule_set: Text(64, 1) = "FR-2023"  # type: ignore[valid-type]
    callback_fallback_minutes: int = Field(default=30, ge=0, le=7 * 24 * 60)
    callback_number: Text(32) | None = None  # type: ignore[valid-type]
    machine_message: Text(80) | None = None  # type: ignore[valid-type]
    recording_policy: RecordingPolicy = RecordingPolicy.none
    recording_announcement: SoundName | None = None
    recording_retention_days: RetentionDays | None = None
    survey: bool = False  # the post-call survey is offered on its calls (the desk's button)


class CampaignPatch(BaseModel):
    name: Name | None = None  # type: ignore[valid-type]
    list_ids: list[Id] | None = Field(default=None, max_length=50)  # type: ignore[valid-type]
    queue_id: int | None = Field(default=None, ge=1, le=2**62)
    team_id: int | None = Field(default=None, ge=1, le=2**62)
    dial_mode: DialMode | None = None
    dial_ratio: float | None = Field(default=None, ge=1.0, le=5.0)
    caller_id: Text(32) | None = None  # type: ignore[valid-type]
    script: Text(120) | None = None  # type: ignore[valid-type]
    max_channels: int | None = Field(default=None, ge=1, le=1000)
    amd_enabled: bool | None = None
    amd_machine_action: MachineAction | None = None
    retry_rules: dict[str, Any] | None = None
    rule_set: Text(64, 1) | None = None  # type: ignore[valid-type]
    callback_fallback_minutes: int | None = Field(default=None, ge=0, le=7 * 24 * 60)
    callback_number: Text(32) | None = None  # type: ignore[valid-type]
    machine_message: Text(80) | None = None  # type: ignore[valid-type]
    recording_policy: RecordingPolicy | None = None
    recording_announcement: SoundName | None = None
    recording_retention_days: RetentionDays | None = None
    survey: bool | None = None


class CampaignOut(ORM):
    id: int
    name: str
    list_ids: list[int] = []
    queue_id: int | None
    team_id: int | None
    dial_mode: DialMode
    dial_ratio: float
    caller_id: str | None
    script: str | None
    max_channels: int
    amd_enabled: bool
    amd_machine_action: MachineAction
    retry_rules: dict[str, Any]
    rule_set: str
    callback_fallback_minutes: int
    callback_number: str | None = None
    machine_message: str | None = None
    recording_policy: str = "none"
    recording_announcement: str | None = None
    recording_retention_days: int | None = None
    survey: bool = False
    state: CampaignState
    state_changed_at: datetime | None
    state_changed_by: int | None
    created_at: datetime
    updated_at: datetime


class TransitionIn(BaseModel):
    to: CampaignState


async def _campaign(db: AsyncSession, campaign_id: int) -> Campaign:
    c = await db.get(Campaign, campaign_id)
    if c is None:
        raise NotFound("no such campaign")
    return c


async def _list_ids(db: AsyncSession, campaign_id: int) -> list[int]:
    return list(
        await db.scalars(
            select(CampaignList.list_id)
            .where(CampaignList.campaign_id == campaign_id)
            .order_by(CampaignList.priority)
        )
    )


async def _out(db: AsyncSession, c: Campaign) -> CampaignOut:
    out = CampaignOut.model_validate(c)
    out.list_ids = await _list_ids(db, c.id)
    return out


async def _validate(db: AsyncSession, values: dict[str, Any]) -> dict[str, Any]:
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
    if values.get("script") and values["script"] not in _script_names():
        raise unprocessable(
            "script", f"no script named {values['script']!r}; known: {', '.join(sorted(_script_names()))}"
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


async def _set_lists(db: AsyncSession, campaign_id: int, list_ids: list[int]) -> None:
    await db.execute(delete(CampaignList).where(CampaignList.campaign_id == campaign_id))
    for priority, list_id in enumerate(dict.fromkeys(list_ids)):
        db.add(CampaignList(campaign_id=campaign_id, list_id=list_id, priority=priority))


@router.post("/campaigns", response_model=CampaignOut, status_code=201)
async def create_campaign(
    body: CampaignIn, request: Request, ident: Identity = Depends(manager), db: AsyncSession = Depends(get_db)
) -> Any:
    return await _out(db, await insert_campaign(db, body, user_id=ident.user.id, request=request))


async def insert_campaign(
    db: AsyncSession, body: CampaignIn, *, user_id: int | None, request: Request | None
) -> Campaign:
    """Check and store a new draft campaign, audited: the API's and `plateau campaign create`'s one way."""
    values = await _validate(db, body.model_dump())
    list_ids = values.pop("list_ids")
    c = Campaign(**values, state=CampaignState.draft, state_changed_at=utcnow(), state_changed_by=user_id)
    db.add(c)
    try:
        await db.flush()
    except IntegrityError:
        await db.rollback()
        raise Conflict(f"a campaign named {body.name!r} already exists") from None
    await _set_lists(db, c.id, list_ids)
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


@router.get("/campaigns", response_model=list[CampaignOut])
async def list_campaigns(
    state: CampaignState | None = None, _: Identity = Depends(manager), db: AsyncSession = Depends(get_db)
) -> Any:
    q = select(Campaign).order_by(Campaign.name)
    if state is not None:
        q = q.where(Campaign.state == state)
    return [await _out(db, c) for c in await db.scalars(q)]


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut)
async def get_campaign(
    campaign_id: PathId, _: Identity = Depends(manager), db: AsyncSession = Depends(get_db)
) -> Any:
    return await _out(db, await _campaign(db, campaign_id))


@router.patch("/campaigns/{campaign_id}", response_model=CampaignOut)
async def update_campaign(
    campaign_id: PathId,
    body: CampaignPatch,
    request: Request,
    ident: Identity = Depends(manager),
    db: AsyncSession = Depends(get_db),
) -> Any:
    c = await _campaign(db, campaign_id)
    changes = body.model_dump(exclude_unset=True)
    if c.state in (CampaignState.stopped, CampaignState.finished):
        raise Conflict(f"a {c.state.value} campaign cannot be edited")
    locked = sorted(LOCKED_WHEN_RUNNING & changes.keys())
    if c.state is CampaignState.running and locked:
        raise Conflict(f"pause the campaign before changing {', '.join(locked)}")
    for key in (
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
    ):
        if key in changes and changes[key] is None:
            raise unprocessable(key, "cannot be null")
    changes = await _validate(db, changes)
    list_ids = changes.pop("list_ids", None)
    for key, value in changes.items():
        setattr(c, key, value)
    if list_ids is not None:
        await _set_lists(db, c.id, list_ids)
    try:
        await db.flush()
    except IntegrityError:
        await db.rollback()
        raise Conflict("another campaign has this name") from None
    audit(
        db,
        "campaign_updated",
        user_id=ident.user.id,
        target_type="campaign",
        target_id=c.id,
        detail={"fields": sorted([*changes, *(["list_ids"] if list_ids is not None else [])])},
        request=request,
    )
    await db.commit()
    await db.refresh(c)
    return await _out(db, c)


@router.delete("/campaigns/{campaign_id}", status_code=204)
async def delete_campaign(
    campaign_id: PathId,
    request: Request,
    ident: Identity = Depends(manager),
    db: AsyncSession = Depends(get_db),
) -> None:
    c = await _campaign(db, campaign_id)
    if c.state is not CampaignState.draft:
        raise Conflict(f"only a draft campaign can be deleted; this one is {c.state.value} (stop it)")
    await db.delete(c)
    audit(
        db,
        "campaign_deleted",
        user_id=ident.user.id,
        target_type="campaign",
        target_id=campaign_id,
        detail={"name": c.name},
        request=request,
    )
    await db.commit()


async def start_facts(db: AsyncSession, c: Campaign) -> StartFacts:
    list_ids = await _list_ids(db, c.id)
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
        script_known=None if not c.script else c.script in _script_names(),
        has_queue_or_team=c.queue_id is not None or c.team_id is not None,
    )


async def readiness_facts(db: AsyncSession, c: Campaign, country: str) -> ReadinessFacts:
    """What `dialer.campaign_readiness` decides from, read for one campaign."""
    start = await start_facts(db, c)
    list_ids = await _list_ids(db, c.id)
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


class BlockerOut(BaseModel):
    code: str
    text: str
    at: datetime | None = None


@router.get("/campaigns/{campaign_id}/readiness", response_model=list[BlockerOut])
async def readiness(
    campaign_id: PathId, request: Request, _: Identity = Depends(manager), db: AsyncSession = Depends(get_db)
) -> Any:
    """Every reason the campaign cannot legally dial now (empty: it can); a start is refused only for
    the ones a start needs (lists, leads, rule set, script, queue or team)."""
    c = await _campaign(db, campaign_id)
    facts = await readiness_facts(db, c, request.app.state.settings.default_region)
    return [BlockerOut(code=b.code, text=b.text, at=b.at) for b in dial_blockers(facts, utcnow())]


@router.post("/campaigns/{campaign_id}/transition", response_model=CampaignOut)
async def transition(
    campaign_id: PathId,
    body: TransitionIn,
    request: Request,
    ident: Identity = Depends(manager),
    db: AsyncSession = Depends(get_db),
) -> Any:
    c = await _campaign(db, campaign_id)
    try:
        check_transition(c.state, body.to)
    except TransitionRefused as exc:
        raise Conflict(str(exc)) from None
    if body.to is CampaignState.running:
        blockers = start_blockers(await start_facts(db, c))
        if blockers:
            raise Conflict("the campaign cannot start: " + "; ".join(blockers))
    previous = c.state
    c.state, c.state_changed_at, c.state_changed_by = body.to, utcnow(), ident.user.id
    audit(
        db,
        "campaign_state_changed",
        user_id=ident.user.id,
        target_type="campaign",
        target_id=c.id,
        detail={"from": previous.value, "to": body.to.value},
        request=request,
    )
    await db.commit()
    dialer = getattr(request.app.state, "dialer", None)
    if dialer is not None:  # a pause or stop holds before this answer leaves; a start begins at once
        dialer.campaign_changed(c.id, body.to)
    return await _out(db, c)


class RecordingForm(BaseModel):
    """No field besides the file."""


@router.post(
    "/campaigns/{campaign_id}/recording",
    response_model=CampaignOut,
    openapi_extra=_multipart(RecordingForm, "the message left on answering machines: WAV, OGG, FLAC or MP3"),
)
async def upload_recording(
    campaign_id: PathId,
    request: Request,
    ident: Identity = Depends(manager),
    db: AsyncSession = Depends(get_db),
) -> Any:
    """The campaign's recording, converted with sox to what Asterisk plays (8 kHz mono WAV) and named as
    its `machine_message`; a file sox cannot read is a 422 and changes nothing."""
    c = await _campaign(db, campaign_id)
    settings = request.app.state.settings
    path, size, filename, _ = await _receive_file(request, RecordingForm, settings.max_upload_bytes)
    try:
        sound = await campaign_sounds.convert(
            FilePath(path), campaign_sounds.kind_of(filename), settings.pbx_sounds_dir, c.id
        )
    except campaign_sounds.RecordingError as exc:
        raise unprocessable("file", str(exc), "form") from None
    finally:
        os.unlink(path)  # the spooled upload
    c.machine_message = sound
    audit(
        db,
        "campaign_recording_uploaded",
        user_id=ident.user.id,
        target_type="campaign",
        target_id=c.id,
        detail={"file": filename[:120], "bytes": size, "sound": sound},
        request=request,
    )
    await db.commit()
    await db.refresh(c)
    return await _out(db, c)


# --- rule sets -----------------------------------------------------------------------------------
class RuleSetIn(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    base: str | None = Field(default=None, max_length=64)  # copy a shipped or custom rule set, then apply
    rules: dict[str, Any] = Field(default_factory=dict)


class RuleSetOut(BaseModel):
    name: str
    shipped: bool
    rules: dict[str, Any]


@router.get("/rule-sets", response_model=list[RuleSetOut])
async def list_rule_sets(_: Identity = Depends(manager), db: AsyncSession = Depends(get_db)) -> Any:
    out = [
        RuleSetOut(name=n, shipped=True, rules=rs.to_data()) for n, rs in sorted(builtin_rule_sets().items())
    ]
    for row in await db.scalars(select(CustomRuleSet).order_by(CustomRuleSet.name)):
        out.append(RuleSetOut(name=row.name, shipped=False, rules=row.data))
    return out


@router.get("/rule-sets/{name}", response_model=RuleSetOut)
async def get_rule_set(
    name: RuleSetName, _: Identity = Depends(manager), db: AsyncSession = Depends(get_db)
) -> Any:
    rs = await rule_set_named(db, name)
    if rs is None:
        raise NotFound("no such rule set")
    return RuleSetOut(name=rs.name, shipped=name in builtin_rule_sets(), rules=rs.to_data())


def _build(name: str, base: RuleSet | None, rules: dict[str, Any]) -> RuleSet:
    try:
        if base is not None:
            return clone_rule_set(base, name, {k: v for k, v in rules.items() if k != "name"})
        return parse_rule_set({**rules, "name": name}, f"rule set {name!r}")
    except ContentError as exc:
        raise invalid_lines("rules", exc.errors) from None


@router.post("/rule-sets", response_model=RuleSetOut, status_code=201)
async def create_rule_set(
    body: RuleSetIn, request: Request, ident: Identity = Depends(manager), db: AsyncSession = Depends(get_db)
) -> Any:
    if body.name in builtin_rule_sets() or await db.scalar(
        select(CustomRuleSet.id).where(CustomRuleSet.name == body.name)
    ):
        raise Conflict(f"a rule set named {body.name!r} already exists")
    base = None
    if body.base is not None:
        base = await rule_set_named(db, body.base)
        if base is None:
            raise unprocessable("base", f"no rule set named {body.base!r}")
    rs = _build(body.name, base, body.rules)
    db.add(CustomRuleSet(name=rs.name, data=rs.to_data(), updated_by=ident.user.id))
    audit(
        db,
        "rule_set_created",
        user_id=ident.user.id,
        target_type="rule_set",
        target_id=rs.name,
        detail={"base": body.base, "rules": rs.to_data()},
        request=request,
    )
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
        raise Conflict(f"a rule set named {body.name!r} already exists") from None
    return RuleSetOut(name=rs.name, shipped=False, rules=rs.to_data())


@router.put("/rule-sets/{name}", response_model=RuleSetOut)
async def edit_rule_set(
    name: RuleSetName,
    body: dict[str, Any],
    request: Request,
    ident: Identity = Depends(manager),
    db: AsyncSession = Depends(get_db),
) -> Any:
    if name in builtin_rule_sets():
        raise Conflict(f"{name} is a shipped rule set and cannot be edited; create a copy with base={name!r}")
    row = await db.scalar(select(CustomRuleSet).where(CustomRuleSet.name == name))
    if row is None:
        raise NotFound("no such rule set")
    rs = _build(row.name, None, body)
    before = row.data
    row.data, row.updated_by = rs.to_data(), ident.user.id
    audit(
        db,
        "rule_set_updated",
        user_id=ident.user.id,
        target_type="rule_set",
        target_id=row.name,
        detail={"before": before, "after": row.data},
        request=request,
    )
    await db.commit()
    return RuleSetOut(name=row.name, shipped=False, rules=row.data)


# --- callbacks -----------------------------------------------------------------------------------
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


def _cb_out(cb: CallbackRow, now: datetime) -> CallbackOut:
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


@router.post("/callbacks", response_model=CallbackOut, status_code=201)
async def create_callback(
    body: CallbackIn,
    request: Request,
    ident: Identity = Depends(any_role),
    db: AsyncSession = Depends(get_db),
) -> Any:
    agent_id = ident.user.id if body.for_me else body.agent_id
    if ident.role is Role.agent and agent_id not in (None, ident.user.id):
        raise HTTPException(403, "an agent schedules callbacks for themselves or for anyone")
    if agent_id is not None and await db.get(User, agent_id) is None:
        raise unprocessable("agent_id", "no such user")
    try:
        e164 = parse(body.number, request.app.state.settings.default_region).e164
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
            _check_window(rs, number, body.due_at)
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
            created_by=ident.user.id,
        )
    except CallbackError as exc:
        raise unprocessable(exc.field, exc.message) from None
    except IntegrityError:
        await db.rollback()
        raise unprocessable("contact_id", "no such contact or lead") from None
    audit(
        db,
        "callback_scheduled",
        user_id=ident.user.id,
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
    return _cb_out(cb, utcnow())


def _check_window(rs: RuleSet, number: LeadNumber, due_at: datetime) -> None:
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


@router.get("/callbacks", response_model=list[CallbackOut])
async def list_callbacks(
    status: CallbackStatus | None = CallbackStatus.pending,
    mine: bool = False,
    due_before: Annotated[Instant | None, Query()] = None,  # type: ignore[valid-type]
    limit: Limit = 100,
    ident: Identity = Depends(any_role),
    db: AsyncSession = Depends(get_db),
) -> Any:
    q = select(CallbackRow).order_by(CallbackRow.due_at, CallbackRow.id).limit(limit)
    if status is not None:
        q = q.where(CallbackRow.status == status)
    if due_before is not None:
        q = q.where(CallbackRow.due_at <= due_before)
    if mine or ident.role is Role.agent:
        # An agent sees their own callbacks and those for anyone.
        q = q.where(
            (CallbackRow.agent_id == ident.user.id) | (CallbackRow.agent_id.is_(None))
            if not mine
            else CallbackRow.agent_id == ident.user.id
        )
    now = utcnow()
    return [_cb_out(cb, now) for cb in await db.scalars(q)]


@router.post("/callbacks/{callback_id}/cancel", response_model=CallbackOut)
async def cancel_callback(
    callback_id: PathId,
    request: Request,
    ident: Identity = Depends(any_role),
    db: AsyncSession = Depends(get_db),
) -> Any:
    cb = await db.get(CallbackRow, callback_id)
    if cb is None:
        raise NotFound("no such callback")
    if ident.role is Role.agent and cb.agent_id != ident.user.id and cb.created_by != ident.user.id:
        raise HTTPException(403, "only the agent it is for, its author or a manager may cancel it")
    if cb.status is not CallbackStatus.pending:
        raise Conflict(f"the callback is already {cb.status.value}")
    cb.status, cb.closed_at = CallbackStatus.cancelled, utcnow()
    audit(
        db,
        "callback_cancelled",
        user_id=ident.user.id,
        target_type="callback",
        target_id=cb.id,
        request=request,
    )
    await db.commit()
    return _cb_out(cb, utcnow())
