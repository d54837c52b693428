"""One call's page: who called (and which customer that is), queue or campaign, agent, times, outcome and
wrap-up, the survey's answers, complaints opened from it and its recording with the timelines' player. Read
through the API's own code (`/api/v1/calls/{id}`, the recordings' scope), so a call out of the user's scope
is a 404 here as there."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import history_service, reason_service, recording_service
from app.security import Identity, get_db
from app.web.pages import dispo_labels, page, page_identity, path_id, user_names
from core.dialer_tables import Campaign
from core.errors import NotFound
from core.models import Complaint, Contact, Interaction, Role

router = APIRouter(include_in_schema=False)
CAMPAIGN_VIEWERS = (Role.supervisor, Role.manager, Role.admin)  # the campaign monitor's own rule


@router.get("/calls/{call_id}")
async def call_page(
    request: Request,
    call_id: str,
    ident: Identity = Depends(page_identity),
    db: AsyncSession = Depends(get_db),
) -> Any:
    number = path_id(call_id)
    if not 1 <= number <= 2**62:
        raise NotFound("no such call")
    call = await history_service.visible_call(db, ident, number)  # 404 out of scope
    contact = await db.get(Contact, call.contact_id) if call.contact_id else None
    campaign = await db.get(Campaign, call.campaign_id) if call.campaign_id else None
    recordings = await recording_service.call_recordings(db, ident, number)
    playable = await recording_service.recordings_of_calls(db, ident, {number})  # those this user may hear
    labels = await dispo_labels(db)
    codes = await db.scalars(
        select(Interaction.disposition_code)
        .where(Interaction.call_id == number, Interaction.disposition_code.is_not(None))
        .order_by(Interaction.at, Interaction.id)
    )
    complaints = list(
        await db.scalars(select(Complaint).where(Complaint.call_id == number).order_by(Complaint.id))
    )
    return page(
        request,
        "call.html",
        ident,
        active="customers",
        call=call,
        contact=contact,
        campaign=campaign,
        campaign_link=ident.role in CAMPAIGN_VIEWERS,
        agent=(await user_names(db, {call.agent_id})).get(call.agent_id) if call.agent_id else None,
        dispositions=[labels.get(c, c) for c in codes if c],
        complaints=complaints,
        reason_labels=reason_service.labels(await reason_service.all_reasons(db), ident.user.language),
        recordings=recordings,
        playable={r.id for r in playable.values()},
    )
