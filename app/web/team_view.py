"""A team lead's page (/admin/team): the agents of their own team, each linked to the user page (edit,
reset the password, deactivate, unlock), and their skills in the queues the team may use (no team's, or its
own). Forms write through /api/v1, where app/team_scope.py's rules decide; this page only reads."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.login_limits import limits_of
from app.security import Identity, get_db
from app.web.pages import page, roles
from core.models import Queue, QueueMember, Role, Team, User
from cti.queues_conf import skill_of

router = APIRouter(include_in_schema=False)


@router.get("/admin/team")
async def team_page(
    request: Request, ident: Identity = Depends(roles(Role.supervisor)), db: AsyncSession = Depends(get_db)
) -> Any:
    team_id = ident.user.team_id
    team = await db.get(Team, team_id) if team_id is not None else None
    agents: list[User] = []
    queues: list[Queue] = []
    skills: dict[tuple[int, int], int] = {}
    if team is not None:
        agents = list(
            await db.scalars(
                select(User).where(User.role == Role.agent, User.team_id == team.id).order_by(User.username)
            )
        )
        usable = or_(Queue.team_id.is_(None), Queue.team_id == team.id)
        queues = list(await db.scalars(select(Queue).where(usable).order_by(Queue.name)))
        ids = [a.id for a in agents]
        rows = await db.scalars(select(QueueMember).where(QueueMember.user_id.in_(ids))) if ids else []
        skills = {(m.queue_id, m.user_id): skill_of(m.penalty) for m in rows}
    locked = await limits_of(request.app.state).locked(db, [a.username for a in agents])
    return page(
        request,
        "admin_team.html",
        ident,
        active="team",
        team=team,
        agents=agents,
        locked={a.id for a in agents if a.username.lower() in locked},
        queues=queues,
        skills=skills,
        skill_options=[(str(n), str(n)) for n in range(1, 10)],
        # per queue, the team's agents not in it yet (the add form's choices)
        choices={
            q.id: [(str(a.id), a.display_name) for a in agents if (q.id, a.id) not in skills] for q in queues
        },
    )
