"""Hostile callers and PBX faults against the real Asterisk: forged events, restart, wrong credentials."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from cti.pbx_process import PrivateAsterisk
from tests.conftest import wait_for
from tests.cti.pbx.conftest import KNOWN_NUMBER, Plateau, plateau_settings, serve_plateau
from tests.cti.pbx.faults import AmiProxy
from tests.cti.pbx.scenarios import CRLF_CALLERS, FORGED_NUMBER
from tests.cti.pbx.sipp import Caller, Sipp
from tests.cti.pbx.test_cti_calls import _calls, _login

pytestmark = pytest.mark.asterisk


async def test_given_a_caller_id_with_crlf_when_it_calls_then_no_forged_event_acts_and_the_call_is_handled(
    plateau: Plateau, sipp: Sipp
) -> None:
    agent1, agent3 = await plateau.ws("agent1"), await plateau.ws("agent3")
    sipp.agent(1, "answer", ring_ms=800, talk_ms=1000)
    await _login(plateau, "agent1", "support")
    await _login(plateau, "agent3", "support")
    await plateau.cti.link.send("QueuePause", Interface="PJSIP/agent3", Paused="true")
    sipp.call([Caller(FORGED_NUMBER, "5551000", "Mallory <img src=x onerror=alert(1)>")], hold_ms=8000)
    await wait_for(lambda: plateau.cti.history.written >= 1, 20, what="the history row")

    dropped = plateau.cti.link.reader.dropped
    assert dropped["injected"] > 0
    assert all("forged" not in repr(m) for c in (agent1, agent3) for _, m in c.messages)
    assert agent3.pops() == []  # the forged AgentConnect named agent3's interface
    pop = agent1.pops(partial=False)[0]
    assert pop["caller"]["number"] is None and pop["caller"]["name"].startswith("Mallory <img")
    assert pop["new_contact"] is None and pop["matches"] == []
    (call,) = await _calls(plateau)
    assert (call.outcome, call.agent_id, call.caller_number) == ("answered", plateau.users["agent1"], None)
    assert plateau.cti.tracker.calls == {}


async def test_given_a_caller_id_with_one_crlf_and_no_blank_line_when_it_calls_then_it_pops_and_is_recorded(
    plateau: Plateau, sipp: Sipp
) -> None:
    number, name, _answered = CRLF_CALLERS["callerid_crlf_header"]  # `15551230004\r\nFake: injected`
    agent1 = await plateau.ws("agent1")
    sipp.agent(1, "answer", ring_ms=800, talk_ms=1000)
    await _login(plateau, "agent1", "support")
    sipp.call([Caller(number, "5551000", name)], hold_ms=8000)
    await wait_for(lambda: plateau.cti.history.written >= 1, 20, what="the history row")

    assert plateau.cti.link.reader.dropped["injected_lines"] > 0
    pop = agent1.pops(partial=False)[0]
    assert (pop["caller"]["number"], pop["caller"]["name"]) == (None, "Eve")
    assert all("Fake" not in repr(m) for _, m in agent1.messages)
    (call,) = await _calls(plateau)
    assert (call.outcome, call.agent_id, call.caller_number, call.queue) == (
        "answered",
        plateau.users["agent1"],
        None,
        "support",
    )
    assert plateau.cti.tracker.calls == {} and plateau.cti.tracker.legs == {}
    await wait_for(
        lambda: plateau.cti.tracker.agents["PJSIP/agent1"].linkedid is None, 10, what="agent1's leg closed"
    )


async def test_given_calls_in_progress_when_asterisk_restarts_then_plateau_resyncs_and_closes_cut_calls(
    plateau: Plateau, sipp: Sipp, pbx: PrivateAsterisk
) -> None:
    sipp.agent(1, "answer", ring_ms=300)  # talks until the call is cut
    await _login(plateau, "agent1", "support")
    sipp.call([Caller(KNOWN_NUMBER, "5551000", "Jose")], hold_ms=60_000)
    await wait_for(lambda: any(c.answered_at for c in plateau.cti.tracker.calls.values()), 15, what="answer")
    connects = plateau.cti.link.stats.connects

    await asyncio.to_thread(pbx.restart)
    await wait_for(
        lambda: plateau.cti.link.ready and plateau.cti.link.stats.connects > connects, 30, what="reconnect"
    )
    async with plateau.client("agent1") as c:
        health = (await c.get("/healthz")).json()
    assert health["ami"]["ok"] is True

    await wait_for(lambda: plateau.cti.history.written >= 1, 15, what="the cut call's row")
    (call,) = await _calls(plateau)
    assert call.outcome == "interrupted" and call.ended_at is not None
    # membership survived in astdb and the tracker re-learnt it from QueueStatus
    await wait_for(
        lambda: "support" in plateau.cti.tracker.agents["PJSIP/agent1"].queues, 10, what="agent1 resynced"
    )
    assert plateau.cti.tracker.calls == {}


async def test_given_the_link_dies_before_an_originate_is_answered_when_it_comes_back_then_no_call_is_placed(
    pbx: PrivateAsterisk, tmp_path: Path, sipp: Sipp
) -> None:
    proxy = AmiProxy(pbx.cfg.ami_port)
    await proxy.start()
    sipp.agent(4, "answer", ring_ms=200)
    settings = plateau_settings(pbx, tmp_path, ami_port=proxy.port, ami_ping_interval_s=30)
    try:
        async with serve_plateau(settings) as p, p.client("agent4") as c:
            assert await p.cti.link.wait_ready(15)
            connects = p.cti.link.stats.connects
            snapshots = proxy.sent_to_pbx.count(b"Action: QueueStatus")
            proxy.freeze(True)  # Asterisk's replies stop reaching Plateau
            dial = asyncio.create_task(c.post("/api/v1/agent/dial", json={"number": "0140000000"}))
            await wait_for(lambda: b"Action: Originate" in proxy.sent_to_pbx, 5, what="the Originate sent")
            proxy.cut()
            proxy.freeze(False)
            r = await dial
            assert r.status_code in (502, 503), r.text  # failed, not queued for later
            await wait_for(
                lambda: p.cti.link.ready and p.cti.link.stats.connects > connects, 30, what="reconnect"
            )
            originates = proxy.sent_to_pbx.count(b"Action: Originate")
            # panoramisk would resend on the new link's FullyBooted, when Plateau asks for its snapshot:
            # wait for that snapshot request, then for a Ping's answer written after it.
            await wait_for(
                lambda: proxy.sent_to_pbx.count(b"Action: QueueStatus") > snapshots,
                15,
                what="the snapshot asked on the new link",
            )
            await p.cti.link.send("Ping", timeout=5)
            assert proxy.sent_to_pbx.count(b"Action: Originate") == originates == 1
    finally:
        await proxy.stop()


async def test_given_a_pbx_that_stops_answering_when_pings_time_out_then_the_link_is_dropped_and_rebuilt(
    pbx: PrivateAsterisk, tmp_path: Path
) -> None:
    proxy = AmiProxy(pbx.cfg.ami_port)
    await proxy.start()
    settings = plateau_settings(
        pbx, tmp_path, ami_port=proxy.port, ami_ping_interval_s=0.5, ami_ping_timeout_s=0.5
    )
    try:
        async with serve_plateau(settings) as p:
            assert await p.cti.link.wait_ready(15)
            proxy.freeze(True)  # half-open: TCP stays up, nothing comes back
            await wait_for(lambda: p.cti.link.stats.ping_timeouts >= 1, 10, what="the watchdog")
            proxy.freeze(False)
            await wait_for(lambda: p.cti.link.ready and p.cti.link.stats.connects >= 2, 20, what="reconnect")
    finally:
        await proxy.stop()


async def test_given_a_pbx_that_accepts_but_never_answers_login_when_the_deadline_passes_then_it_reconnects(
    pbx: PrivateAsterisk, tmp_path: Path
) -> None:
    proxy = AmiProxy(pbx.cfg.ami_port)
    await proxy.start()
    proxy.freeze(True)  # as Asterisk caught mid-restart: the connection is accepted, nothing comes back
    settings = plateau_settings(pbx, tmp_path, ami_port=proxy.port, ami_login_timeout_s=1.0)
    try:
        async with serve_plateau(settings) as p:
            await wait_for(lambda: p.cti.link.stats.login_timeouts >= 2, 15, what="two login deadlines")
            status = p.cti.link.status()
            assert status["ok"] is False and status["error"] == "no reply to Login within 1s"
            assert status["connects"] >= 2  # each deadline drops the socket and dials again
            proxy.freeze(False)
            await wait_for(lambda: p.cti.link.ready, 20, what="the login once the PBX answers")
            assert p.cti.link.status()["error"] is None
    finally:
        await proxy.stop()


async def test_given_a_pbx_that_hangs_up_every_connection_at_once_when_it_comes_back_then_plateau_logs_in(
    pbx: PrivateAsterisk, tmp_path: Path
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    proxy = AmiProxy(dead_port)  # accepts, finds nothing behind it and closes: Asterisk going down
    await proxy.start()
    try:
        async with serve_plateau(plateau_settings(pbx, tmp_path, ami_port=proxy.port)) as p:
            await wait_for(lambda: p.cti.link.stats.connects >= 3, 15, what="three dials, each hung up")
            assert not p.cti.link.ready
            proxy.target_port = pbx.cfg.ami_port  # Asterisk is back
            await wait_for(lambda: p.cti.link.ready, 20, what="the login once the PBX answers")
    finally:
        await proxy.stop()


async def test_given_wrong_ami_credentials_when_plateau_runs_then_it_stays_up_says_why_and_keeps_retrying(
    pbx: PrivateAsterisk, tmp_path: Path
) -> None:
    settings = plateau_settings(pbx, tmp_path, ami_secret="wrong-secret")
    async with serve_plateau(settings) as p:
        await wait_for(lambda: p.cti.link.stats.connects >= 2, 15, what="a retry")
        async with p.client("agent1") as c:
            health = (await c.get("/healthz")).json()
            assert health["status"] == "degraded"
            assert health["ami"]["ok"] is False and "login refused" in health["ami"]["error"]
            assert (await c.get("/api/v1/agent/me")).status_code == 200  # the service still answers


async def test_given_an_unreachable_pbx_when_plateau_runs_then_healthz_reports_it(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    from core.settings import Settings

    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", secret_key="k", ami_port=dead_port
    )
    async with serve_plateau(settings) as p, p.client("agent1") as c:
        await wait_for(lambda: p.cti.link.stats.last_error is not None, 10, what="the error")
        health = (await c.get("/healthz")).json()
        assert health["ami"]["ok"] is False and "cannot connect" in health["ami"]["error"]
        assert (await c.post("/api/v1/agent/ready")).status_code == 503
