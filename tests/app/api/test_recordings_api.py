"""Recordings over the API, on both engines: the player's Range requests, who may hear what (403, and the
file's place in no response), an audit row per listen, complaints pinning recordings, and the purge keeping
what an open complaint holds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select

from core.models import (
    AuditLog,
    Call,
    CallDirection,
    ComplaintStatus,
    Interaction,
    InteractionKind,
    Recording,
    utcnow,
)
from core.recording_store import store_for
from tests.app.api.conftest import Api
from tests.app.api.recording_seed import Seeded, add_complaint, add_recording, seed_recorded_call


@pytest_asyncio.fixture
async def seeded(api: Api, tmp_path: Path) -> AsyncIterator[Seeded]:
    yield await seed_recorded_call(api, tmp_path)


async def _audits(api: Api, action: str) -> int:
    async with api.db.session() as s:
        return int(await s.scalar(select(func.count()).where(AuditLog.action == action)) or 0)


def _no_path(r: httpx.Response, folder: Path) -> None:
    said = r.content + str(r.headers).encode()
    assert str(folder).encode() not in said and b"recordings-folder" not in said


async def test_given_a_recording_when_the_player_asks_ranges_then_it_plays_and_seeks(
    api: Api, seeded: Seeded
) -> None:
    c = await api.bearer("agent")
    url = f"/api/v1/recordings/{seeded.rec_id}/audio"
    size = len(seeded.audio)
    whole = await c.get(url)
    assert whole.status_code == 200 and whole.content == seeded.audio
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["content-type"] == "audio/wav"
    first = await c.get(url, headers={"Range": "bytes=0-"})
    assert first.status_code == 206 and first.content == seeded.audio
    assert first.headers["content-range"] == f"bytes 0-{size - 1}/{size}"
    seek = await c.get(url, headers={"Range": "bytes=16000-16999"})
    assert seek.status_code == 206 and seek.content == seeded.audio[16000:17000]
    assert seek.headers["content-range"] == f"bytes 16000-16999/{size}"
    tail = await c.get(url, headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == seeded.audio[-100:]
    beyond = await c.get(url, headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    down = await c.get(url, params={"download": "true"})
    assert down.status_code == 200 and "attachment" in down.headers["content-disposition"]
    for r in (whole, first, seek, tail, beyond, down):
        _no_path(r, seeded.folder)


async def test_given_each_listen_when_played_then_an_audit_row_says_who_heard_what(
    api: Api, seeded: Seeded
) -> None:
    c = await api.bearer("supervisor")  # the agent's supervisor (same team)
    url = f"/api/v1/recordings/{seeded.rec_id}/audio"
    for _ in range(2):
        assert (await c.get(url, headers={"Range": "bytes=0-"})).status_code == 206
    assert (await c.get(url, headers={"Range": "bytes=8000-"})).status_code == 206
    assert (await c.get(url, params={"download": "true"})).status_code == 200
    assert await _audits(api, "recording_listened") == 2
    assert await _audits(api, "recording_seeked") == 1
    assert await _audits(api, "recording_downloaded") == 1
    async with api.db.session() as s:
        row = await s.scalar(select(AuditLog).where(AuditLog.action == "recording_listened"))
    assert row is not None and row.user_id == api.users["supervisor"].id
    assert (row.target_type, row.target_id) == ("recording", str(seeded.rec_id))


@pytest.mark.parametrize(
    ("user", "status"),
    [("agent", 200), ("supervisor", 200), ("manager", 200), ("admin", 200), ("agent2", 403)],
)
async def test_given_another_teams_recording_when_an_agent_asks_then_403_and_no_path(
    api: Api, seeded: Seeded, user: str, status: int
) -> None:
    c = await api.bearer(user)
    meta = await c.get(f"/api/v1/recordings/{seeded.rec_id}")
    audio = await c.get(f"/api/v1/recordings/{seeded.rec_id}/audio", headers={"Range": "bytes=0-"})
    assert meta.status_code == status and audio.status_code == (206 if status == 200 else 403)
    _no_path(meta, seeded.folder)
    _no_path(audio, seeded.folder)
    if status == 403:
        assert await _audits(api, "recording_listened") == 0
    else:
        body = meta.json()
        assert body["call_id"] == seeded.call_id and body["audio_url"].endswith("/audio")
        assert [(p["start_s"], p["end_s"], p["by"]) for p in body["paused"]] == [(0.5, 1.0, "Agent")]
    missing = await c.get("/api/v1/recordings/999999")
    assert missing.status_code == 404


async def test_given_a_call_when_its_recordings_are_listed_then_by_the_calls_scope(
    api: Api, seeded: Seeded
) -> None:
    mine = await (await api.bearer("agent")).get(f"/api/v1/calls/{seeded.call_id}/recordings")
    assert mine.status_code == 200 and [r["id"] for r in mine.json()] == [seeded.rec_id]
    other = await (await api.bearer("agent2")).get(f"/api/v1/calls/{seeded.call_id}/recordings")
    assert other.status_code == 404  # as /calls/{id}: a call out of scope is not shown to exist


async def test_given_expired_recordings_when_purged_then_deleted_but_one_pinned_to_an_open_complaint_kept(
    api: Api, seeded: Seeded
) -> None:
    long_ago = utcnow() - timedelta(days=200)
    pinned = await add_recording(api, seeded.folder, "1750000000.2", "agent", long_ago, seeded.audio)
    expired = await add_recording(api, seeded.folder, "1750000000.3", "agent", long_ago, seeded.audio)
    on_closed = await add_recording(api, seeded.folder, "1750000000.4", "agent", long_ago, seeded.audio)
    open_c = await add_complaint(api, seeded.contact_id, ComplaintStatus.in_progress)
    closed_c = await add_complaint(api, seeded.contact_id, ComplaintStatus.closed)
    agent = await api.bearer("agent")
    for complaint, rec in ((open_c, pinned), (closed_c, on_closed)):
        r = await agent.post(f"/api/v1/complaints/{complaint}/recordings", json={"recording_id": rec})
        assert r.status_code == 201, r.text
    listed = await agent.get(f"/api/v1/complaints/{open_c}/recordings")
    assert [r["id"] for r in listed.json()] == [pinned]

    assert (await agent.post("/api/v1/recordings/purge")).status_code == 403
    report = (await (await api.bearer("admin")).post("/api/v1/recordings/purge")).json()
    assert sorted(d["id"] for d in report["deleted"]) == sorted([expired, on_closed])
    assert report["held"] == [pinned]
    assert (seeded.folder / "1750000000.2.wav").exists()
    assert not (seeded.folder / "1750000000.3.wav").exists()
    assert not (seeded.folder / "1750000000.4.wav").exists()
    assert (seeded.folder / "1765000000.1.wav").exists()  # not expired
    gone = await agent.get(f"/api/v1/recordings/{expired}/audio")
    assert gone.status_code == 410
    assert (await agent.get(f"/api/v1/recordings/{expired}")).json()["audio_url"] is None
    assert await _audits(api, "recordings_purged") == 1
    again = (await (await api.bearer("admin")).post("/api/v1/recordings/purge")).json()
    assert again["deleted"] == [] and again["held"] == [pinned]


async def test_given_pins_when_input_is_bad_or_out_of_scope_then_clear_errors(
    api: Api, seeded: Seeded
) -> None:
    complaint = await add_complaint(api, seeded.contact_id, ComplaintStatus.open)
    url = f"/api/v1/complaints/{complaint}/recordings"
    agent, other = await api.bearer("agent"), await api.bearer("agent2")
    bad = await agent.post(url, json={"recording_id": 0})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "recording_id"]
    unknown = await agent.post(url, json={"recording_id": 999999})
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "recording_id"]
    assert (await other.post(url, json={"recording_id": seeded.rec_id})).status_code == 403
    assert (
        await agent.post("/api/v1/complaints/999999/recordings", json={"recording_id": 1})
    ).status_code == 404
    assert (await agent.post(url, json={"recording_id": seeded.rec_id})).status_code == 201
    assert (await agent.post(url, json={"recording_id": seeded.rec_id})).status_code == 201  # idempotent
    assert (await agent.delete(f"{url}/{seeded.rec_id}")).status_code == 204
    assert (await agent.delete(f"{url}/{seeded.rec_id}")).status_code == 404


async def test_given_queue_recording_settings_when_bad_then_422_naming_the_field(api: Api) -> None:
    admin = await api.bearer("admin")
    made = await admin.post("/api/v1/queues", json={"name": "care", "display_name": "Care"})
    assert made.status_code == 201 and made.json()["recording_policy"] == "none"
    qid = made.json()["id"]
    for field, value in [
        ("recording_policy", "sometimes"),
        ("recording_announcement", "../../etc/passwd"),
        ("recording_announcement", "a,b"),
        ("recording_retention_days", -1),
    ]:
        r = await admin.patch(f"/api/v1/queues/{qid}", json={field: value})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == field, (field, r.text)
    ok = await admin.patch(
        f"/api/v1/queues/{qid}",
        json={
            "recording_policy": "all",
            "recording_announcement": "custom/rec-fr",
            "recording_retention_days": 30,
        },
    )
    assert ok.status_code == 200
    assert (ok.json()["recording_policy"], ok.json()["recording_retention_days"]) == ("all", 30)


async def test_given_call_metadata_retention_when_purged_then_old_rows_anonymised_and_totals_kept(
    api: Api, seeded: Seeded
) -> None:
    api.app.state.settings = api.app.state.settings.model_copy(update={"call_metadata_retention_days": 30})
    old = utcnow() - timedelta(days=45)
    async with api.db.session() as s:
        s.add(
            Call(
                linkedid="1700000000.9", direction=CallDirection.inbound, caller_number="+33699999999",
                caller_name="Hostile <script>", contact_id=seeded.contact_id, queue="support", offered_at=old,
                answered_at=old, ended_at=old + timedelta(minutes=3), talk_s=180.0, outcome="answered",
            )
        )  # fmt: skip
        await s.commit()
    report = (await (await api.bearer("admin")).post("/api/v1/recordings/purge")).json()
    assert report["calls_anonymised"] == 1
    async with api.db.session() as s:
        rows = {c.linkedid: c for c in await s.scalars(select(Call))}
    anonymised, recent = rows["1700000000.9"], rows["1765000000.1"]
    assert (anonymised.caller_number, anonymised.caller_name, anonymised.contact_id) == (None, None, None)
    assert (anonymised.talk_s, anonymised.outcome, anonymised.queue) == (180.0, "answered", "support")
    assert recent.caller_number == "+33612345678"


async def test_given_a_recorded_call_on_the_timeline_when_the_pages_open_then_a_player_for_who_may_hear(
    api: Api, seeded: Seeded
) -> None:
    async with api.db.session() as s:
        s.add(Interaction(contact_id=seeded.contact_id, kind=InteractionKind.call, call_id=seeded.call_id))
        await s.commit()
    complaint = await add_complaint(api, seeded.contact_id, ComplaintStatus.open)
    pin = f"/api/v1/complaints/{complaint}/recordings"
    assert (
        await (await api.bearer("agent")).post(pin, json={"recording_id": seeded.rec_id})
    ).status_code == 201
    player = f'src="/api/v1/recordings/{seeded.rec_id}/audio"'.encode()
    for user, hears in (("agent", True), ("manager", True), ("agent2", False)):
        c = await api.login(user)
        for url in (f"/contacts/{seeded.contact_id}", "/complaints"):
            r = await c.get(url)
            assert r.status_code == 200 and (player in r.content) is hears, (user, url)
            _no_path(r, seeded.folder)
    fr = await (await api.login("agent")).get(f"/contacts/{seeded.contact_id}")
    assert "suspendu de 0 s à 1 s par Agent".encode() in fr.content  # the pause, in French by default
    # a complaint opened from the call offers its recording to pin; pinned, it says so instead
    from_call = await add_complaint(api, seeded.contact_id, ComplaintStatus.open, call_id=seeded.call_id)
    page_ = (await (await api.login("agent")).get("/complaints")).text
    assert f'data-pin-complaint="{from_call}" data-pin-recording="{seeded.rec_id}"' in page_
    assert f'data-pin-complaint="{complaint}"' not in page_


async def test_given_campaign_recording_settings_when_set_then_kept_and_bad_ones_422(api: Api) -> None:
    manager = await api.bearer("manager")
    made = await manager.post(
        "/api/v1/campaigns",
        json={"name": "Relance", "recording_policy": "all", "recording_retention_days": 7},
    )
    assert made.status_code == 201, made.text
    assert (made.json()["recording_policy"], made.json()["recording_retention_days"]) == ("all", 7)
    cid = made.json()["id"]
    for field, value in [
        ("recording_policy", None),
        ("recording_policy", "x"),
        ("recording_announcement", "a b"),
    ]:
        r = await manager.patch(f"/api/v1/campaigns/{cid}", json={field: value})
        assert r.status_code == 422 and field in str(r.json()["detail"]), (field, r.text)
    ok = await manager.patch(f"/api/v1/campaigns/{cid}", json={"recording_announcement": "custom/rec-en"})
    assert ok.status_code == 200 and ok.json()["recording_announcement"] == "custom/rec-en"


async def test_given_a_persons_calls_when_their_recordings_are_erased_then_files_gone_rows_say_so(
    api: Api, seeded: Seeded
) -> None:
    store = store_for(api.app.state.settings)
    chunks = [c async for c in store.open("1765000000.1.wav")]
    assert b"".join(chunks) == seeded.audio  # what an export reads
    admin = await api.bearer("admin")
    r = await admin.post("/api/v1/persons/erase", json={"number": "06 12 34 56 78", "confirm": True})
    assert r.status_code == 200 and r.json()["counts"]["recordings"] == 1, r.text
    assert await store.size("1765000000.1.wav") is None
    async with api.db.session() as s:
        rec = await s.get(Recording, seeded.rec_id)
        assert rec is not None and rec.purged_at is not None  # the row says so
    r = await admin.post("/api/v1/persons/erase", json={"number": "06 12 34 56 78", "confirm": True})
    assert r.status_code == 200 and r.json()["files_not_removed"] == []  # once: nothing left to delete
    r = await (await api.bearer("agent")).get(f"/api/v1/recordings/{seeded.rec_id}/audio")
    assert r.status_code == 410
