"""Call recordings through the real Asterisk: SIPp plays a known voice (its G.711 A-law sample) on the
caller's and the agent's legs; the files MixMonitor writes are measured with sox and read sample by sample."""

from __future__ import annotations

import asyncio
import subprocess
import time
import wave
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import select, update

from core.ivr_tables import IvrSession
from core.models import Call, Queue, Recording, RecordingPause
from cti.pbx_process import PrivateAsterisk
from cti.sipp import Caller, Sipp, voice_file
from cti.sipp_scenarios import agent_scenario
from tests.conftest import wait_for
from tests.cti.pbx.conftest import Plateau, plateau_settings, serve_plateau

pytestmark = pytest.mark.asterisk


@pytest_asyncio.fixture
async def plateau(pbx: PrivateAsterisk, tmp_path: Path) -> AsyncIterator[Plateau]:
    """Plateau recording into the test's own folder (Asterisk writes there, Plateau reads it)."""
    settings = plateau_settings(pbx, tmp_path, recordings_dir=tmp_path / "recordings")
    async with serve_plateau(settings) as p:
        assert await p.cti.link.wait_ready(15), p.cti.health()
        yield p
        await p.cti.logout("PJSIP/agent1")


def _agent_talking(sipp: Sipp, n: int, talk_ms: int) -> None:
    text = agent_scenario("answer", ring_ms=300, talk_ms=talk_ms, audio=voice_file(sipp.workdir))
    sipp.register(f"agent{n}", f"127.0.1.{n}")
    sipp._phone(sipp._file(f"agent{n}-voice.xml", text), f"127.0.1.{n}", sipp.cfg.phone_port)


def _call_talking(sipp: Sipp, number: str, did: str) -> None:
    """A trunk caller speaking from the answer on (SIPp's own A-law sample, streamed in a loop)."""
    sipp.call([Caller(number, did, "Voice")], hold_ms=30_000, audio=voice_file(sipp.workdir))


async def _policy(p: Plateau, queue: str, policy: str) -> None:
    async with p.db.session() as s:
        await s.execute(update(Queue).where(Queue.name == queue).values(recording_policy=policy))
        await s.commit()
    await p.cti.recorder.push_policies()


async def _login(p: Plateau, user: str, queue: str) -> None:
    async with p.client(user) as c:
        r = await c.post("/api/v1/agent/login", json={"queues": [queue]})
        assert r.status_code == 204, r.text
    iface = f"PJSIP/{user}"
    await wait_for(lambda: queue in getattr(p.cti.tracker.agents.get(iface), "queues", {}), 10, what="login")


async def _one(p: Plateau, model: type, **where: object) -> object:
    async with p.db.session() as s:
        return (await s.scalars(select(model).filter_by(**where))).all()


def _rms(path: Path, *trim: float) -> float:
    args = ["sox", str(path), "-n", *(("trim", str(trim[0]), str(trim[1])) if trim else ()), "stat"]
    said = subprocess.run(args, capture_output=True, text=True, check=True).stderr
    line = next(x for x in said.splitlines() if x.startswith("RMS     amplitude"))
    return float(line.split(":")[1])


def _longest_zero_run_s(path: Path) -> tuple[float, float]:
    """(start, length) in seconds of the longest run of samples that are exactly zero (a muted stretch:
    Asterisk clears the frames; speech, even quiet, is never exactly zero for long)."""
    with wave.open(str(path)) as w:
        rate, frames = w.getframerate(), w.readframes(w.getnframes())
    samples = memoryview(frames).cast("h")
    best, best_start, run_start, run = 0, 0, 0, 0
    for i, v in enumerate(samples):
        if v == 0:
            if run == 0:
                run_start = i
            run += 1
            if run > best:
                best, best_start = run, run_start
        else:
            run = 0
    return best_start / rate, best / rate


async def _recorded_call(p: Plateau, sipp: Sipp, queue: str, talk_ms: int) -> tuple[Call, list[Recording]]:
    before = p.cti.recorder.settled
    _agent_talking(sipp, 1, talk_ms)
    await _login(p, "agent1", queue)
    _call_talking(sipp, "0611223344", {"support": "5551000", "sales": "5552000"}[queue])
    await wait_for(lambda: p.cti.recorder.settled > before, 40, what="the call ended and looked at")
    await p.cti.history.drain()
    async with p.db.session() as s:
        call = await s.scalar(select(Call).order_by(Call.id.desc()).limit(1))
    assert call is not None
    return call, await _one(p, Recording, linkedid=call.linkedid)  # type: ignore[attr-defined, return-value]


