"""Administration: users, teams, queues, disposition codes, pause reasons, audit log. The /admin pages
(app/web/admin_view.py) post to these routes, so a form and the API share one schema and one audit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import team_scope
from app.campaign_schemas import Instant  # an instant the database and zone arithmetic can hold
from app.deps import AppState
from app.errors import unprocessable
from app.login_limits import limits_of
from app.schemas import (
    AuditOut,
    CodeIn,
    CodeOut,
    CodePatch,
    DispositionOut,
    Limit,
    PathId,
    TeamIn,
    TeamOut,
    UserIn,
    UserOut,
    UserPatch,
)
from app.security import ANY_ROLE, Identity, PasswordsBusy, end_user_sessions, get_db, require
from core.audit import audit
from core.errors import Conflict, Invalid, NotFound, Unavailable
from core.models import AuditLog, DispositionCode, PauseReason, Role, Team, User
from cti.phones import REALM, reset_password

router = APIRouter(tags=["admin"])
admin = require()  # admins only
lead = require(Role.supervisor)  # admins, and team leads within app/team_scope.py's rules
any_role = require(*ANY_ROLE)
ROUTING_FIELDS = ("role", "team_id", "sip_endpoint", "active")  # what decides what a user's WebSocket sees


async def _commit(db: AsyncSession, what: str) -> None:
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
        raise Conflict(f"{what} already exists or is still referenced") from None


async def _hash(request: Request, password: str) -> str:
    try:
        return str(await request.app.state.passwords.hash(password))
    except PasswordsBusy:
        raise Unavailable("too many sign-ins at once; try again in a moment") from None


def _check_pbx(request: Request, pbx: str | None) -> None:
    """A user's `pbx` names one of PLATEAU_PBX_SERVERS (with one server from the ami_* settings: any)."""
    servers = AppState(request.app.state).settings.pbx_servers
    if pbx is not None and servers and pbx not in {s.name for s in servers}:
        raise unprocessable("pbx", f"no such server; one of {', '.join(str(s.name) for s in servers)}")


async def _check_team(db: AsyncSession, team_id: int | None) -> None:
    if team_id is not None and await db.get(Team, team_id) is None:
        raise unprocessable("team_id", "no such team")


# --- users ----------------------------------------------------------------------------------------------
@router.get("/users", response_model=list[UserOut])
async def list_users(ident: Identity = Depends(lead), db: AsyncSession = Depends(get_db)) -> Any:
    """Every user for an admin; the agents of their own team for a team lead."""
    query = select(User).order_by(User.username)
    if ident.role is not Role.admin:
        if ident.user.team_id is None:  # a supervisor in no team leads nobody
            return []
        query = query.where(User.role == Role.agent, User.team_id == ident.user.team_id)
    return list(await db.scalars(query))


@router.post("/users", response_model=UserOut, status_code=201)
async def create_user(
    body: UserIn, request: Request, ident: Identity = Depends(admin), db: AsyncSession = Depends(get_db)
) -> Any:
    await _check_team(db, body.team_id)
    _check_pbx(request, body.pbx)
    user = User(**body.model_dump(exclude={"password"}), password_hash=await _hash(request, body.password))
    db.add(user)
    try:
        await db.flush()
    except IntegrityError:
        await db.rollback()
        raise Conflict("username or SIP endpoint already in use") from None
    audit(
        db,
        "user_created",
        user_id=ident.user.id,
        target_type="user",
        target_id=user.id,
        detail={"username": user.username, "role": user.role.value},
        request=request,
    )
    await _commit(db, "user")
    return user


