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
from sqlalchemy import select

from app import recording_service as svc
from app.deps import Admin, AnyRole, Db, state_of
from app.errors import unprocessable
from app.history_service import agent_scope
from app.recording_purge import purge
from app.recording_service import PinIn, RecordingOut, load_complaint, recording_out, store, visible_recording
from app.schemas import PathId
from app.security import ANY_ROLE, require
from core.audit import audit
from core.errors import NotFound
from core.models import (
    ComplaintRecording,
    Recording,
    Role,
)
from core.recording_store import RecordingStore
from cti import recordings

router = APIRouter(tags=["recordings"])


any_role = require(*ANY_ROLE)


admin = require(Role.admin)


@router.get("/calls/{call_id}/recordings", response_model=list[RecordingOut])
async def call_recordings(call_id: PathId, ident: AnyRole, db: Db) -> Any:
    return await svc.call_recordings(db, ident, call_id)


@router.get("/recordings/{recording_id}", response_model=RecordingOut)
async def get_recording(recording_id: PathId, ident: AnyRole, db: Db) -> Any:
    return await recording_out(db, await visible_recording(db, ident, recording_id))


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
    ident: AnyRole,
    db: Db,
    download: bool = Query(default=False, description="as an attachment (a download, audited as one)"),
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


@router.get("/complaints/{complaint_id}/recordings", response_model=list[RecordingOut])
async def complaint_recordings(complaint_id: PathId, ident: AnyRole, db: Db) -> Any:
    await load_complaint(db, complaint_id)
    stmt = select(Recording).join(ComplaintRecording, ComplaintRecording.recording_id == Recording.id)
    stmt = stmt.where(ComplaintRecording.complaint_id == complaint_id)
    scope = agent_scope(ident, Recording.agent_id)
    recs = await db.scalars(stmt if scope is None else stmt.where(scope))
    return [await recording_out(db, r) for r in recs]


@router.post("/complaints/{complaint_id}/recordings", response_model=RecordingOut, status_code=201)
async def pin_recording(
    complaint_id: PathId,
    body: PinIn,
    request: Request,
    ident: AnyRole,
    db: Db,
) -> Any:
    """Pin a recording to the complaint: kept past its retention until the complaint is closed."""
    await load_complaint(db, complaint_id)
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
    return await recording_out(db, rec)


@router.delete("/complaints/{complaint_id}/recordings/{recording_id}", status_code=204)
async def unpin_recording(
    complaint_id: PathId,
    recording_id: PathId,
    request: Request,
    ident: AnyRole,
    db: Db,
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
async def purge_now(request: Request, _: Admin, files: RecordingStore = Depends(store)) -> dict[str, Any]:
    """Run the retention job now (it also runs periodically): what it deleted, kept on hold, anonymised."""
    report = await purge(state_of(request).db, files, state_of(request).settings, datetime.now(UTC))
    return report.as_dict()
