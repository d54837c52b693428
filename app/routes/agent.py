"""Agent call control over REST (each action shows up as events on the WebSocket), and the `/ws` endpoint."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Response, WebSocket, status
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import select

from app.deps import Agent, Cti, Db, my_phone, state_of
from app.disposition_service import save_disposition
from app.security import SESSION_COOKIE, identify, token_digest
from app.surveys import offered, sent_from_desk
from core.audit import audit
from core.bus import Principal
from core.errors import Conflict, Forbidden, Invalid
from core.models import (
    PauseReason,
    Queue,
    QueueMember,
    utcnow,
)
from cti.softphone import NoBrowserPhone, softphone_config, ws_url

router = APIRouter(prefix="/agent", tags=["agent"])

Linkedid = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,40}$")]


class LoginIn(BaseModel):
    queues: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,80}$")]] | None = None


class PauseIn(BaseModel):
    reason: Code


class DialIn(BaseModel):
    number: Annotated[str, StringConstraints(min_length=1, max_length=40)]


class TransferIn(BaseModel):
    target: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    mode: Literal["blind", "attended"] = "blind"


class DispositionIn(BaseModel):
    code: Code
    notes: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    contact_id: int | None = Field(default=None, ge=1)


@router.get("/me")
async def me(ident: Agent, service: Cti) -> dict[str, Any]:
    interface = my_phone(ident)
    agent = service.tracker.agents.get(interface)
    return {
        "interface": interface,
        "state": agent.state.value if agent else "logged_out",
        "reason": agent.reason if agent else None,
        "since": agent.since if agent else None,
        "queues": sorted(agent.queues) if agent else [],
        "call": agent.linkedid if agent else None,
        "phone": {
            "registered": bool(agent and agent.registered),
            "since": agent.registered_since if agent else None,
        },
        "pop": service.screenpop.current.get(interface),
    }


@router.get("/softphone")
async def softphone(request: Request, response: Response, ident: Agent) -> dict[str, Any]:
    """The session's own browser phone: where to register and with what (the digest hash, never the
    password). 409 when the user's phone is not a browser phone."""
    settings = state_of(request).settings
    url = ws_url(
        settings.pbx_ws_url,
        request.url.scheme,
        request.url.hostname or "127.0.0.1",
        settings.pbx_http_port,
        settings.pbx_https_port,
    )
    u = ident.user
    try:
        config = softphone_config(u.sip_endpoint, u.sip_kind, u.sip_ha1, u.display_name, url)
    except NoBrowserPhone as exc:
        raise Conflict(str(exc)) from None
    response.headers["Cache-Control"] = "no-store"
    return config.as_dict()


@router.post("/login", status_code=204)
async def login(
    body: LoginIn,
    request: Request,
    ident: Agent,
    db: Db,
    service: Cti,
) -> None:
    interface = my_phone(ident)
    penalties = dict(  # queue → the agent's penalty there (their skill, cti/queues_conf.py)
        (
            await db.execute(
                select(Queue.name, QueueMember.penalty)
                .join(QueueMember, QueueMember.queue_id == Queue.id)
                .where(QueueMember.user_id == ident.user.id)
            )
        ).all()
    )
    allowed = set(penalties)
    wanted = set(body.queues) if body.queues is not None else allowed
    refused = wanted - allowed
    if refused:
        raise Forbidden(f"not a member of: {', '.join(sorted(refused))}")
    if not wanted:
        raise Conflict("you are not a member of any queue")
    await service.login(interface, ident.user.display_name, {q: penalties[q] for q in wanted})
    audit(
        db,
        "agent.login",
        user_id=ident.user.id,
        target_type="user",
        target_id=ident.user.id,
        detail={"queues": sorted(wanted)},
        request=request,
    )
    await db.commit()


@router.post("/logout", status_code=204)
async def logout(
    request: Request,
    ident: Agent,
    db: Db,
    service: Cti,
) -> None:
    await service.logout(my_phone(ident))
    audit(
        db,
        "agent.logout",
        user_id=ident.user.id,
        target_type="user",
        target_id=ident.user.id,
        request=request,
    )
    await db.commit()


@router.post("/pause", status_code=204)
async def pause(
    body: PauseIn,
    ident: Agent,
    db: Db,
    service: Cti,
) -> None:
    known = await db.scalar(select(PauseReason.id).where(PauseReason.code == body.reason, PauseReason.active))
    if known is None:
        raise Invalid(f"reason: unknown pause reason {body.reason!r}")
    await service.pause(my_phone(ident), body.reason)


