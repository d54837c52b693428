"""The fault tier: real peers (the private Asterisk, SIPp, a PostgreSQL cluster of the tier's own that it
stops and starts, `plateau serve` in its own process that it kills with SIGKILL) and the faults done to them.

One Asterisk per module and one PostgreSQL cluster for the tier; a fresh database and Plateau per test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select

from app import migrate
from core.db import Database
from core.models import Call
from cti.pbx_process import PbxConfig, PrivateAsterisk, cdr_file
from tests.conftest import wait_for
from tests.cti.pbx.conftest import seed
from tests.cti.pbx.plateau_process import PlateauProcess, serve_env
from tests.cti.pbx.sipp import Sipp
from tests.pg import Cluster, fresh_database

QUEUES = ("support", "sales", "hotline")


@pytest.fixture(scope="package")
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    c.start()
    yield c
    c.remove()


@pytest.fixture(scope="module")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateAsterisk]:
    cfg = PbxConfig.for_tests(tmp_path_factory.mktemp("pbx"), agents=6, supervisors=1, queue_ring_timeout=3)
    asterisk = PrivateAsterisk(cfg)
    asterisk.start()
    yield asterisk
    asterisk.stop()


@pytest.fixture
def sipp(pbx: PrivateAsterisk, tmp_path: Path) -> Iterator[Sipp]:
    s = Sipp(pbx.cfg, tmp_path / "sipp")
    yield s
    s.stop()


@dataclass
class Centre:
    """Plateau as deployed, its database, and what the test sees of them."""

    pbx: PrivateAsterisk
    db: Database
    plateau: PlateauProcess
    tokens: dict[str, str]
    users: dict[str, int]
    dead_letter: Path
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def start(self) -> None:
        await asyncio.to_thread(self.plateau.start)
        await wait_for(self.ami_ready, 20, interval=0.2, what="Plateau's AMI link")

    async def kill(self) -> None:
        await asyncio.to_thread(self.plateau.kill)

    async def health(self) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.plateau.url, timeout=10) as http:
            body = dict((await http.get("/healthz")).json())
        self.seen.append(body)
        return body

    async def ami_ready(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return bool((await self.health())["ami"]["ok"])
        return False

    async def login(self, *agents: int, queue: str = "support") -> None:
        async with httpx.AsyncClient(base_url=self.plateau.url, timeout=10) as http:
            for n in agents:
                r = await http.post(
                    "/api/v1/agent/login",
                    headers={"Authorization": f"Bearer {self.tokens[f'agent{n}']}"},
                    json={"queues": [queue]},
                )
                assert r.status_code == 204, r.text

    async def linkedids(self) -> list[str]:
        async with self.db.session() as s:
            return list(await s.scalars(select(Call.linkedid).order_by(Call.id)))

    async def rows(self) -> list[Call]:
        async with self.db.session() as s:
            return list(await s.scalars(select(Call).order_by(Call.id)))

    async def row_count(self) -> int:
        async with self.db.session() as s:
            return int(await s.scalar(select(func.count()).select_from(Call)) or 0)

    def pbx_calls(self) -> int:
        out = self.pbx.rx("core show channels count")
        return int(next(line for line in out.splitlines() if "active call" in line).split()[0])


def clear_members(pbx: PrivateAsterisk) -> None:
    """Dynamic members live in Asterisk's astdb, across Plateau's restarts: the next test starts without."""
    for n in range(1, 7):
        for queue in QUEUES:
            with contextlib.suppress(Exception):
                pbx.rx(f"queue remove member PJSIP/agent{n} from {queue}")


@contextlib.asynccontextmanager
async def centre_on(
    database_url: str, pbx: PrivateAsterisk, tmp_path: Path, ami_port: int | None = None, **env: str
) -> AsyncIterator[Centre]:
    await asyncio.to_thread(migrate.upgrade, database_url)
    # A fresh database beside a PBX the module's tests share: the call records earlier tests left are
    # another centre's calls, which a restart's backfill would otherwise write into this one.
    records = cdr_file(pbx.cfg.runtime)
    if records.exists():
        records.write_bytes(b"")  # cdr_custom opens the file for each record: emptying it is safe
    db = Database(database_url)
    tokens, users = await seed(db)
    dead_letter = Path(env.pop("dead_letter", str(tmp_path / "history-dead-letter.jsonl")))
    process_env = serve_env(
        database_url,
        pbx.cfg,
        ami_port,
        PLATEAU_AMI_PING_INTERVAL_S="1",
        PLATEAU_AMI_PING_TIMEOUT_S="1",
        PLATEAU_WRAPUP_ENABLED="false",
        PLATEAU_HISTORY_DEAD_LETTER=str(dead_letter),
        **env,
    )
    plateau = PlateauProcess(process_env, tmp_path / "plateau.log")
    centre = Centre(pbx, db, plateau, tokens, users, dead_letter)
    try:
        await centre.start()
        yield centre
    finally:
        await asyncio.to_thread(centre.plateau.stop)
        await asyncio.to_thread(clear_members, pbx)
        await db.dispose()


@pytest_asyncio.fixture
async def centre(cluster: Cluster, pbx: PrivateAsterisk, tmp_path: Path) -> AsyncIterator[Centre]:
    """Plateau on a fresh database of the tier's PostgreSQL cluster."""
    database = fresh_database(cluster.url)  # its set-up runs a loop of its own: in a thread
    url = await asyncio.to_thread(database.__enter__)
    try:
        async with centre_on(url, pbx, tmp_path) as c:
            yield c
    finally:
        await asyncio.to_thread(cluster.ensure_started)  # a test that failed with it stopped
        await asyncio.to_thread(database.__exit__, None, None, None)
