"""What a team lead (a supervisor with a team) may do to users and queue members: the agents of their own team
only, and on those only what a lead decides day to day (name, language, password, deactivation, sign-in
lockout, queue skills). Roles, teams, phones, other teams, managers and admins stay with admins. The rules
are pure (`user_refusal`, `member_refusal`); `check_user` and `check_member` are the thin shell the routes
call, a refusal being a 403 with the reason."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException
from sqlalchemy.ext.asyncio import AsyncSession

from app.security import Identity
from core.models import Queue, Role, User

# the fields of a user a lead may change; the others may be sent (the page sends the form) but not changed
LEAD_FIELDS = frozenset({"display_name", "language", "password", "active"})


@dataclass(frozen=True, slots=True)
class Person:
    role: Role
    team_id: int | None


def user_refusal(
    actor: Person,
    target: Person,
    changes: Mapping[str, Any] | None = None,
    current: Mapping[str, Any] | None = None,
) -> str | None:
    """Why `actor` may not act on `target` (None: they may). `changes`: the fields a PATCH sends, compared
    with the user's `current` values (a field sent unchanged is no change)."""
    if actor.role is Role.admin:
        return None
    if actor.role is not Role.supervisor or actor.team_id is None:
        return f"role {actor.role.value} may not do this"
    if target.role is not Role.agent:
        return "a team lead manages agents only"
    if target.team_id != actor.team_id:
        return "this agent is in another team"
    current = current or {}
    for name, value in (changes or {}).items():
        if name not in LEAD_FIELDS and current.get(name) != value:
            return f"only an admin may change {name}"
    return None


def member_refusal(actor: Person, target: Person, queue_team_id: int | None) -> str | None:
    """Why `actor` may not put `target` in a queue, change their skill or take them out (None: they may):
    a lead, for an agent of their team, in a queue of no team or of their team."""
    refusal = user_refusal(actor, target)
    if refusal is None and actor.role is not Role.admin and queue_team_id not in (None, actor.team_id):
        return "this queue belongs to another team"
    return refusal


def _person(user: User) -> Person:
    return Person(Role(user.role), user.team_id)


def _current(user: User) -> dict[str, Any]:
    values = {k: getattr(user, k) for k in ("display_name", "role", "team_id", "language", "sip_endpoint",
                                            "sip_kind", "pbx", "active")}  # fmt: skip
    values["role"] = user.role.value
    return values


def check_user(ident: Identity, user: User, changes: Mapping[str, Any] | None = None) -> None:
    refusal = user_refusal(_person(ident.user), _person(user), changes, _current(user))
    if refusal is not None:
        raise HTTPException(403, refusal)


async def member_target(
    db: AsyncSession, ident: Identity, queue_id: int, user_id: int, *, quiet: bool = False
) -> bool:
    """Whether `ident` may change `user_id`'s membership of `queue_id`; a refusal is a 403 unless `quiet`.
    A queue or user that does not exist is left to the queue rules (their 404 or 422)."""
    if ident.role is Role.admin:
        return True
    queue = await db.get(Queue, queue_id)
    user = await db.get(User, user_id)
    if queue is None or user is None:
        return True
    refusal = member_refusal(_person(ident.user), _person(user), queue.team_id)
    if refusal is not None and not quiet:
        raise HTTPException(403, refusal)
    return refusal is None
