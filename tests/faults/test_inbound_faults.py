"""Faults during inbound traffic: PostgreSQL restarted, Plateau killed with SIGKILL, the disk full."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.conftest import wait_for
from tests.faults.conftest import Centre
from tests.integration.conftest import KNOWN_NUMBER
from tests.integration.sipp import Caller, Sipp
from tests.pg import Cluster

OUTAGE_S = 8  # longer than a batch's first retries (0.2 s doubling): the writer must wait, not give up


def callers(tag: str, n: int) -> list[Caller]:
    return [Caller(f"061234{i:04d}", "5551000", f"{tag}{i}") for i in range(n)]


async def hold_outage(centre: Centre, seconds: float, pending: int) -> None:
    """Keep the fault on for `seconds`, asking /healthz all along: it answers, degraded, calls waiting."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        h = await centre.health()
        assert h["status"] == "degraded", h
        assert h["history"]["ok"] is False and h["history"]["pending"] == pending, h["history"]
        await asyncio.sleep(0.5)


async def test_given_calls_ending_while_postgresql_restarts_then_each_is_written_once_when_it_is_back(
    centre: Centre, sipp: Sipp, cluster: Cluster
) -> None:
    for n in (1, 2):
        sipp.agent(n, "answer", ring_ms=300, talk_ms=1500)
    await centre.login(1, 2)
    sipp.call([Caller(KNOWN_NUMBER, "5551000", "Before")], hold_ms=20_000)
    await wait_for(lambda: centre.row_count(), 20, interval=0.2, what="the first call's row")

    await asyncio.to_thread(cluster.stop)
    during = sipp.call(callers("During", 4), hold_ms=20_000, rate=2)
    await wait_for(lambda: during.poll() is not None, 40, interval=0.2, what="the calls during the outage")
    await wait_for(
        lambda: _pending(centre, 4), 10, interval=0.2, what="the four calls waiting for the database"
    )
    await hold_outage(centre, OUTAGE_S, pending=4)
    await asyncio.to_thread(cluster.start)

    await wait_for(lambda: _rows(centre, 5), 30, interval=0.2, what="every call's row")
    linkedids = await centre.linkedids()
    assert len(linkedids) == len(set(linkedids)) == 5
    assert not centre.dead_letter.exists()
    h = await centre.health()
    assert h["status"] == "ok" and h["history"] == {
        "ok": True,
        "written": 5,
        "pending": 0,
        "error": None,
    }


async def _pending(centre: Centre, n: int) -> bool:
    h = await centre.health()
    return bool(h["history"]["pending"] == n and not h["history"]["ok"])


async def _rows(centre: Centre, n: int) -> bool:
    try:
        return await centre.row_count() == n
    except Exception:  # the database coming back
        return False


pytestmark = pytest.mark.faults