async def test_given_policy_all_when_a_call_is_answered_then_its_recording_is_speech_as_long_as_the_talk(
    plateau: Plateau, sipp: Sipp
) -> None:
    await _policy(plateau, "support", "all")
    call, (rec,) = await _recorded_call(plateau, sipp, "support", talk_ms=5000)
    path = Path(plateau.cti.recorder.store.spool()) / rec.storage_key
    assert path.exists() and rec.size_bytes == path.stat().st_size
    assert _rms(path) > 0.02  # speech (silence measures ~1e-5)
    assert call.talk_s is not None and abs(rec.duration_s - call.talk_s) < 1.0, (rec.duration_s, call.talk_s)
    assert rec.agent_id == plateau.users["agent1"] and rec.expires_at is not None


async def test_given_policy_none_when_a_call_is_answered_then_no_file_is_written(
    plateau: Plateau, sipp: Sipp
) -> None:
    await _policy(plateau, "sales", "none")
    call, recs = await _recorded_call(plateau, sipp, "sales", talk_ms=2500)
    assert call.outcome == "answered" and recs == []
    assert not (Path(plateau.cti.recorder.store.spool()) / f"{call.linkedid}.wav").exists()


async def test_given_a_recorded_call_when_the_agent_pauses_then_the_file_is_silent_that_long(
    plateau: Plateau, sipp: Sipp
) -> None:
    await _policy(plateau, "support", "all")
    before = plateau.cti.recorder.settled
    _agent_talking(sipp, 1, 6500)
    await _login(plateau, "agent1", "support")
    _call_talking(sipp, "0611223355", "5551000")

    def answered_at() -> float | None:
        linkedid = plateau.cti.tracker.call_of_agent("PJSIP/agent1")
        call = plateau.cti.tracker.calls.get(linkedid) if linkedid else None
        return call.answered_at if call else None

    await wait_for(answered_at, 20, what="agent1 answered")
    linkedid, answered = plateau.cti.tracker.call_of_agent("PJSIP/agent1"), answered_at()
    assert linkedid is not None and answered is not None
    async with plateau.client("agent1") as c:
        await wait_for(lambda: time.time() > answered + 1.5, 5, what="1.5 s of talk")
        assert (await c.post(f"/api/v1/agent/calls/{linkedid}/recording/pause")).status_code == 204
        t0 = time.time()
        await wait_for(lambda: time.time() > t0 + 2.5, 5, what="2.5 s paused")
        assert (await c.post(f"/api/v1/agent/calls/{linkedid}/recording/resume")).status_code == 204
    await wait_for(lambda: plateau.cti.recorder.settled > before, 40, what="the call ended and looked at")
    (rec,) = await _one(plateau, Recording, linkedid=linkedid)
    pause, resume = await _one(plateau, RecordingPause, linkedid=linkedid)
    assert (pause.paused, resume.paused, pause.user_id) == (True, False, plateau.users["agent1"])
    path = Path(plateau.cti.recorder.store.spool()) / rec.storage_key
    start, length = _longest_zero_run_s(path)
    expected = (resume.at - pause.at).total_seconds()
    assert abs(length - expected) < 0.3, (length, expected)
    assert abs(start - (pause.at - rec.started_at).total_seconds()) < 0.5
    assert _rms(path, start + 0.1, length - 0.2) < 1e-4 and _rms(path, 0, start) > 0.02


def _answered(p: Plateau) -> tuple[str, float] | None:
    """agent1's call and when it was answered, once it is."""
    linkedid = p.cti.tracker.call_of_agent("PJSIP/agent1")
    call = p.cti.tracker.calls.get(linkedid) if linkedid else None
    return (call.linkedid, call.answered_at) if call and call.answered_at else None


async def test_given_policy_on_demand_when_the_agent_never_starts_it_then_no_file_and_no_row(
    plateau: Plateau, sipp: Sipp
) -> None:
    await _policy(plateau, "sales", "on_demand")
    before = plateau.cti.recorder.settled
    _agent_talking(sipp, 1, 3000)
    await _login(plateau, "agent1", "sales")
    _call_talking(sipp, "0611223377", "5552000")
    await wait_for(lambda: _answered(plateau), 20, what="agent1 answered")
    answered = _answered(plateau)
    assert answered is not None
    path = Path(plateau.cti.recorder.store.spool()) / f"{answered[0]}.wav"
    await wait_for(path.exists, 5, what="MixMonitor writing the muted call")
    await wait_for(lambda: plateau.cti.recorder.settled > before, 40, what="the call ended and looked at")
    assert await _one(plateau, Recording, linkedid=answered[0]) == []
    assert not path.exists()
    (armed,) = await _one(plateau, RecordingPause, linkedid=answered[0])
    assert (armed.paused, armed.source, armed.user_id) == (True, "on_demand", None)


