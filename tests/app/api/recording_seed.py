"""A recorded call for the API and page tests: a WAV tone in a recordings folder the app is pointed at, its
call row with a pause, its `recordings` row; and complaints about a contact."""

from __future__ import annotations

import io
import math
import struct
import wave
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from core.models import (
    Call,
    CallDirection,
    Complaint,
    ComplaintStatus,
    Contact,
    Recording,
    RecordingPause,
    utcnow,
)
from tests.app.api.conftest import Api


def tone_wav(seconds: float) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        n = int(seconds * 8000)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 5))) for i in range(n)))
    return buf.getvalue()


@dataclass
class Seeded:
    folder: Path
    audio: bytes
    rec_id: int  # agent's (team A) recording
    call_id: int
    contact_id: int


async def add_recording(
    api: Api, folder: Path, linkedid: str, agent: str, ended: datetime, audio: bytes
) -> int:
    (folder / f"{linkedid}.wav").write_bytes(audio)
    async with api.db.session() as s:
        rec = Recording(
            linkedid=linkedid,
            storage_key=f"{linkedid}.wav",
            queue="support",
            agent_id=api.users[agent].id,
            started_at=ended - timedelta(seconds=2),
            ended_at=ended,
            duration_s=2.0,
            size_bytes=len(audio),
            expires_at=ended + timedelta(days=90),
        )
        s.add(rec)
        await s.commit()
        return rec.id


async def seed_recorded_call(api: Api, tmp_path: Path) -> Seeded:
    """The agent's (team A) answered call from +33612345678, paused once and recorded; and a contact."""
    folder = tmp_path / "recordings-folder"
    folder.mkdir()
    api.app.state.settings = api.app.state.settings.model_copy(update={"recordings_dir": folder})
    audio = tone_wav(2.0)
    ended = utcnow()
    async with api.db.session() as s:
        contact = Contact(last_name="Durand")
        call = Call(
            linkedid="1765000000.1",
            direction=CallDirection.inbound,
            caller_number="+33612345678",
            queue="support",
            agent_id=api.users["agent"].id,
            offered_at=ended - timedelta(seconds=10),
            answered_at=ended - timedelta(seconds=2),
            ended_at=ended,
            talk_s=2.0,
            outcome="answered",
        )
        s.add_all([contact, call])
        s.add_all(
            [
                RecordingPause(linkedid=call.linkedid, paused=True, source="desk",
                               user_id=api.users["agent"].id, at=ended - timedelta(seconds=1.5)),
                RecordingPause(linkedid=call.linkedid, paused=False, source="desk",
                               user_id=api.users["agent"].id, at=ended - timedelta(seconds=1)),
            ]
        )  # fmt: skip
        await s.commit()
        call_id, contact_id = call.id, contact.id
    rec_id = await add_recording(api, folder, "1765000000.1", "agent", ended, audio)
    return Seeded(folder, audio, rec_id, call_id, contact_id)


async def add_complaint(
    api: Api, contact_id: int, status: ComplaintStatus, call_id: int | None = None
) -> int:
    now = utcnow()
    async with api.db.session() as s:
        c = Complaint(
            contact_id=contact_id, call_id=call_id, category="billing", description="wrong invoice",
            status=status, ack_due_at=now + timedelta(days=10), answer_due_at=now + timedelta(days=60),
        )  # fmt: skip
        s.add(c)
        await s.commit()
        return c.id
