"""Plateau restarts while the dialer has calls up (the real Asterisk keeps them): the new run adopts them
from `dialer_calls`, records each outcome once and dials nobody again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from app.cti_wiring import build_cti
from core.dialer_tables import DialerCall
from dialer.engine import DialerService
from tests.cti.pbx.sipp import Sipp
from tests.dialer.engine.conftest import Live, wait_for_async, wait_until

pytestmark = pytest.mark.asterisk


async def _rows(live: Live) -> list[DialerCall]:
    async with live.p.db.session() as s:
        return list(await s.scalars(select(DialerCall)))


def _pbx_calls(live: Live) -> int:
    out = live.pbx.rx("core show channels count")
    return int(next(line for line in out.splitlines() if "active call" in line).split()[0])


async def _stop_plateau(live: Live) -> DialerService:
    """What a process exit does to Plateau's services: the dialer and the CTI stop (the AMI session closes),
    nothing is said to Asterisk, the calls go on."""
    old = live.p.app.state.dialer
    await old.stop()
    await live.p.app.state.cti.stop()
    return old


async def _start_plateau(live: Live, old: DialerService) -> DialerService:
    """A fresh CTI (new tracker, new AMI session and channel snapshot) and dialer on the same database."""
    app = live.p.app
    cti = build_cti(app.state.settings, app.state.db, app.state.hub)
    app.state.cti = cti
    app.state.hub.set_snapshot(cti.snapshot)
    await cti.start()
    dialer = DialerService(cti, app.state.db)
    dialer.clock, dialer.ring_s = old.clock, old.ring_s
    app.state.dialer = dialer
    await dialer.start()
    assert await cti.link.wait_ready(15), cti.health()
    return dialer


@pytest.mark.parametrize("phase", ["ringing", "with_agent", "ended_while_down"])
async def test_given_a_call_in_flight_when_plateau_restarts_then_it_is_recorded_once_and_nobody_redialled(
    live: Live, sipp: Sipp, phase: str
) -> None:
    sipp.customer("answer", ring_ms=3000 if phase == "ringing" else 200)
    sipp.agent(1, "answer", ring_ms=200, talk_ms=1000 if phase == "ended_while_down" else 4000)
    await live.login(1)
    _, (lead_id, other_id) = await live.campaign(["+33611000701", "+33611000702"])
    first: Any = await wait_until(lambda: next(iter(live.dialer.calls.values()), None), what="a call")
    assert first.lead_id == lead_id
    if phase == "ringing":
        await wait_until(lambda: first.dialled, what="the customer's phone ringing")
        assert first.answered_t is None
    else:
        # the agent is on the call, and the row says so (what a restart has to go on)
        await wait_for_async(lambda: _row_with_agent(live), what="the agent noted on the call's row")

    old = await _stop_plateau(live)
    assert [r.lead_id for r in await _rows(live)] == [lead_id]
    if phase == "ended_while_down":
        await wait_until(lambda: _pbx_calls(live) == 0, what="the call to end while Plateau is down")
    dialer = await _start_plateau(live, old)
    assert lead_id in dialer.busy_leads  # adopted before its first tick

    (attempt,) = await wait_for_async(lambda: live.attempts(lead_id), timeout=30, what="the attempt")
    assert attempt.result == "contact" and attempt.agent_id == live.p.users["agent1"]
    assert attempt.answered_at is not None and attempt.agent_connected_at is not None
    # the campaign goes on with its next lead; the first is never dialled again
    await wait_for_async(lambda: live.attempts(other_id), timeout=30, what="the next lead's attempt")
    await asyncio.sleep(1)
    dialled = [o["number"] for o in live.originates()]
    assert dialled == ["+33611000701", "+33611000702"]
    assert len(await live.attempts(lead_id)) == 1
    assert await _rows(live) == []


async def _row_with_agent(live: Live) -> bool:
    return any(r.agent_connected_at is not None and r.agent == "PJSIP/agent1" for r in await _rows(live))
