"""The campaign pages and the readiness route (both engines): why a campaign cannot dial, said on its page
and by the API; who may open the pages; a script that does not load shows its errors."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from app.web.campaigns_view import load_preview
from core.models import AuditLog
from tests.app.api.conftest import Api

pytestmark = pytest.mark.db
HTML = {"accept": "text/html"}


async def test_given_a_campaign_without_lists_when_its_readiness_is_asked_then_page_and_api_say_why(
    api: Api,
) -> None:
    manager = await api.login("manager")
    r = await manager.post("/api/v1/campaigns", json={"name": "Sans rien", "script": "suivi-satisfaction"})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    codes = [b["code"] for b in (await manager.get(f"/api/v1/campaigns/{cid}/readiness")).json()]
    assert codes[:2] == ["no_list", "no_queue_or_team"]
    page = await manager.get(f"/campaigns/{cid}", headers=HTML)
    assert page.status_code == 200
    assert "Aucune liste d’appels n’y est rattachée." in page.text
    assert "Elle n’a ni file d’attente ni équipe d’agents." in page.text
    assert 'id="script-preview"' in page.text and "Suivi de satisfaction client" in page.text
    refused = await manager.post(f"/api/v1/campaigns/{cid}/transition", json={"to": "running"})
    assert refused.status_code == 409 and "attach at least one call list" in refused.text


PAGE_ACCESS = {  # user → {path: status}
    "agent": {"/campaigns/new": 403, "/campaigns/scripts/suivi-satisfaction": 403},
    "manager": {"/campaigns/new": 200, "/campaigns/scripts/suivi-satisfaction": 200,
                "/campaigns/scripts/absent": 404, "/campaigns/x1": 404, "/campaigns/999999": 404},
}  # fmt: skip


async def test_given_each_role_when_opening_the_campaign_pages_then_access_follows_the_role(api: Api) -> None:
    for user, pages in PAGE_ACCESS.items():
        c = await api.login(user)
        got = {path: (await c.get(path, headers=HTML)).status_code for path in pages}
        assert got == pages, user


def test_given_a_script_with_broken_yaml_when_previewed_then_its_errors_come_back_not_a_script(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "casse.yaml"
    bad.write_text("id: casse\nsections: [unclosed\n", encoding="utf-8")
    script, errors = load_preview(bad)
    assert script is None and errors and "invalid YAML" in errors[0]
    incomplete = tmp_path / "incomplet.yaml"
    incomplete.write_text("id: incomplet\ntitle: X\nlanguage: fr\nsections: []\n", encoding="utf-8")
    script, errors = load_preview(incomplete)
    assert script is None and any("outcomes" in e for e in errors)


async def _run(*cmd: str) -> str:
    done = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, check=True)
    return done.stdout


async def test_given_a_stereo_recording_when_uploaded_then_sox_makes_the_8khz_mono_wav_asterisk_plays(
    api: Api, tmp_path: Path
) -> None:
    sounds = tmp_path / "sounds"
    api.app.state.settings = api.app.state.settings.model_copy(update={"pbx_sounds_dir": sounds})
    source = tmp_path / "message.wav"
    # a real recording: 1 s of a 440 Hz tone, 44.1 kHz stereo
    await _run("sox", "-n", "-r", "44100", "-c", "2", str(source), "synth", "1", "sine", "440")
    manager = await api.login("manager")
    cid = (await manager.post("/api/v1/campaigns", json={"name": "Avec message"})).json()["id"]
    r = await manager.post(
        f"/api/v1/campaigns/{cid}/recording",
        files={"file": ("message.wav", source.read_bytes(), "audio/wav")},
    )
    assert r.status_code == 200, r.text
    assert r.json()["machine_message"] == f"plateau/campaign-{cid}"
    wav = sounds / "plateau" / f"campaign-{cid}.wav"
    info = await _run("soxi", str(wav))
    assert re.search(r"Channels\s*:\s*1", info) and re.search(r"Sample Rate\s*:\s*8000", info)
    assert re.search(r"Precision\s*:\s*16-bit", info)

    for name, body in (("message.wav", b"not audio at all"), ("message.exe", source.read_bytes())):
        bad = await manager.post(f"/api/v1/campaigns/{cid}/recording", files={"file": (name, body)})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["form", "file"], bad.text
    assert wav.stat().st_size > 10_000  # the refused uploads left the good recording alone
    async with api.db.session() as s:
        actions = list(await s.scalars(select(AuditLog.action).where(AuditLog.target_id == str(cid))))
    assert actions.count("campaign_recording_uploaded") == 1
