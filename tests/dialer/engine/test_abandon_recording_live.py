"""The abandon message uploaded on the campaign page, with the real Asterisk: a manager uploads a recording,
the server converts it with sox into the sounds Asterisk reads, and a person answered while no agent is
free hears that file (Asterisk's own log names it) instead of the stock prompts."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

import pytest

from core.dialer_tables import CampaignState
from tests.cti.pbx.capture import AmiRecorder
from tests.cti.pbx.sipp import Sipp
from tests.dialer.engine.conftest import Live, wait_for_async

pytestmark = pytest.mark.asterisk

SECONDS = 3  # the uploaded message's length: its playback ends no sooner


def _user_events(data: bytes, kind: str, channel_id: str) -> list[dict[str, str]]:
    out = []
    for block in data.decode(errors="replace").split("\r\n\r\n"):
        headers = dict(line.split(": ", 1) for line in block.split("\r\n") if ": " in line)
        if headers.get("UserEvent") == kind and headers.get("ChannelId") == channel_id:
            out.append(headers)
    return out


async def test_given_an_uploaded_abandon_message_when_no_agent_is_free_then_that_recording_is_what_plays(
    live: Live, sipp: Sipp, recorder: AmiRecorder, tmp_path: Path
) -> None:
    live.pbx.rx("logger add channel abandon-verbose.log verbose(3)")  # "Playing '<file>'" lines
    source = tmp_path / "abandon.flac"
    await asyncio.to_thread(
        subprocess.run,
        ["sox", "-n", "-r", "44100", "-c", "2", str(source), "synth", str(SECONDS), "sine", "523"],
        check=True,
    )
    cid, (lead_id,) = await live.campaign(["+33611000811"], state=CampaignState.draft)
    sounds = live.p.app.state.settings.pbx_sounds_dir
    wav = sounds / "plateau" / f"campaign-{cid}-abandon.wav"
    try:
        async with live.p.client("manager") as manager:
            r = await manager.post(
                f"/api/v1/campaigns/{cid}/abandon-message",
                files={"file": ("abandon.flac", source.read_bytes(), "audio/flac")},
            )
        assert r.status_code == 200, r.text
        sound = r.json()["abandon_message"]
        assert sound == f"plateau/campaign-{cid}-abandon" and wav.exists()

        sipp.customer("answer", ring_ms=200)
        sipp.agent(1, "noanswer")  # ready, but never picks up: abandoned after the rule set's 2 s
        await live.login(1)
        await live.set_state(cid, CampaignState.running)
        (attempt,) = await wait_for_async(lambda: live.attempts(lead_id), timeout=40, what="the attempt")
        assert attempt.result == "dropped"
        (sent,) = live.originates()
        events = _user_events(recorder.data, "DialerMessage", sent["channel_id"])
        start, end = events[0], events[-1]
        assert (start["Kind"], start["Part"], start["Sound"]) == ("abandon", "start", sound)
        assert (end["Part"], end["Sound"], end["PlaybackStatus"]) == ("end", sound, "SUCCESS")
        assert "Digits" not in start  # not the stock prompts and the callback number
        assert float(end["Timestamp"]) - float(start["Timestamp"]) >= 0.95 * SECONDS  # played in full
        log = (live.pbx.cfg.runtime / "log" / "abandon-verbose.log").read_text(errors="replace")
        # "Playing '<file>.<the channel's format>'": the uploaded file, found where Playback looks
        assert re.search(rf"Playback\([^)]*\"{re.escape(sound)}\"\)", log), log[-2000:]
        assert re.search(rf"Playing '{re.escape(sound)}\.\w+' \(language", log), log[-2000:]
        assert not re.search(r"Playing 'vm-from-phonenumber", log)
    finally:
        wav.unlink(missing_ok=True)  # the shared sounds directory keeps no test file
        live.pbx.rx("logger remove channel abandon-verbose.log")
