"""What a newcomer has after `make run` and `plateau demo`, in a folder of its own and on free ports: the demo
data on SQLite, a private Asterisk whose phones have no password yet, and `plateau serve` in its own
process. `plateau demo --live` runs against it (tests/cti/pbx/test_demo_live.py, make docs-screenshots).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import select

from app import migrate
from app.demo import seed_demo
from app.security import token_digest
from core.db import Database
from core.models import ApiToken, User
from cti.pbx_process import PbxConfig, PrivateAsterisk
from tests.conftest import wait_for
from tests.cti.pbx.plateau_process import PlateauProcess, serve_env

SUPERVISOR_TOKEN = "demo-live-test-supervisor-token-0123456789"


@dataclass
class Centre:
    url: str  # the database
    pbx: PrivateAsterisk
    plateau: PlateauProcess
    env: dict[str, str]
    work: Path

    def demo(self, *args: str) -> subprocess.Popen[bytes]:
        """`plateau demo --live` in its own process, its output in the centre's folder."""
        log = open(self.work / "demo.log", "ab")  # the child holds it
        cmd = [str(Path(sys.executable).parent / "plateau"), "demo", "--live"]
        cmd += ["--pbx-dir", str(self.pbx.cfg.runtime)]
        return subprocess.Popen([*cmd, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return (self.work / "demo.log").read_text(errors="replace")

    def kpi_today(self) -> dict[str, int]:
        r = httpx.get(
            f"{self.plateau.url}/api/v1/reports/kpi",
            headers={"Authorization": f"Bearer {SUPERVISOR_TOKEN}"},
            timeout=10,
        )
        r.raise_for_status()
        today = next(w for w in r.json() if w["window"] == "today")
        return {k: sum(q[k] for q in today["queues"]) for k in ("offered", "answered", "abandoned")}


@contextmanager
def demo_centre(work: Path, sip_phones: tuple[str, ...] = ()) -> Iterator[Centre]:
    """The demo data on SQLite, a private Asterisk, and `plateau serve` on them: what `make run` and
    `plateau demo` give a newcomer, in `work` and on free ports. `sip_phones`: demo users whose browser
    phone becomes a SIP phone (for the live demo to simulate them)."""
    url = f"sqlite+aiosqlite:///{work / 'plateau.db'}"
    migrate.upgrade(url)

    async def seed() -> None:
        db = Database(url)
        async with db.session() as s:
            await seed_demo(s)
            sup = await s.scalar(select(User).where(User.username == "demo-supervisor"))
            assert sup is not None
            s.add(ApiToken(user_id=sup.id, name="test", token_hash=token_digest(SUPERVISOR_TOKEN)))
            for user in await s.scalars(select(User).where(User.username.in_(sip_phones))):
                user.sip_kind = "sip"
            await s.commit()
        await db.dispose()

    asyncio.run(seed())
    # Only the browser phones (agent1, demo-supervisor) have credentials, as after `plateau demo`: the
    # live demo gives the colleagues theirs and renders every phone into this Asterisk.
    cfg = PbxConfig.for_tests(work / "asterisk", phones=[], queue_ring_timeout=5)
    pbx = PrivateAsterisk(cfg)
    pbx.start()
    env = serve_env(
        url,
        cfg,
        PLATEAU_PBX_SIP_PORT=str(cfg.sip_port),
        PLATEAU_PBX_HTTP_PORT=str(cfg.http_port),  # the browser phones' ws://
        PLATEAU_PBX_TRUNKS=json.dumps([{"name": "trunk", "host": f"{cfg.trunk_host}:{cfg.trunk_port}"}]),
    )
    plateau = PlateauProcess(env, work / "plateau.log")
    plateau.start()
    try:
        asyncio.run(wait_for(lambda: plateau.health()["ami"]["ok"], timeout=30, what="Plateau's AMI link"))
        yield Centre(url, pbx, plateau, plateau.env, work)
    finally:
        plateau.stop()
        pbx.stop()
