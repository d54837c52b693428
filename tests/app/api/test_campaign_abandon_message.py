"""The abandon message from an uploaded recording (both engines): converted with sox like the machine
message, named apart from it, refused when it is not audio, removable, audited, managers only; and the
dialer's originate carries it (or nothing: the stock prompts) to the dialplan."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from core.models import AuditLog
from dialer.messages import abandon_sound
from tests.app.api.conftest import Api

pytestmark = pytest.mark.db


async def _run(*cmd: str) -> str:
    done = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, check=True)
    return done.stdout


async def test_given_a_recording_when_uploaded_as_the_abandon_message_then_it_is_converted_and_named_apart(
    api: Api, tmp_path: Path
) -> None:
    sounds = tmp_path / "sounds"
    api.app.state.settings = api.app.state.settings.model_copy(update={"pbx_sounds_dir": sounds})
    source = tmp_path / "abandon.ogg"
    await _run("sox", "-n", "-r", "48000", "-c", "2", str(source), "synth", "1", "sine", "330")
    manager = await api.login("manager")
    cid = (await manager.post("/api/v1/campaigns", json={"name": "Avec abandon"})).json()["id"]
    r = await manager.post(
        f"/api/v1/campaigns/{cid}/abandon-message",
        files={"file": ("abandon.ogg", source.read_bytes(), "audio/ogg")},
    )
    assert r.status_code == 200, r.text
    assert r.json()["abandon_message"] == f"plateau/campaign-{cid}-abandon"
    assert r.json()["machine_message"] is None  # the machine message is its own upload
    wav = sounds / "plateau" / f"campaign-{cid}-abandon.wav"
    info = await _run("soxi", str(wav))
    assert re.search(r"Channels\s*:\s*1", info) and re.search(r"Sample Rate\s*:\s*8000", info)

    bad = await manager.post(
        f"/api/v1/campaigns/{cid}/abandon-message", files={"file": ("x.wav", b"not audio at all")}
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["form", "file"], bad.text
    assert (await manager.get(f"/api/v1/campaigns/{cid}")).json()["abandon_message"] is not None

    r = await manager.delete(f"/api/v1/campaigns/{cid}/abandon-message")
    assert r.status_code == 200 and r.json()["abandon_message"] is None
    async with api.db.session() as s:
        actions = list(await s.scalars(select(AuditLog.action).where(AuditLog.target_id == str(cid))))
    assert actions.count("campaign_abandon_message_uploaded") == 1
    assert actions.count("campaign_abandon_message_removed") == 1


@pytest.mark.parametrize("role", ["agent", "supervisor"])
async def test_given_a_role_below_manager_when_uploading_an_abandon_message_then_403(
    api: Api, role: str
) -> None:
    manager = await api.login("manager")
    cid = (await manager.post("/api/v1/campaigns", json={"name": "X"})).json()["id"]
    c = await api.login(role)
    r = await c.post(f"/api/v1/campaigns/{cid}/abandon-message", files={"file": ("a.wav", b"RIFF")})
    assert r.status_code == 403
    assert (await c.delete(f"/api/v1/campaigns/{cid}/abandon-message")).status_code == 403


@pytest.mark.parametrize(
    ("stored", "played"),
    [
        (None, ""),  # none uploaded: the stock prompts and the callback number
        ("plateau/campaign-7-abandon", "plateau/campaign-7-abandon"),
        ("../../etc/passwd", ""),  # written by hand: never a path out of the sounds
        ("a,b", ""),
    ],
)
def test_given_a_stored_abandon_message_when_the_dialer_reads_it_then_only_a_checked_name_goes_out(
    stored: str | None, played: str
) -> None:
    assert abandon_sound(SimpleNamespace(id=7, abandon_message=stored)) == played  # type: ignore[arg-type]
