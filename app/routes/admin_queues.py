"""Queues and their members' skills over the API (admins; everyone reads the queue list). The rules are
app/queue_admin.py's, shared with the admin page and the CLI; `applied` says Asterisk has the change now."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import queue_admin
from app.queue_admin import Live
from app.queue_schemas import MemberIn, MemberOut, QueueIn, QueueOut, QueuePatch, SkillIn
from app.schemas import PathId
from app.security import ANY_ROLE, Identity, get_db, require
from app.team_scope import member_target
from core.models import Queue, Role

router = APIRouter(tags=["queues"])
admin = require()
lead = require(Role.supervisor)  # members only, within app/team_scope.py's rules
any_role = require(*ANY_ROLE)


def _applied(response: Response, applied: bool) -> None:
    response.headers["X-Plateau-Applied"] = "yes" if applied else "no"


@router.get("/queues", response_model=list[QueueOut])
async def list_queues(_: Identity = Depends(any_role), db: AsyncSession = Depends(get_db)) -> Any:
    return list(await db.scalars(select(Queue).order_by(Queue.name)))


@router.post("/queues", response_model=QueueOut, status_code=201)
async def create_queue(
    body: QueueIn,
    request: Request,
    response: Response,
    ident: Identity = Depends(admin),
    db: AsyncSession = Depends(get_db),
) -> Any:
    """Create a queue; Asterisk has it at once (no restart) when this Plateau provisions the PBX."""
    queue, applied = await queue_admin.create_queue(db, Live.of(request), ident.user.id, body, request)
    _applied(response, applied)
    return queue


@router.patch("/queues/{queue_id}", response_model=QueueOut)
async def update_queue(
    queue_id: PathId,
    body: QueuePatch,
    request: Request,
    response: Response,
    ident: Identity = Depends(admin),
    db: AsyncSession = Depends(get_db),
) -> Any:
    """Change a queue's settings or name (a rename with calls waiting is refused: 409)."""
    queue, applied = await queue_admin.update_queue(
        db, Live.of(request), ident.user.id, queue_id, body, request
    )
    _applied(response, applied)
    return queue


@router.delete("/queues/{queue_id}", status_code=204)
async def delete_queue(
    queue_id: PathId, request: Request, ident: Identity = Depends(admin), db: AsyncSession = Depends(get_db)
) -> None:
    """Delete a queue (refused with 409 while calls wait in it, or while another queue overflows into it)."""
    await queue_admin.delete_queue(db, Live.of(request), ident.user.id, queue_id, request)


@router.get("/queues/{queue_id}/members", response_model=list[MemberOut])
async def list_members(
    queue_id: PathId, request: Request, ident: Identity = Depends(lead), db: AsyncSession = Depends(get_db)
) -> Any:
    """Every member for an admin; a team lead sees the agents of their own team."""
    members = await queue_admin.members(db, Live.of(request), queue_id)
    if ident.role is Role.admin:
        return members
    return [m for m in members if await member_target(db, ident, queue_id, m.user_id, quiet=True)]


@router.post("/queues/{queue_id}/members", response_model=MemberOut, status_code=201)
async def add_member(
    queue_id: PathId,
    body: MemberIn,
    request: Request,
    ident: Identity = Depends(lead),
    db: AsyncSession = Depends(get_db),
) -> Any:
    """Put a user in the queue with a skill (1 best … 9); an agent logged in joins it at once."""
    await member_target(db, ident, queue_id, body.user_id)
    return await queue_admin.set_skill(
        db, Live.of(request), ident.user.id, queue_id, body.user_id, body.skill, request
    )


@router.put("/queues/{queue_id}/members/{user_id}", response_model=MemberOut)
async def set_skill(
    queue_id: PathId,
    user_id: PathId,
    body: SkillIn,
    request: Request,
    ident: Identity = Depends(lead),
    db: AsyncSession = Depends(get_db),
) -> Any:
    """Change a member's skill; when they are logged in, Asterisk's penalty changes at once (QueuePenalty)."""
    await member_target(db, ident, queue_id, user_id)
    return await queue_admin.set_skill(
        db, Live.of(request), ident.user.id, queue_id, user_id, body.skill, request
    )


@router.delete("/queues/{queue_id}/members/{user_id}", status_code=204)
async def remove_member(
    queue_id: PathId,
    user_id: PathId,
    request: Request,
    ident: Identity = Depends(lead),
    db: AsyncSession = Depends(get_db),
) -> None:
    await member_target(db, ident, queue_id, user_id)
    await queue_admin.remove_member(db, Live.of(request), ident.user.id, queue_id, user_id, request)
