"""A person's erasure and the legal hold, on SQLite and PostgreSQL: a recording that a complaint not closed
pins keeps its file through the erasure (GDPR art. 17(3)(e)), and the answer, the audit entry and the admin
page say so; once the complaint is closed, the next retention purge deletes it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from core.models import (
    AuditLog,
    Call,
    CallDirection,
    Complaint,
    ComplaintRecording,
    ComplaintStatus,
    Recording,
    utcnow,
)
from tests.app.api.conftest import Api
from tests.app.api.recording_seed import add_complaint, add_recording, seed_recorded_call

pytestmark = pytest.mark.db
NUMBER, NATIONAL = "+33612345678", "06 12 34 56 78"
HELD_CALL = "1765000000.2"


@dataclass
class Held:
    folder: Path
    unheld: int  # the person's recording no complaint pins
    held: int  # the person's recording an open complaint pins
    held_call: int
    complaint: int


async def _seed(api: Api, tmp_path: Path) -> Held:
    """The person's two recorded calls (seed_recorded_call's, and a second one from the same number); the
    second is pinned, through the API, to a complaint in progress about it."""
    seeded = await seed_recorded_call(api, tmp_path)
    ended = utcnow()
    async with api.db.session() as s:
        call = Call(linkedid=HELD_CALL, direction=CallDirection.inbound, caller_number=NUMBER,
                    caller_name="DURAND Paul", queue="support", agent_id=api.users["agent"].id,
                    offered_at=ended, answered_at=ended, ended_at=ended, talk_s=2.0,
                    outcome="answered")  # fmt: skip
        s.add(call)
        await s.commit()
        call_id = call.id
    held = await add_recording(api, seeded.folder, HELD_CALL, "agent", ended, seeded.audio)
    complaint = await add_complaint(api, seeded.contact_id, ComplaintStatus.in_progress, call_id)
    r = await (await api.bearer("agent")).post(
        f"/api/v1/complaints/{complaint}/recordings", json={"recording_id": held}
    )
    assert r.status_code == 201, r.text
    return Held(seeded.folder, seeded.rec_id, held, call_id, complaint)


async def _purge(api: Api) -> dict[str, object]:
    r = await (await api.bearer("admin")).post("/api/v1/recordings/purge")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _close(api: Api, complaint: int) -> None:
    admin = await api.bearer("admin")
    for to in ("resolved", "closed"):
        r = await admin.post(f"/api/v1/complaints/{complaint}/transition", json={"to": to})
        assert r.status_code == 200, r.text


async def test_given_a_held_and_an_unheld_recording_when_the_person_is_erased_then_the_held_stays_till_closed(
    api: Api, tmp_path: Path
) -> None:
    seeded = await _seed(api, tmp_path)
    admin = await api.bearer("admin")

    r = await admin.post("/api/v1/persons/erase", json={"number": NATIONAL, "confirm": True})

    assert r.status_code == 200, r.text
    reason = f"legal hold: complaint #{seeded.complaint} open"
    kept = [{"source": "recordings", "count": 1, "ids": [seeded.held],
             "complaints": [seeded.complaint], "reason": reason}]  # fmt: skip
    assert r.json()["kept"] == kept
    assert r.json()["counts"]["recordings"] == 1 and r.json()["files_not_removed"] == []
    assert not (seeded.folder / "1765000000.1.wav").exists()
    assert (seeded.folder / f"{HELD_CALL}.wav").exists()
    async with api.db.session() as s:
        erased = await s.scalar(select(AuditLog).where(AuditLog.action == "person_erased"))
        assert erased is not None and erased.detail["kept"] == kept
        held = await s.get(Recording, seeded.held)
        assert held is not None and held.purged_at is None  # what the complaint needs: the file, its row
        assert held.expires_at is not None and held.expires_at <= utcnow()  # only the hold keeps it
        assert await s.get(ComplaintRecording, (seeded.complaint, seeded.held)) is not None  # the pin
        call = await s.get(Call, seeded.held_call)
        assert call is not None and (call.caller_number, call.caller_name) == (
            None,
            None,
        )  # erased all the same
        complaint = await s.get(Complaint, seeded.complaint)
        assert complaint is not None and complaint.call_id == seeded.held_call
    listen = await (await api.bearer("agent")).get(f"/api/v1/recordings/{seeded.held}/audio")
    assert listen.status_code == 200  # the complaint's handler still hears it

    still = await _purge(api)
    assert still["held"] == [seeded.held] and (seeded.folder / f"{HELD_CALL}.wav").exists()

    await _close(api, seeded.complaint)
    report = await _purge(api)

    assert [d["id"] for d in report["deleted"]] == [seeded.held]  # type: ignore[union-attr]
    assert report["held"] == [] and not (seeded.folder / f"{HELD_CALL}.wav").exists()
    async with api.db.session() as s:
        held = await s.get(Recording, seeded.held)
        assert held is not None and held.purged_at is not None
    gone = await (await api.bearer("agent")).get(f"/api/v1/recordings/{seeded.held}/audio")
    assert gone.status_code == 410


async def test_given_a_held_recording_when_the_person_is_erased_from_the_page_then_it_says_what_was_kept(
    api: Api, tmp_path: Path
) -> None:
    seeded = await _seed(api, tmp_path)
    c = await api.login("admin")  # French by default
    page = await c.get("/admin/persons", params={"number": NATIONAL})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None

    r = await c.post(
        "/admin/persons/erase", data={"number": NATIONAL, "csrf_token": csrf.group(1), "confirm": "yes"}
    )

    assert r.status_code == 200 and "Effacé" in r.text
    said = re.search(r'<div[^>]*id="person-kept"[^>]*>(.*?)</div>', r.text, re.S)
    assert said is not None, r.text
    text = " ".join(said.group(1).replace("&#39;", "'").split())
    assert (
        f"1 enregistrement d'appel conservé : conservation pour litige, réclamation #{seeded.complaint}"
        in text
    )
    assert (seeded.folder / f"{HELD_CALL}.wav").exists()


async def test_given_no_hold_when_the_person_is_erased_from_the_page_then_nothing_is_said_kept(
    api: Api, tmp_path: Path
) -> None:
    seeded = await _seed(api, tmp_path)
    await _close(api, seeded.complaint)  # a closed complaint holds nothing
    c = await api.login("admin")
    page = await c.get("/admin/persons", params={"number": NATIONAL})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None

    r = await c.post(
        "/admin/persons/erase", data={"number": NATIONAL, "csrf_token": csrf.group(1), "confirm": "yes"}
    )

    assert r.status_code == 200 and "Effacé" in r.text and 'id="person-kept"' not in r.text
    assert not (seeded.folder / f"{HELD_CALL}.wav").exists()
