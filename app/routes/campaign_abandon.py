"""A campaign's abandon message from a recording: what a person answered when no agent is free hears, in
place of the stock prompts and the callback number said digit by digit. Uploaded like the machine message
(app/campaign_sounds.py: any format sox reads, converted to 8 kHz mono WAV) and audited; the dialer passes
its name to the dialplan from its next call (dialer/engine/facts.py, `[plateau-dialer-message]`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from app import campaign_service as svc
from app import campaign_sounds
from app.campaign_schemas import CampaignOut
from app.deps import Config, Db, Manager
from app.errors import unprocessable
from app.routes.uploads import multipart, receive_file
from app.schemas import PathId
from core.audit import audit

router = APIRouter(tags=["outbound"])


class AbandonForm(BaseModel):
    """No field besides the file."""


@router.post(
    "/campaigns/{campaign_id}/abandon-message",
    response_model=CampaignOut,
    openapi_extra=multipart(
        AbandonForm, "the abandon message (who is calling, a number to call back): WAV, OGG, FLAC or MP3"
    ),
)
async def upload_abandon_message(
    campaign_id: PathId, request: Request, ident: Manager, db: Db, settings: Config
) -> Any:
    """Converted with sox to what Asterisk plays and named as the campaign's `abandon_message`; a file sox
    cannot read is a 422 and changes nothing (the previous message keeps playing)."""
    c = await svc.campaign(db, campaign_id)
    path, size, filename, _ = await receive_file(request, AbandonForm, settings.max_upload_bytes)
    try:
        sound = await campaign_sounds.convert(
            Path(path), campaign_sounds.kind_of(filename), settings.pbx_sounds_dir, c.id, "abandon"
        )
    except campaign_sounds.RecordingError as exc:
        raise unprocessable("file", str(exc), "form") from None
    finally:
        os.unlink(path)  # the spooled upload
    c.abandon_message = sound
    audit(db, "campaign_abandon_message_uploaded", user_id=ident.user.id, target_type="campaign",
          target_id=c.id, detail={"file": filename[:120], "bytes": size, "sound": sound},
          request=request)  # fmt: skip
    await db.commit()
    await db.refresh(c)
    return await svc.out(db, c)


@router.delete("/campaigns/{campaign_id}/abandon-message", response_model=CampaignOut)
async def remove_abandon_message(campaign_id: PathId, request: Request, ident: Manager, db: Db) -> Any:
    """Back to the stock prompts and the callback number; the file stays (a call may be playing it)."""
    c = await svc.campaign(db, campaign_id)
    before, c.abandon_message = c.abandon_message, None
    audit(db, "campaign_abandon_message_removed", user_id=ident.user.id, target_type="campaign",
          target_id=c.id, detail={"sound": before}, request=request)  # fmt: skip
    await db.commit()
    await db.refresh(c)
    return await svc.out(db, c)