@router.post("/ready", status_code=204)
async def ready(ident: Agent, service: Cti) -> None:
    await service.ready(my_phone(ident))


@router.post("/dial")
async def dial(body: DialIn, ident: Agent, service: Cti) -> dict[str, str]:
    return {"linkedid": await service.click_to_call(my_phone(ident), body.number)}


@router.post("/calls/{linkedid}/hangup", status_code=204)
async def hangup(linkedid: Linkedid, ident: Agent, service: Cti) -> None:
    await service.hangup(my_phone(ident), linkedid)


@router.post("/calls/{linkedid}/hold", status_code=204)
async def hold(linkedid: Linkedid, ident: Agent, service: Cti) -> None:
    await service.hold(my_phone(ident), linkedid)


@router.post("/calls/{linkedid}/unhold", status_code=204)
async def unhold(linkedid: Linkedid, ident: Agent, service: Cti) -> None:
    await service.unhold(my_phone(ident), linkedid)


@router.post("/calls/{linkedid}/recording/{action}", status_code=204)
async def pause_recording(
    linkedid: Linkedid,
    action: Literal["pause", "resume", "start"],
    ident: Agent,
    service: Cti,
) -> None:
    """Pause the call's recording (card numbers, health data) and resume it, or start an `on_demand` one;
    each is noted with who."""
    if action == "start":
        await service.start_recording(my_phone(ident), linkedid, ident.user.id)
    else:
        await service.pause_recording(my_phone(ident), linkedid, action == "pause", ident.user.id)


@router.post("/calls/{linkedid}/survey", status_code=204)
async def survey(
    linkedid: Linkedid,
    request: Request,
    ident: Agent,
    db: Db,
    service: Cti,
) -> None:
    """Send the customer to the post-call survey, when the call's queue or campaign offers it."""
    queue = service.queue_of(linkedid)
    if not await offered(db, linkedid, queue):
        raise Conflict("this call's queue and campaign offer no survey")
    await service.send_to_survey(my_phone(ident), linkedid)
    flow = state_of(request).settings.survey_flow
    await sent_from_desk(db, linkedid=linkedid, flow=flow, agent_id=ident.user.id, queue=queue, now=utcnow())
    await db.commit()


@router.post("/calls/{linkedid}/transfer", status_code=204)
async def transfer(linkedid: Linkedid, body: TransferIn, ident: Agent, service: Cti) -> None:
    await service.transfer(my_phone(ident), linkedid, body.target, body.mode == "attended")


@router.post("/calls/{linkedid}/disposition", status_code=201)
async def disposition(
    linkedid: Linkedid,
    body: DispositionIn,
    request: Request,
    response: Response,
    ident: Agent,
    db: Db,
    service: Cti,
) -> dict[str, Any]:
    """Wrap-up: the disposition (required), notes, the contact. The agent is ready again afterwards.

    One disposition per call: a second save (200, `edited`) changes the first, audited, and leaves the
    call's wrap-up time as the first save measured it."""
    result = await save_disposition(
        db,
        service,
        my_phone(ident),
        ident.user.id,
        linkedid,
        body.code,
        body.notes,
        body.contact_id,
        request,
    )
    if result["edited"]:
        response.status_code = status.HTTP_200_OK
    return result


async def websocket_endpoint(websocket: WebSocket) -> None:
    """`/ws`: the session cookie (same-origin only) or a bearer token; then snapshot and deltas."""
    app = websocket.app
    bearer = websocket.headers.get("authorization", "").partition(" ")[2].strip() or None
    cookie = websocket.cookies.get(SESSION_COOKIE)
    if cookie and not bearer:
        origin = websocket.headers.get("origin")
        host = websocket.headers.get("host", "")
        if origin is not None and origin.split("://", 1)[-1] != host:
            await websocket.close(code=4403, reason="cross-site WebSocket refused")
            return
    async with app.state.db.session() as s:
        ident = await identify(s, bearer=bearer, cookie=cookie)
        await s.commit()
    if ident is None:
        await websocket.close(code=4401, reason="not authenticated")
        return
    await websocket.accept()
    u = ident.user
    credential = token_digest(bearer or cookie or "")  # what identify() accepted: the hub closes on its end
    principal = Principal(u.id, u.username, u.role.value, u.team_id, u.sip_endpoint)
    await app.state.hub.serve(websocket, principal, credential)
