"""Creating, changing and deleting queues and their members' skills: the rules the API, the admin page and
the CLI share. Each change is checked, audited in the same transaction, then carried to Asterisk
(cti/queue_provision.py) without a restart.

Every refusal comes before the first change to the session, so a refused request leaves nothing to roll
back (a rollback would expire the signed-in user the page still renders). A refusal is a domain error
(core/errors.py) naming the field it is about: a form shows it next to that field; the API maps it once
(app/errors.py), an `Invalid` to a 422 field error, a `Conflict` (such as calls waiting) to a 409."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import state_of
from app.queue_schemas import NOT_NULL, MemberOut, QueueIn, QueuePatch
from core.audit import audit
from core.dialer_tables import Campaign
from core.errors import Conflict, Invalid, NotFound
from core.models import Queue, QueueMember, Team, User
from cti.queue_provision import QueueProvisioner, member_changed
from cti.queues_conf import penalty_of, skill_of
from cti.service import CtiService


@dataclass
class Live:
    """What reaches Asterisk: the CTI service (None: no PBX link) and the queue provisioner (None: queues
    are not provisioned by this Plateau)."""

    cti: CtiService | None
    provisioner: QueueProvisioner | None

    @classmethod
    def of(cls, request: Request) -> Live:
        state = state_of(request)
        return cls(state.cti, state.queues)

    def waiting(self, queue: str) -> int:
        return len(self.cti.tracker.waiting.get(queue, {})) if self.cti is not None else 0

    async def apply(self, db: AsyncSession) -> bool:
        applied = await self.provisioner.apply(db) if self.provisioner is not None else False
        for unit in self.cti.units if self.cti is not None else []:
            if unit.ready:  # recording policies travel as dialplan globals, to every server
                await self.cti.recorder.push_policies(unit.link)
        return applied


async def _check_refs(
    db: AsyncSession, values: dict[str, Any], queue_id: int | None, name: str | None
) -> None:
    if values.get("team_id") is not None and await db.get(Team, values["team_id"]) is None:
        raise Invalid("no such team", "team_id", key="no_team")
    overflow = values.get("overflow")
    if overflow is not None:
        if overflow == name:
            raise Invalid("a queue cannot overflow into itself", "overflow", key="overflow_self")
        if await db.scalar(select(Queue.id).where(Queue.name == overflow)) is None:
            raise Invalid(f"no queue named {overflow!r}", "overflow", key="no_queue", name=overflow)
    for field in ("name", "did"):
        value = values.get(field)
        if value is None:
            continue
        other = await db.scalar(select(Queue.id).where(getattr(Queue, field) == value))
        if other is not None and other != queue_id:
            what = "name" if field == "name" else "number"
            raise Invalid(f"this {what} is already used by another queue", field, key="taken")


async def create_queue(
    db: AsyncSession, live: Live, actor: int, body: QueueIn, request: Request | None = None
) -> tuple[Queue, bool]:
    values = body.model_dump(mode="json")
    await _check_refs(db, values, None, body.name)
    queue = Queue(**values)
    db.add(queue)
    await db.flush()
    audit(
        db,
        "queue_created",
        user_id=actor,
        target_type="queue",
        target_id=queue.id,
        detail={"name": queue.name},
        request=request,
    )
    await db.commit()
    return queue, await live.apply(db)


async def _get(db: AsyncSession, queue_id: int) -> Queue:
    queue = await db.get(Queue, queue_id)
    if queue is None:
        raise NotFound("no such queue", key="not_found")
    return queue


def _refuse_if_waiting(live: Live, queue: Queue, doing: str) -> None:
    n = live.waiting(queue.name)
    if n:
        raise Conflict(
            f"queue {queue.name!r} has {n} call{'s' if n > 1 else ''} waiting: {doing} it once they have "
            "been answered or have left",
            "name",
            key="waiting",
            name=queue.name,
            n=n,
        )


async def update_queue(
    db: AsyncSession, live: Live, actor: int, queue_id: int, body: QueuePatch, request: Request | None = None
) -> tuple[Queue, bool]:
    queue = await _get(db, queue_id)
    changes = body.model_dump(exclude_unset=True, mode="json")
    for field in NOT_NULL & changes.keys():
        if changes[field] is None:
            raise Invalid("may not be empty", field, key="required")
    changes = {k: v for k, v in changes.items() if getattr(queue, k) != v}
    old_name = queue.name
    renamed = "name" in changes
    if renamed:
        _refuse_if_waiting(live, queue, "rename")
    await _check_refs(db, changes, queue.id, changes.get("name", queue.name))
    for k, v in changes.items():
        setattr(queue, k, v)
    if renamed:  # the queues that overflow into it follow it
        for other in await db.scalars(select(Queue).where(Queue.overflow == old_name)):
            other.overflow = queue.name
    audit(
        db,
        "queue_updated",
        user_id=actor,
        target_type="queue",
        target_id=queue.id,
        detail={"fields": sorted(changes), **({"renamed_from": old_name} if renamed else {})},
        request=request,
    )
    await db.commit()
    applied = await live.apply(db)
    if renamed:  # its logged-in members move with it: leave the old Asterisk queue, join the new one
        for member, user in await _members(db, queue.id):
            await member_changed(live.cti, user.sip_endpoint, user.display_name, old_name, None)
            await member_changed(live.cti, user.sip_endpoint, user.display_name, queue.name, member.penalty)
    return queue, applied


async def delete_queue(
    db: AsyncSession, live: Live, actor: int, queue_id: int, request: Request | None = None
) -> bool:
    queue = await _get(db, queue_id)
    _refuse_if_waiting(live, queue, "delete")
    feeding = list(await db.scalars(select(Queue.name).where(Queue.overflow == queue.name)))
    if feeding:
        raise Conflict(
            f"queues {', '.join(feeding)} overflow into it: change them first",
            "name",
            key="overflow_refs",
            names=", ".join(feeding),
        )
    campaigns = list(await db.scalars(select(Campaign.name).where(Campaign.queue_id == queue.id)))
    if campaigns:
        raise Conflict(
            f"campaigns {', '.join(campaigns)} use it: give them another queue first",
            "name",
            key="campaign_refs",
            names=", ".join(campaigns),
        )
    members = await _members(db, queue.id)
    name = queue.name
    await db.delete(queue)
    audit(db, "queue_deleted", user_id=actor, target_type="queue", target_id=queue_id, detail={"name": name},
          request=request)  # fmt: skip
    await db.commit()
    for _member, user in members:
        await member_changed(live.cti, user.sip_endpoint, user.display_name, name, None)
    return await live.apply(db)


async def _members(db: AsyncSession, queue_id: int) -> list[tuple[QueueMember, User]]:
    rows = await db.execute(
        select(QueueMember, User)
        .join(User, User.id == QueueMember.user_id)
        .where(QueueMember.queue_id == queue_id)
        .order_by(QueueMember.penalty, User.username)
    )
    return [(m, u) for m, u in rows.all()]


def _is_live(live: Live, endpoint: str | None, queue: str) -> bool:
    if live.cti is None or endpoint is None:
        return False
    agent = live.cti.tracker.agents.get(f"PJSIP/{endpoint}")
    return agent is not None and queue in agent.queues


async def members(db: AsyncSession, live: Live, queue_id: int) -> list[MemberOut]:
    queue = await _get(db, queue_id)
    return [
        MemberOut(
            queue=queue.name,
            user_id=u.id,
            username=u.username,
            display_name=u.display_name,
            skill=skill_of(m.penalty),
            live=_is_live(live, u.sip_endpoint, queue.name),
        )
        for m, u in await _members(db, queue.id)
    ]


async def set_skill(
    db: AsyncSession, live: Live, actor: int, queue_id: int, user_id: int, skill: int,
    request: Request | None = None,
) -> MemberOut:  # fmt: skip
    """Add the user to the queue with this skill, or change their skill there; live at once when they are
    logged in."""
    queue = await _get(db, queue_id)
    user = await db.get(User, user_id)
    if user is None:
        raise Invalid("no such user", "user_id", key="no_user")
    if not user.sip_endpoint:
        raise Invalid(
            f"{user.username} has no phone (SIP endpoint): give them one first",
            "user_id",
            key="no_phone",
            user=user.username,
        )
    member = await db.get(QueueMember, (queue.id, user.id))
    before = None if member is None else member.penalty + 1
    if member is None:
        member = QueueMember(queue_id=queue.id, user_id=user.id)
        db.add(member)
    member.penalty = penalty_of(skill)
    audit(
        db,
        "queue_member_set",
        user_id=actor,
        target_type="queue",
        target_id=queue.id,
        detail={"user_id": user.id, "skill": skill, "before": before},
        request=request,
    )
    await db.commit()
    live_now = await member_changed(
        live.cti, user.sip_endpoint, user.display_name, queue.name, member.penalty
    )
    return MemberOut(
        queue=queue.name,
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        skill=skill,
        live=live_now,
    )


async def remove_member(
    db: AsyncSession, live: Live, actor: int, queue_id: int, user_id: int, request: Request | None = None
) -> None:
    queue = await _get(db, queue_id)
    member = await db.get(QueueMember, (queue.id, user_id))
    if member is None:
        raise NotFound("not a member of this queue", "user_id", key="not_member")
    user = await db.get(User, user_id)
    await db.delete(member)
    audit(db, "queue_member_removed", user_id=actor, target_type="queue", target_id=queue.id,
          detail={"user_id": user_id}, request=request)  # fmt: skip
    await db.commit()
    if user is not None:
        await member_changed(live.cti, user.sip_endpoint, user.display_name, queue.name, None)


async def candidates(db: AsyncSession, queue_id: int) -> list[User]:
    """Active users with a phone who are not in the queue yet (the add-member form's choices)."""
    inside = select(QueueMember.user_id).where(QueueMember.queue_id == queue_id)
    rows = await db.scalars(
        select(User)
        .where(User.active, User.sip_endpoint.is_not(None), User.id.not_in(inside))
        .order_by(User.username)
    )
    return list(rows.all())


async def member_counts(db: AsyncSession) -> dict[int, int]:
    rows = await db.execute(select(QueueMember.queue_id, func.count()).group_by(QueueMember.queue_id))
    return {q: n for q, n in rows.all()}


async def queue_by_name(db: AsyncSession, name: str) -> Queue | None:
    return await db.scalar(select(Queue).where(Queue.name == name))