@router.patch("/users/{user_id}", response_model=UserOut)
async def update_user(
    user_id: PathId,
    body: UserPatch,
    request: Request,
    ident: Identity = Depends(lead),
    db: AsyncSession = Depends(get_db),
) -> Any:
    user = await db.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    changes = body.model_dump(exclude_unset=True)
    team_scope.check_user(ident, user, changes)
    await _check_team(db, changes.get("team_id"))
    _check_pbx(request, changes.get("pbx"))
    reset = "password" in changes
    if reset:
        pw = changes.pop("password")
        if pw is None:
            raise Invalid("password may not be null")
        user.password_hash = await _hash(request, pw)
    for k, v in changes.items():
        if v is None and k in ("display_name", "role", "language", "active"):
            raise Invalid(f"{k} may not be null")
    was_admin = user.role is Role.admin and user.active
    rerouted = any(k in changes and changes[k] != getattr(user, k) for k in ROUTING_FIELDS)
    for k, v in changes.items():
        setattr(user, k, v)
    if was_admin and not (user.role is Role.admin and user.active) and not await _other_admin(db, user.id):
        raise Conflict("this is the last active admin: make another admin first")
    if reset or not user.active:  # a reset password or a deactivated account ends every way in
        await end_user_sessions(db, user.id, tokens=True)
    if "sip_endpoint" in changes:
        user.sip_ha1 = None  # the digest hash covers the SIP user name: a new one needs a new password
    audit(
        db,
        "user_updated",
        user_id=ident.user.id,
        target_type="user",
        target_id=user.id,
        detail={"fields": sorted(body.model_dump(exclude_unset=True))},
        request=request,
    )
    await _commit(db, "user")
    if reset or rerouted:  # their WebSockets close: gone, or back with what the new role and team may see
        request.app.state.hub.revoke(user_id=user.id)
    if {"sip_endpoint", "sip_kind", "active"} & changes.keys():
        await AppState(request.app.state).apply_phones(db)
    cti = AppState(request.app.state).cti
    if "pbx" in changes and cti is not None:
        await cti.directory.load()  # their calls and controls go to their server from now on
    return user


@router.post("/users/{user_id}/unlock")
async def unlock_user(
    user_id: PathId, request: Request, ident: Identity = Depends(lead), db: AsyncSession = Depends(get_db)
) -> dict[str, Any]:
    """Lift the sign-in lockout of a user who failed too often (from every address); audited."""
    user = await db.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    team_scope.check_user(ident, user)
    lifted = await limits_of(request.app.state).unlock(db, user.username)
    audit(
        db,
        "user_unlocked",
        user_id=ident.user.id,
        target_type="user",
        target_id=user.id,
        detail={"locks": lifted},
        request=request,
    )
    await db.commit()
    return {"user_id": user.id, "locks_lifted": lifted}


async def _other_admin(db: AsyncSession, user_id: int) -> bool:
    return (
        await db.scalar(
            select(User.id).where(User.role == Role.admin, User.active, User.id != user_id).limit(1)
        )
    ) is not None


class PhonePasswordIn(BaseModel):
    kind: Literal["sip", "webrtc"] | None = None


@router.post("/users/{user_id}/phone-password", status_code=201)
async def reset_phone_password(
    user_id: PathId,
    request: Request,
    response: Response,
    body: PhonePasswordIn | None = None,
    ident: Identity = Depends(admin),
    db: AsyncSession = Depends(get_db),
) -> dict[str, Any]:
    """A new SIP password for the user's phone, returned this once (only its digest hash is kept); the
    phone's old password stops working. `applied`: the private Asterisk already took it."""
    user = await db.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    if not user.sip_endpoint:
        raise Conflict("this user has no phone: set sip_endpoint first")
    if body is not None and body.kind is not None:
        user.sip_kind = body.kind
    password = await reset_password(db, user)
    audit(
        db,
        "phone.password_reset",
        user_id=ident.user.id,
        target_type="user",
        target_id=user.id,
        request=request,
    )
    await _commit(db, "user")
    applied = await AppState(request.app.state).apply_phones(db)
    response.headers["Cache-Control"] = "no-store"
    return {
        "user_id": user.id,
        "username": user.sip_endpoint,
        "password": password,
        "realm": REALM,
        "kind": user.sip_kind,
        "applied": applied,
    }


# --- teams (queues: app/routes/admin_queues.py) ---------------------------------------------------
@router.get("/teams", response_model=list[TeamOut])
async def list_teams(_: Identity = Depends(any_role), db: AsyncSession = Depends(get_db)) -> Any:
    return list(await db.scalars(select(Team).order_by(Team.name)))


@router.post("/teams", response_model=TeamOut, status_code=201)
async def create_team(
    body: TeamIn, request: Request, ident: Identity = Depends(admin), db: AsyncSession = Depends(get_db)
) -> Any:
    team = Team(name=body.name)
    db.add(team)
    await _commit(db, "team")
    audit(db, "team_created", user_id=ident.user.id, target_type="team", target_id=team.id, request=request)
    await db.commit()
    return team


@router.patch("/teams/{team_id}", response_model=TeamOut)
async def rename_team(
    team_id: PathId,
    body: TeamIn,
    request: Request,
    ident: Identity = Depends(admin),
    db: AsyncSession = Depends(get_db),
) -> Any:
    team = await db.get(Team, team_id)
    if team is None:
        raise NotFound("no such team")
    before, team.name = team.name, body.name
    audit(
        db,
        "team_renamed",
        user_id=ident.user.id,
        target_type="team",
        target_id=team.id,
        detail={"from": before, "to": body.name},
        request=request,
    )
    await _commit(db, "team")
    return team


