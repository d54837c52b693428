"""Preview dialling for agents: see the next lead, then dial it (agent's phone first) or skip it.

`GET /agent/preview` answers the lead reserved for this ready agent from a running preview campaign of
one of their queues (or null); `POST /agent/preview/{lead_id}/dial` places the call through the dialer
engine with the calling rules checked again; `POST /agent/preview/{lead_id}/skip` gives the lead back.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, status

from app.deps import Agent, Dialer, my_phone
from core.errors import NotFound

router = APIRouter(prefix="/agent/preview", tags=["agent"])
LeadId = Annotated[int, Path(ge=1, le=2**62)]


@router.get("")
async def next_lead(ident: Agent, service: Dialer) -> Any:
    """The next lead to preview, reserved for this agent for a bounded time; null when none."""
    return await service.preview_next(ident.user.id, my_phone(ident))


@router.post("/{lead_id}/dial", status_code=status.HTTP_202_ACCEPTED)
async def dial(lead_id: LeadId, ident: Agent, service: Dialer) -> dict[str, Any]:
    channel_id = await service.preview_dial(ident.user.id, my_phone(ident), lead_id)  # PreviewError: mapped
    return {"lead_id": lead_id, "linkedid": channel_id}


@router.post("/{lead_id}/skip", status_code=status.HTTP_204_NO_CONTENT)
async def skip(lead_id: LeadId, ident: Agent, service: Dialer) -> None:
    if not service.preview_skip(ident.user.id, lead_id):
        raise NotFound("this lead is not held for you")