async def test_given_policy_on_demand_when_the_agent_starts_it_after_2_s_then_the_file_is_silent_until_then(
    plateau: Plateau, sipp: Sipp
) -> None:
    await _policy(plateau, "support", "on_demand")
    before = plateau.cti.recorder.settled
    _agent_talking(sipp, 1, 6000)
    await _login(plateau, "agent1", "support")
    _call_talking(sipp, "0611223388", "5551000")
    await wait_for(lambda: _answered(plateau), 20, what="agent1 answered")
    talking = _answered(plateau)
    assert talking is not None
    linkedid, answered = talking
    async with plateau.client("agent1") as c:
        await wait_for(lambda: time.time() > answered + 2, 5, what="2 s of talk, not recorded")
        assert (await c.post(f"/api/v1/agent/calls/{linkedid}/recording/start")).status_code == 204
        again = await c.post(f"/api/v1/agent/calls/{linkedid}/recording/start")
        assert again.status_code == 404, again.text  # started once: nothing waits any more
    await wait_for(lambda: plateau.cti.recorder.settled > before, 40, what="the call ended and looked at")
    (rec,) = await _one(plateau, Recording, linkedid=linkedid)
    armed, started = await _one(plateau, RecordingPause, linkedid=linkedid)
    assert (armed.source, started.paused, started.user_id) == ("on_demand", False, plateau.users["agent1"])
    path = Path(plateau.cti.recorder.store.spool()) / rec.storage_key
    start, length = _longest_zero_run_s(path)
    expected = (started.at - rec.started_at).total_seconds()
    assert start < 0.1 and abs(length - expected) < 0.3, (start, length, expected)
    assert _rms(path, 0, length - 0.1) < 1e-4 and _rms(path, length + 0.1, 2) > 0.02


SENSITIVE_FLOW = """
language: fr
dids: ["5551000"]
start: carte
nodes:
  carte:
    type: collect
    var: card
    prompt: [silence/1]
    min_digits: 16
    timeout_s: 3
    retries: 1
    luhn: true
    sensitive: true
    next: file
    on_failure: file
  file: {type: queue, queue: support}
"""


@pytest_asyncio.fixture
async def plateau_with_ivr(pbx: PrivateAsterisk, tmp_path: Path) -> AsyncIterator[Plateau]:
    """Plateau running the IVR: a sensitive collect (a card number) before the queue."""
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "carte.yaml").write_text(SENSITIVE_FLOW)
    settings = plateau_settings(
        pbx,
        tmp_path,
        recordings_dir=tmp_path / "recordings",
        ivr_enabled=True,
        ivr_flows_dir=flows,
        agi_port=pbx.cfg.agi_port,
        ivr_check_sounds=False,
    )
    await asyncio.to_thread(pbx.rx, "dialplan set global PLATEAU_IVR 1")
    try:
        async with serve_plateau(settings) as p:
            assert await p.cti.link.wait_ready(15), p.cti.health()
            yield p
            await p.cti.logout("PJSIP/agent1")
    finally:
        await asyncio.to_thread(pbx.rx, "dialplan set global PLATEAU_IVR 0")


async def test_given_a_sensitive_ivr_collect_when_the_call_is_recorded_then_the_collect_is_not_in_the_file(
    plateau_with_ivr: Plateau, sipp: Sipp
) -> None:
    p = plateau_with_ivr
    await _policy(p, "support", "all")
    before = p.cti.recorder.settled
    _agent_talking(sipp, 1, 3000)
    await _login(p, "agent1", "support")
    _call_talking(sipp, "0611223366", "5551000")  # the caller speaks from the answer on, through the IVR
    await wait_for(lambda: p.cti.recorder.settled > before, 60, what="the call ended and looked at")
    await p.cti.history.drain()
    async with p.db.session() as s:
        call = await s.scalar(select(Call).order_by(Call.id.desc()).limit(1))
        assert call is not None
        (ivr,) = (await s.scalars(select(IvrSession).where(IvrSession.linkedid == call.linkedid))).all()
        (rec,) = (await s.scalars(select(Recording).where(Recording.linkedid == call.linkedid))).all()
    assert ivr.path and ivr.path[0]["node"] == "carte" and ivr.ended_at is not None
    assert (ivr.ended_at - ivr.started_at).total_seconds() >= 3  # the caller spent the collect's time in it
    # the file holds the talk with the agent only: it starts after the IVR ended, as long as the talk
    assert rec.started_at >= ivr.ended_at - timedelta(seconds=0.5), (rec.started_at, ivr.ended_at)
    assert call.talk_s is not None and abs(rec.duration_s - call.talk_s) < 1.0, (rec.duration_s, call.talk_s)
    assert _rms(Path(p.cti.recorder.store.spool()) / rec.storage_key) > 0.02