# --- codes ----------------------------------------------------------------------------------------------
def _code_routes(path: str, model: type[DispositionCode] | type[PauseReason], out: type[BaseModel]) -> None:
    @router.get(f"/{path}", response_model=list[out], name=f"list_{path}")  # type: ignore[valid-type]
    async def list_codes(_: Identity = Depends(any_role), db: AsyncSession = Depends(get_db)) -> Any:
        return list(await db.scalars(select(model).order_by(model.code)))

    @router.post(f"/{path}", response_model=out, status_code=201, name=f"create_{path}")
    async def create_code(
        body: CodeIn, request: Request, ident: Identity = Depends(admin), db: AsyncSession = Depends(get_db)
    ) -> Any:
        fields = body.model_dump() if model is DispositionCode else body.model_dump(exclude={"category"})
        row = model(**fields)
        db.add(row)
        await _commit(db, path)
        audit(
            db,
            f"{path}_created",
            user_id=ident.user.id,
            target_type=path,
            target_id=row.code,
            request=request,
        )
        await db.commit()
        return row

    @router.patch(f"/{path}/{{code_id}}", response_model=out, name=f"update_{path}")
    async def update_code(
        code_id: PathId,
        body: CodePatch,
        request: Request,
        ident: Identity = Depends(admin),
        db: AsyncSession = Depends(get_db),
    ) -> Any:
        row = await db.get(model, code_id)
        if row is None:
            raise NotFound("no such code")
        changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
        if model is not DispositionCode:
            changes.pop("category", None)  # pause reasons have none
        for k, v in changes.items():
            setattr(row, k, v)
        audit(
            db,
            f"{path}_updated",
            user_id=ident.user.id,
            target_type=path,
            target_id=row.code,
            detail={"fields": sorted(changes)},
            request=request,
        )
        await db.commit()
        return row

    @router.delete(f"/{path}/{{code_id}}", status_code=204, name=f"deactivate_{path}")
    async def deactivate(
        code_id: PathId,
        request: Request,
        ident: Identity = Depends(admin),
        db: AsyncSession = Depends(get_db),
    ) -> None:
        row = await db.get(model, code_id)
        if row is None:
            raise NotFound("no such code")
        row.active = False  # history keeps pointing at it
        audit(
            db,
            f"{path}_deactivated",
            user_id=ident.user.id,
            target_type=path,
            target_id=row.code,
            request=request,
        )
        await db.commit()


_code_routes("dispositions", DispositionCode, DispositionOut)
_code_routes("pause-reasons", PauseReason, CodeOut)


AuditText = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]


@router.get("/audit", response_model=list[AuditOut])
async def audit_log(
    limit: Limit = 100,
    before_id: int | None = Query(default=None, ge=1, le=2**62),
    action: AuditText = None,
    user_id: int | None = Query(default=None, ge=1, le=2**62),
    target_type: AuditText = None,
    target_id: AuditText = None,
    since: Annotated[Instant | None, Query()] = None,  # type: ignore[valid-type]
    until: Annotated[Instant | None, Query()] = None,  # type: ignore[valid-type]
    _: Identity = Depends(admin),
    db: AsyncSession = Depends(get_db),
) -> Any:
    """Newest first; `action` matches a prefix (`user_` finds every user change)."""
    return await audit_rows(
        db,
        limit=limit,
        before_id=before_id,
        action=action,
        user_id=user_id,
        target_type=target_type,
        target_id=target_id,
        since=since,
        until=until,
    )


async def audit_rows(
    db: AsyncSession,
    *,
    limit: int,
    before_id: int | None = None,
    action: str | None = None,
    user_id: int | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AuditLog]:
    """The audit query the API and the audit page share."""
    stmt = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
    if before_id:
        stmt = stmt.where(AuditLog.id < before_id)
    if action:
        escaped = action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(AuditLog.action.like(escaped + "%", escape="\\"))
    if user_id is not None:
        stmt = stmt.where(AuditLog.user_id == user_id)
    if target_type:
        stmt = stmt.where(AuditLog.target_type == target_type)
    if target_id:
        stmt = stmt.where(AuditLog.target_id == target_id)
    if since is not None:
        stmt = stmt.where(AuditLog.at >= since)
    if until is not None:
        stmt = stmt.where(AuditLog.at < until)
    return list(await db.scalars(stmt))
