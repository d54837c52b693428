"""Faults during inbound traffic: PostgreSQL restarted, Plateau killed with SIGKILL, the disk full."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import select

from core.models import AgentStateLog, OpenCall
from cti.pbx_process import PrivateAsterisk
from tests.app.faults.conftest import Centre, centre_on
from tests.conftest import wait_for
from tests.cti.pbx.conftest import KNOWN_NUMBER
from tests.cti.pbx.sipp import Caller, Sipp
from tests.pg import Cluster

pytestmark = pytest.mark.faults

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

    down_at = datetime.now(UTC)
    await asyncio.to_thread(cluster.stop)
    during = sipp.call(callers("During", 4), hold_ms=20_000, rate=2)
    await wait_for(lambda: during.poll() is not None, 40, interval=0.2, what="the calls during the outage")
    await wait_for(
        lambda: _pending(centre, 4), 10, interval=0.2, what="the four calls waiting for the database"
    )
    await hold_outage(centre, OUTAGE_S, pending=4)
    up_at = datetime.now(UTC)
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
    # the agents' states during the outage (ringing, on call) waited too, for the state-time report

    async def states_during() -> bool:
        async with centre.db.session() as s:
            started = (await s.scalars(select(AgentStateLog.started_at))).all()
        return sum(1 for at in started if down_at < at < up_at) >= 4

    await wait_for(states_during, 10, interval=0.2, what="the agent states of the outage")


async def _pending(centre: Centre, n: int) -> bool:
    h = await centre.health()
    return bool(h["history"]["pending"] == n and not h["history"]["ok"])


async def _rows(centre: Centre, n: int) -> bool:
    try:
        return await centre.row_count() == n
    except Exception:  # the database coming back
        return False


def _agents_talking(centre: Centre) -> int:
    out = centre.pbx.rx("core show channels concise")
    return sum(1 for line in out.splitlines() if line.startswith("PJSIP/agent") and "!Up!" in line)


async def test_given_calls_up_and_one_made_while_plateau_is_killed_when_restarted_then_each_has_one_row(
    centre: Centre, sipp: Sipp
) -> None:
    for n, talk_ms in ((1, 15_000), (2, 15_000), (3, 3_000)):
        sipp.agent(n, "answer", ring_ms=300, talk_ms=talk_ms)
    await centre.login(1, 2, 3)
    sipp.call([Caller(KNOWN_NUMBER, "5551000", "Before")], hold_ms=1000)  # hangs up first
    await wait_for(lambda: centre.row_count(), 20, interval=0.2, what="the first call's row")
    sipp.call(callers("Across", 3), hold_ms=60_000, rate=5)
    await wait_for(lambda: _agents_talking(centre) == 3, 20, interval=0.2, what="three agents talking")
    # what the next run goes on: the three calls noted answered (the notes follow within a batch, 0.2 s)
    await wait_for(lambda: _noted_answered(centre, 3), 10, interval=0.1, what="the answers noted")

    await centre.kill()
    # agent3's call ends while no Plateau is there to see it; the two others are still up at restart
    await wait_for(lambda: _agents_talking(centre) == 2, 20, interval=0.2, what="agent3's call to end")
    # and a call begins and ends while Plateau is down: only Asterisk's call records know it
    gap = sipp.call([Caller("0612349999", "5551000", "Gap")], hold_ms=60_000)
    await wait_for(
        lambda: gap.poll() is not None, 30, interval=0.2, what="the call made while Plateau is down"
    )
    await centre.start()
    h = await centre.health()
    assert h["ami"]["calls"] == 2, h  # adopted from the channel snapshot on connect

    await wait_for(lambda: _rows(centre, 5), 40, interval=0.2, what="a row for every call")
    await wait_for(lambda: centre.pbx_calls() == 0, 10, interval=0.2, what="Asterisk idle")
    rows = await centre.rows()
    assert len(rows) == len({r.linkedid for r in rows}) == 5
    [made] = [r for r in rows if r.caller_name == "Gap"]
    assert (made.caller_number, made.called_number, made.queue, made.outcome, made.agent_id) == (
        "0612349999",
        "5551000",
        "support",
        "answered",
        centre.users["agent3"],
    )
    assert made.talk_s is not None and made.talk_s > 0 and made.answered_at is not None
    across = [r for r in rows if (r.caller_name or "").startswith("Across")]
    seen = [(r.caller_name, r.agent_id, r.outcome, r.queue, r.answered_at) for r in rows]
    agents = sorted(centre.users[f"agent{n}"] for n in (1, 2, 3))
    assert sorted(r.agent_id or 0 for r in across) == agents, seen
    assert {(r.outcome, r.queue) for r in across} == {("answered", "support")}
    assert all(r.answered_at is not None for r in across)
    assert not centre.dead_letter.exists()
    async with centre.db.session() as s:
        assert (await s.scalars(select(OpenCall.linkedid))).all() == []


async def _noted_answered(centre: Centre, n: int) -> bool:
    async with centre.db.session() as s:
        notes = (await s.scalars(select(OpenCall.data))).all()
    return sum(1 for note in notes if note.get("answered_at")) == n


@pytest.fixture
def small_var(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs as Plateau's var folder (its SQLite file and dead-letter file): a disk that fills."""
    var = tmp_path / "var"
    var.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(var)], capture_output=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mount.stderr.decode().strip()}")
    try:
        yield var
    finally:
        subprocess.run(["umount", "-l", str(var)], capture_output=True)


@pytest_asyncio.fixture
async def sqlite_centre(small_var: Path, pbx: PrivateAsterisk, tmp_path: Path) -> AsyncIterator[Centre]:
    url = f"sqlite+aiosqlite:///{small_var / 'plateau.db'}"
    dead_letter = str(small_var / "history-dead-letter.jsonl")
    async with centre_on(url, pbx, tmp_path, dead_letter=dead_letter) as c:
        yield c


def fill(var: Path) -> Path:
    """Take every free byte of the file system."""
    filler = var / "filler"
    with filler.open("wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    return filler


async def test_given_the_disk_of_the_sqlite_file_full_when_calls_end_then_they_wait_and_are_written_after(
    sqlite_centre: Centre, sipp: Sipp, small_var: Path
) -> None:
    centre = sqlite_centre
    for n in (1, 2):
        sipp.agent(n, "answer", ring_ms=300, talk_ms=1000)
    await centre.login(1, 2)
    sipp.call([Caller(KNOWN_NUMBER, "5551000", "Before")], hold_ms=20_000)
    await wait_for(lambda: centre.row_count(), 20, interval=0.2, what="the first call's row")

    filler = await asyncio.to_thread(fill, small_var)
    during = sipp.call(callers("Full", 3), hold_ms=20_000, rate=2)
    await wait_for(lambda: during.poll() is not None, 40, interval=0.2, what="the calls on a full disk")
    await wait_for(lambda: _pending(centre, 3), 10, interval=0.2, what="three calls waiting for room")
    await hold_outage(centre, OUTAGE_S, pending=3)  # nor lost in a dead-letter file that cannot grow
    assert "full" in (await centre.health())["history"]["error"]
    filler.unlink()

    await wait_for(lambda: _rows(centre, 4), 30, interval=0.2, what="every call's row")
    linkedids = await centre.linkedids()
    assert len(linkedids) == len(set(linkedids)) == 4
    assert not centre.dead_letter.exists()
    assert (await centre.health())["history"]["ok"] is True
