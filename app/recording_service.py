"""Call recordings as users see them: which ones each may hear, their listing, and the ones pinned to
complaints. The API and the pages share these."""

from __future__ import annotations

from datetime import datetime

from fastapi import Request
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import state_of
from app.history_service import agent_scope, check_call_visible
from app.schemas import Id
from app.security import Identity
from core.errors import Forbidden, NotFound
from core.models import (
    Call,
    Complaint,
    ComplaintRecording,
    Recording,
    RecordingPause,
    User,
)
from core.recording_store import RecordingStore, store_for
from cti import recordings


class PausedStretchOut(BaseModel):
    start_s: float
    end_s: float
    by: str | None  # the user's name; None: the IVR
    source: str


class RecordingOut(BaseModel):
    id: int
    linkedid: str
    call_id: int | None
    queue: str | None
    agent_id: int | None
    started_at: datetime
    ended_at: datetime
    duration_s: float
    size_bytes: int
    expires_at: datetime | None
    purged: bool
    paused: list[PausedStretchOut]
    pinned_by_complaints: list[int]
    audio_url: str | None  # None once purged


class PinIn(BaseModel):
    recording_id: Id


def store(request: Request) -> RecordingStore:
    return store_for(state_of(request).settings)


async def recording_out(db: AsyncSession, rec: Recording) -> RecordingOut:
    pauses = (
        await db.execute(
            select(RecordingPause, User.display_name)
            .outerjoin(User, User.id == RecordingPause.user_id)
            .where(RecordingPause.linkedid == rec.linkedid)
        )
    ).all()
    stretches = recordings.paused_stretches(
        [recordings.PauseEvent(p.at, p.paused, name, p.source) for p, name in pauses],
        rec.started_at,
        rec.ended_at,
    )
    pins = await db.scalars(
        select(ComplaintRecording.complaint_id).where(ComplaintRecording.recording_id == rec.id)
    )
    call_id = await db.scalar(select(Call.id).where(Call.linkedid == rec.linkedid))
    return RecordingOut(
        id=rec.id,
        linkedid=rec.linkedid,
        call_id=call_id,
        queue=rec.queue,
        agent_id=rec.agent_id,
        started_at=rec.started_at,
        ended_at=rec.ended_at,
        duration_s=rec.duration_s,
        size_bytes=rec.size_bytes,
        expires_at=rec.expires_at,
        purged=rec.purged_at is not None,
        paused=[PausedStretchOut(**vars(s)) for s in stretches],
        pinned_by_complaints=sorted(pins),
        audio_url=None if rec.purged_at else f"/api/v1/recordings/{rec.id}/audio",
    )


async def visible_recording(db: AsyncSession, ident: Identity, recording_id: int) -> Recording:
    """404 when there is no such recording, 403 when it is another agent's or another team's."""
    rec = await db.get(Recording, recording_id)
    if rec is None:
        raise NotFound("no such recording")
    scope = agent_scope(ident, Recording.agent_id)
    if (
        scope is not None
        and await db.scalar(select(Recording.id).where(Recording.id == rec.id, scope)) is None
    ):
        raise Forbidden("not your call's recording")
    return rec


async def recordings_of_calls(
    db: AsyncSession, ident: Identity, call_ids: set[int]
) -> dict[int, RecordingOut]:
    """The playable recordings of these calls that the user may hear, by call id (the pages' players)."""
    if not call_ids:
        return {}
    stmt = (
        select(Call.id, Recording)
        .join(Recording, Recording.linkedid == Call.linkedid)
        .where(Call.id.in_(call_ids), Recording.purged_at.is_(None))
    )
    scope = agent_scope(ident, Recording.agent_id)
    rows = (await db.execute(stmt if scope is None else stmt.where(scope))).all()
    return {call_id: await recording_out(db, rec) for call_id, rec in rows}


async def pinned_recordings(
    db: AsyncSession, ident: Identity, complaint_ids: set[int]
) -> dict[int, list[RecordingOut]]:
    """The recordings each complaint pins that the user may hear (purged ones are listed, not playable)."""
    if not complaint_ids:
        return {}
    stmt = select(ComplaintRecording.complaint_id, Recording).join(
        Recording, Recording.id == ComplaintRecording.recording_id
    )
    stmt = stmt.where(ComplaintRecording.complaint_id.in_(complaint_ids))
    scope = agent_scope(ident, Recording.agent_id)
    out: dict[int, list[RecordingOut]] = {}
    for complaint_id, rec in (await db.execute(stmt if scope is None else stmt.where(scope))).all():
        out.setdefault(complaint_id, []).append(await recording_out(db, rec))
    return out


# -- complaints pin the recordings of their calls --------------------------------------------------------
async def load_complaint(db: AsyncSession, complaint_id: int) -> Complaint:
    c = await db.get(Complaint, complaint_id)
    if c is None:
        raise NotFound("no such complaint")
    return c


async def call_recordings(db: AsyncSession, ident: Identity, call_id: int) -> list[RecordingOut]:
    """The call's recordings; NotFound when the call is out of this user's scope."""
    await check_call_visible(db, ident, call_id)
    linkedid = await db.scalar(select(Call.linkedid).where(Call.id == call_id))
    recs = await db.scalars(select(Recording).where(Recording.linkedid == linkedid))
    return [await recording_out(db, r) for r in recs]
