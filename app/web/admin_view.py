"""The administration pages: users (create, edit, reset password, deactivate, unlock), teams, pause reasons,
dispositions, the complaint reasons taxonomy and the audit log. The pages read here; every form writes
through /api/v1 (web/static/js/api_form.js), so the page and the API share one schema and one audit."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import reason_service, team_scope
from app.login_limits import limits_of
from app.routes.admin import audit_rows
from app.security import Identity, get_db
from app.web.pages import page, path_id, roles
from core.errors import NotFound
from core.models import DispositionCode, PauseReason, Queue, Role, Team, User

router = APIRouter(include_in_schema=False)
AUDIT_PAGE = 100


async def _teams(db: AsyncSession) -> list[Team]:
    return list(await db.scalars(select(Team).order_by(Team.name)))


def _team_options(teams: list[Team]) -> list[tuple[str, str]]:
    return [("", "—"), *((str(t.id), t.name) for t in teams)]


def _pbx(request: Request) -> dict[str, Any]:
    """The PLATEAU_PBX_SERVERS names and their choices; none with a single server, where a user's `pbx`
    changes nothing and the pages show no field for it."""
    servers = request.app.state.settings.pbx_servers
    names = [str(s.name) for s in servers] if len(servers) > 1 else []
    return {"pbx_names": names, "pbx_options": [(name, name) for name in names]}


@router.get("/admin")
async def admin_page(
    request: Request, ident: Identity = Depends(roles()), db: AsyncSession = Depends(get_db)
) -> Any:
    users = list(await db.scalars(select(User).order_by(User.username)))
    locked = await limits_of(request.app.state).locked(db, [u.username for u in users])
    teams = await _teams(db)
    return page(
        request,
        "admin.html",
        ident,
        active="admin",
        users=users,
        locked={u.id for u in users if u.username.lower() in locked},
        queues=list(await db.scalars(select(Queue).order_by(Queue.name))),
        team_list=teams,
        team_options=_team_options(teams),
        teams={t.id: t.name for t in teams},
        **_pbx(request),
        pauses=list(await db.scalars(select(PauseReason).order_by(PauseReason.code))),
        dispositions=list(await db.scalars(select(DispositionCode).order_by(DispositionCode.code))),
    )


@router.get("/admin/users/{user_id}")
async def user_page(
    request: Request,
    user_id: str,
    ident: Identity = Depends(roles(Role.supervisor)),
    db: AsyncSession = Depends(get_db),
) -> Any:
    user = await db.get(User, path_id(user_id))
    if user is None:
        raise NotFound("no such user")
    team_scope.check_user(ident, user)  # a team lead: the agents of their own team
    return page(
        request,
        "admin_user.html",
        ident,
        active="admin",
        u=user,
        locked=bool(await limits_of(request.app.state).locked(db, [user.username])),
        team_options=_team_options(await _teams(db)),
        **_pbx(request),
        lead=ident.role is not Role.admin,
    )


@router.get("/admin/complaint-reasons")
async def reasons_page(
    request: Request, ident: Identity = Depends(roles(Role.manager)), db: AsyncSession = Depends(get_db)
) -> Any:
    reasons = await reason_service.all_reasons(db)
    tree = reason_service.tree(reasons)
    lang = ident.user.language
    return page(
        request,
        "admin_reasons.html",
        ident,
        active="admin",
        tree=tree,
        parent_options=[(str(top.id), reason_service.label_of(top, lang)) for top, _kids in tree],
    )


def _day(value: str | None, zone: ZoneInfo, *, end: bool) -> datetime | None:
    """A date from the filter form, as the start of that local day (or of the next one for `end`)."""
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        return None  # a mangled date in the URL is no filter, not an error page
    if not 1971 <= day.year <= 9000:
        return None
    return datetime.combine(day + timedelta(days=1 if end else 0), time(), zone)


@router.get("/admin/audit")
async def audit_page(
    request: Request,
    action: str | None = Query(default=None, max_length=64),
    user: str | None = Query(default=None, max_length=20),
    target_type: str | None = Query(default=None, max_length=40),
    since: str | None = Query(default=None, max_length=10),
    until: str | None = Query(default=None, max_length=10),
    before_id: str | None = Query(default=None, max_length=20),
    ident: Identity = Depends(roles()),
    db: AsyncSession = Depends(get_db),
) -> Any:
    zone = ZoneInfo(request.app.state.settings.timezone)
    user_id = int(user) if user and user.isascii() and user.isdigit() and len(user) < 19 else None
    before = int(before_id) if before_id and before_id.isascii() and before_id.isdigit() else None
    rows = await audit_rows(
        db,
        limit=AUDIT_PAGE,
        before_id=before if before and before < 2**62 else None,
        action=(action or "").strip() or None,
        user_id=user_id,
        target_type=(target_type or "").strip() or None,
        since=_day(since, zone, end=False),
        until=_day(until, zone, end=True),
    )
    users = list(await db.scalars(select(User).order_by(User.username)))
    filters = {"action": action or "", "user": user_id, "target_type": target_type or "",
               "since": since or "", "until": until or ""}  # fmt: skip
    return page(
        request,
        "admin_audit.html",
        ident,
        active="admin",
        rows=rows,
        users=users,
        names={u.id: u.username for u in users},
        filters=filters,
        more=len(rows) == AUDIT_PAGE,
    )
