"""Supervisor actions on live calls (listen, whisper, barge) and the live state for non-WebSocket clients."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, StringConstraints
from sqlalchemy import select

from app.deps import Cti, Db, StateDep, Supervisor, my_phone
from app.security import Identity, Role, require
from core.audit import audit
from core.bus import Principal, interface_of
from core.errors import Forbidden, NotFound
from core.models import User
from core.settings import PBX_NAME

router = APIRouter(prefix="/supervisor", tags=["supervisor"])
SUPERVISOR = require(Role.supervisor)


class SpyIn(BaseModel):
    agent: Annotated[str, StringConstraints(pattern=r"^PJSIP/[A-Za-z0-9_\-]{1,80}$")]
    mode: Literal["listen", "whisper", "barge"] = "listen"


@router.post("/spy")
async def spy(
    body: SpyIn,
    request: Request,
    ident: Annotated[Identity, Depends(SUPERVISOR)],
    db: Db,
    service: Cti,
) -> dict[str, str]:
    """Rings the supervisor's own phone, which then hears (whispers to, joins) the agent's call."""
    phone = my_phone(ident)
    target = await db.scalar(select(User).where(User.sip_endpoint == body.agent.removeprefix("PJSIP/")))
    if target is None or target.role is not Role.agent:
        raise NotFound("agent: no such agent")
    # a supervisor oversees their own team only; one without a team, nobody (managers and admins: all)
    if ident.role is Role.supervisor and (ident.user.team_id is None or target.team_id != ident.user.team_id):
        raise Forbidden("agent: not in your team")
    channel_id = await service.spy(phone, body.agent, body.mode)
    audit(
        db,
        f"call.{body.mode}",
        user_id=ident.user.id,
        target_type="user",
        target_id=target.id,
        detail={"agent": body.agent},
        request=request,
    )
    await db.commit()
    return {"channel_id": channel_id}


@router.get("/live")
async def live(
    ident: Supervisor,
    service: Cti,
    state: StateDep,
    pbx: Annotated[str | None, Query(pattern=PBX_NAME, description="one Asterisk server only")] = None,
) -> dict[str, Any]:
    """The same picture a wallboard's WebSocket snapshot gives, for integrations that poll."""
    who = Principal(
        ident.user.id, ident.user.username, ident.role.value, ident.user.team_id, ident.user.sip_endpoint
    )
    cluster = state.cluster  # with several nodes, the whole centre's, as the wallboard's
    items = await (service.snapshot(who, pbx) if cluster is None else cluster.snapshot(who, pbx))
    return {"items": items, "interface": interface_of(ident.user.sip_endpoint)}
