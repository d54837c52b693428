"""Call recordings: metadata with the paused stretches, the audio with HTTP Range (the browser's player seeks
with it), complaints pinning recordings, and the retention purge. Who hears what follows `/calls`: agents
their own calls, supervisors their team's, managers and admins all. Every listen and download is audited.
A file's place is the store's business: no response names it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import recordings
from app.audit import audit
from app.errors import unprocessable
from app.history_service import agent_scope, check_call_visible
from app.models import (
    Call,
    Complaint,
    ComplaintRecording,
    Recording,
    RecordingPause,
    Role,
    User,
)
from app.recording_purge import purge
from app.recording_store import RecordingStore, store_for
from app.schemas import Id, PathId
from app.security import ANY_ROLE, Identity, get_db, require
from core.errors import NotFound

router = APIRouter(tags=["recordings"])
any_role = require(*ANY_ROLE)
admin = require(Role.admin)


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
    return store_for(request.app.state.settings)


async def _out(db: AsyncSession, rec: Recording) -> RecordingOut:
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
        raise HTTPException(403, "not your call's recording")
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
    return {call_id: await _out(db, rec) for call_id, rec in rows}


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
        out.setdefault(complaint_id, []).append(await _out(db, rec))
    return out


@router.get("/calls/{call_id}/recordings", response_model=list[RecordingOut])
async def call_recordings(
    call_id: PathId, ident: Identity = Depends(any_role), db: AsyncSession = Depends(get_db)
) -> Any:
    await check_call_visible(db, ident, call_id)
    linkedid = await db.scalar(select(Call.linkedid).where(Call.id == call_id))
    recs = await db.scalars(select(Recording).where(Recording.linkedid == linkedid))
    return [await _out(db, r) for r in recs]


@router.get("/recordings/{recording_id}", response_model=RecordingOut)
async def get_recording(
    recording_id: PathId, ident: Identity = Depends(any_role), db: AsyncSession = Depends(get_db)
) -> Any:
    return await _out(db, await visible_recording(db, ident, recording_id))


@router.get(
    "/recordings/{recording_id}/audio",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"audio/wav": {}}},
        206: {"description": "the byte range asked for"},
        410: {"description": "deleted (retention or erasure)"},
        416: {"description": "a range outside the file"},
    },
)
async def recording_audio(
    recording_id: PathId,
    request: Request,
    download: bool = Query(default=False, description="as an attachment (a download, audited as one)"),
    ident: Identity = Depends(any_role),
    db: AsyncSession = Depends(get_db),
    files: RecordingStore = Depends(store),
) -> Response:
    rec = await visible_recording(db, ident, recording_id)
    size = None if rec.purged_at else await files.size(rec.storage_key)
    if size is None:
        raise HTTPException(410, "this recording was deleted")
    try:
        span = recordings.byte_range(request.headers.get("range"), size)
    except recordings.RangeNotSatisfiable:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
    first, last = span or (0, size - 1)
    # a listen is the player's first request; its seeks are audited too, as what they are
    action = (
        "recording_downloaded" if download else "recording_listened" if first == 0 else "recording_seeked"
    )
    audit(
        db,
        action,
        user_id=ident.user.id,
        target_type="recording",
        target_id=rec.id,
        detail={"linkedid": rec.linkedid, "bytes": [first, last]},
        request=request,
    )
    await db.commit()
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(last - first + 1), "Cache-Control": "no-store"}
    if span is not None:
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    if download:
        headers["Content-Disposition"] = f'attachment; filename="recording-{rec.id}.wav"'
    return StreamingResponse(
        files.read(rec.storage_key, first, last),
        status_code=206 if span is not None else 200,
        media_type="audio/wav",
        headers=headers,
    )


# -- complaints pin the recordings of their calls --------------------------------------------------------
async def _complaint(db: AsyncSession, complaint_id: int) -> Complaint:
    c = await db.get(Complaint, complaint_id)
    if c is None:
        raise NotFound("no such complaint")
    return c


@router.get("/complaints/{complaint_id}/recordings", response_model=list[RecordingOut])
async def complaint_recordings(
    complaint_id: PathId, ident: Identity = Depends(any_role), db: AsyncSession = Depends(get_db)
) -> Any:
    await _complaint(db, complaint_id)
    stmt = select(Recording).join(ComplaintRecording, ComplaintRecording.recording_id == Recording.id)
    stmt = stmt.where(ComplaintRecording.complaint_id == complaint_id)
    scope = agent_scope(ident, Recording.agent_id)
    recs = await db.scalars(stmt if scope is None else stmt.where(scope))
    return [await _out(db, r) for r in recs]


@router.post("/complaints/{complaint_id}/recordings", response_model=RecordingOut, status_code=201)
async def pin_recording(
    complaint_id: PathId,
    body: PinIn,
    request: Request,
    ident: Identity = Depends(any_role),
    db: AsyncSession = Depends(get_db),
) -> Any:
    """Pin a recording to the complaint: kept past its retention until the complaint is closed."""
    await _complaint(db, complaint_id)
    try:
        rec = await visible_recording(db, ident, body.recording_id)
    except NotFound:
        raise unprocessable("recording_id", "no such recording") from None
    if await db.get(ComplaintRecording, (complaint_id, rec.id)) is None:
        db.add(ComplaintRecording(complaint_id=complaint_id, recording_id=rec.id, pinned_by=ident.user.id))
        audit(
            db,
            "recording_pinned",
            user_id=ident.user.id,
            target_type="complaint",
            target_id=complaint_id,
            detail={"recording_id": rec.id},
            request=request,
        )
        await db.commit()
    return await _out(db, rec)


@router.delete("/complaints/{complaint_id}/recordings/{recording_id}", status_code=204)
async def unpin_recording(
    complaint_id: PathId,
    recording_id: PathId,
    request: Request,
    ident: Identity = Depends(any_role),
    db: AsyncSession = Depends(get_db),
) -> None:
    await visible_recording(db, ident, recording_id)
    pin = await db.get(ComplaintRecording, (complaint_id, recording_id))
    if pin is None:
        raise NotFound("this complaint does not pin this recording")
    await db.delete(pin)
    audit(
        db,
        "recording_unpinned",
        user_id=ident.user.id,
        target_type="complaint",
        target_id=complaint_id,
        detail={"recording_id": recording_id},
        request=request,
    )
    await db.commit()


@router.post("/recordings/purge")
async def purge_now(
    request: Request, _: Identity = Depends(admin), files: RecordingStore = Depends(store)
) -> dict[str, Any]:
    """Run the retention job now (it also runs periodically): what it deleted, kept on hold, anonymised."""
    report = await purge(request.app.state.db, files, request.app.state.settings, datetime.now(UTC))
    return report.as_dict()
