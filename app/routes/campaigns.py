"""Campaigns over the API: CRUD and the draft → running ⇄ paused → stopped / finished state machine.
The rules are app/campaign_service.py's (shared with the pages and the CLI); rule sets and callbacks have
their own routers (app/routes/rule_sets.py, app/routes/callbacks.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import select

from app import campaign_service as svc
from app.campaign_schemas import BlockerOut, CampaignIn, CampaignOut, CampaignPatch, TransitionIn
from app.deps import Config, Db, Manager, MaybeDialer
from app.routes.uploads import multipart, receive_file
from app.schemas import PathId
from core.dialer_tables import Campaign, CampaignState
from core.models import utcnow
from dialer.campaign_readiness import dial_blockers

router = APIRouter(tags=["campaigns"])


@router.post("/campaigns", response_model=CampaignOut, status_code=201)
async def create_campaign(body: CampaignIn, request: Request, ident: Manager, db: Db) -> Any:
    return await svc.out(db, await svc.insert_campaign(db, body, user_id=ident.user.id, request=request))


@router.get("/campaigns", response_model=list[CampaignOut])
async def list_campaigns(_: Manager, db: Db, state: CampaignState | None = None) -> Any:
    q = select(Campaign).order_by(Campaign.name)
    if state is not None:
        q = q.where(Campaign.state == state)
    return [await svc.out(db, c) for c in await db.scalars(q)]


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut)
async def get_campaign(campaign_id: PathId, _: Manager, db: Db) -> Any:
    return await svc.out(db, await svc.campaign(db, campaign_id))


@router.patch("/campaigns/{campaign_id}", response_model=CampaignOut)
async def update_campaign(
    campaign_id: PathId, body: CampaignPatch, request: Request, ident: Manager, db: Db
) -> Any:
    changes = body.model_dump(exclude_unset=True)
    c = await svc.update_campaign(db, campaign_id, changes, user_id=ident.user.id, request=request)
    return await svc.out(db, c)


@router.delete("/campaigns/{campaign_id}", status_code=204)
async def delete_campaign(campaign_id: PathId, request: Request, ident: Manager, db: Db) -> None:
    await svc.delete_campaign(db, campaign_id, user_id=ident.user.id, request=request)


@router.get("/campaigns/{campaign_id}/readiness", response_model=list[BlockerOut])
async def readiness(campaign_id: PathId, settings: Config, _: Manager, db: Db) -> Any:
    """Every reason the campaign cannot legally dial now (empty: it can); a start is refused only for
    the ones a start needs (lists, leads, rule set, script, queue or team)."""
    c = await svc.campaign(db, campaign_id)
    facts = await svc.readiness_facts(db, c, settings.default_region)
    return [BlockerOut(code=b.code, text=b.text, at=b.at) for b in dial_blockers(facts, utcnow())]


@router.post("/campaigns/{campaign_id}/transition", response_model=CampaignOut)
async def transition(
    campaign_id: PathId, body: TransitionIn, request: Request, dialer: MaybeDialer, ident: Manager, db: Db
) -> Any:
    c = await svc.change_state(db, campaign_id, body.to, dialer, user_id=ident.user.id, request=request)
    return await svc.out(db, c)


class RecordingForm(BaseModel):
    """No field besides the file."""


@router.post(
    "/campaigns/{campaign_id}/recording",
    response_model=CampaignOut,
    openapi_extra=multipart(RecordingForm, "the message left on answering machines: WAV, OGG, FLAC or MP3"),
)
async def upload_recording(
    campaign_id: PathId, request: Request, settings: Config, ident: Manager, db: Db
) -> Any:
    """The campaign's recording, converted with sox to what Asterisk plays (8 kHz mono WAV) and named as
    its `machine_message`; a file sox cannot read is a 422 and changes nothing."""
    c = await svc.campaign(db, campaign_id)
    path, size, filename, _ = await receive_file(request, RecordingForm, settings.max_upload_bytes)
    c = await svc.replace_recording(
        db, c, path, filename, size, settings.pbx_sounds_dir, user_id=ident.user.id, request=request
    )
    return await svc.out(db, c)
