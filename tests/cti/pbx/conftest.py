"""Fixtures of the integration tier: a private Asterisk, SIPp, and Plateau itself served by uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
import websockets

from app import migrate
from app.main import create_app
from app.security import hash_password, token_digest
from core.db import Database
from core.models import (
    Account,
    ApiToken,
    Contact,
    DispositionCode,
    PauseReason,
    PhoneNumber,
    Queue,
    QueueMember,
    Role,
    Team,
    Tier,
    User,
)
from core.settings import Settings
from cti.numbers import parse
from cti.pbx_process import PbxConfig, PrivateAsterisk, free_port
from tests.cti.pbx.capture import AmiRecorder
from tests.cti.pbx.sipp import Sipp, register_test_phones

KNOWN_NUMBER = "0612345678"


@pytest.fixture(scope="module")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateAsterisk]:
    cfg = PbxConfig.for_tests(tmp_path_factory.mktemp("pbx"), agents=6, supervisors=1, queue_ring_timeout=3)
    asterisk = PrivateAsterisk(cfg)
    asterisk.start()
    register_test_phones(cfg, cfg.runtime / "register")
    yield asterisk
    asterisk.stop()


@pytest.fixture
def sipp(pbx: PrivateAsterisk, tmp_path: Path) -> Iterator[Sipp]:
    s = Sipp(pbx.cfg, tmp_path / "sipp")
    yield s
    s.stop()


@pytest_asyncio.fixture
async def recorder(pbx: PrivateAsterisk) -> AsyncIterator[AmiRecorder]:
    rec = AmiRecorder(pbx.cfg.ami_port, pbx.cfg.ami_user, pbx.cfg.ami_secret)
    await rec.start()
    yield rec
    await rec.stop()


@dataclass
class WsClient:
    """A browser stand-in: records every message the hub sends to one user, with its arrival time."""

    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for _, m in self.messages if m.get("type") == kind]

    def pops(self, **match: Any) -> list[dict[str, Any]]:
        return [p for p in self.of_type("pop") if all(p.get(k) == v for k, v in match.items())]


@dataclass
class Plateau:
    url: str
    app: Any
    db: Database
    tokens: dict[str, str]
    users: dict[str, int]
    ws_clients: list[WsClient] = field(default_factory=list)

    def client(self, username: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[username]}"}, timeout=10
        )

    async def ws(self, username: str) -> WsClient:
        client = WsClient()
        conn = await websockets.connect(
            self.url.replace("http", "ws") + "/ws",
            additional_headers={"Authorization": f"Bearer {self.tokens[username]}"},
        )

        async def read() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for raw in conn:
                    msg, now = json.loads(raw), time.time()
                    items = msg["items"] if msg.get("type") == "batch" else [msg]  # see Hub._with_queued
                    client.messages.extend((now, item) for item in items)

        client.task = asyncio.create_task(read())
        client.conn = conn  # type: ignore[attr-defined]
        self.ws_clients.append(client)
        return client

    @property
    def cti(self) -> Any:
        return self.app.state.cti


async def seed(db: Database) -> tuple[dict[str, str], dict[str, int]]:
    tokens: dict[str, str] = {}
    ids: dict[str, int] = {}
    async with db.session() as s:
        acme = Account(name="Acme Industries", tier=Tier.gold)
        s.add(acme)
        await s.flush()
        jose = Contact(
            first_name="José", last_name="Müller", account_id=acme.id, tier=Tier.vip, role="decision_maker"
        )
        s.add(jose)
        await s.flush()
        p = parse(KNOWN_NUMBER, "FR")
        s.add(PhoneNumber(contact_id=jose.id, e164=p.e164, suffix_key=p.suffix_key, raw=KNOWN_NUMBER))
        queues = {
            name: Queue(name=name, display_name=name.title()) for name in ("support", "hotline", "sales")
        }
        s.add_all(queues.values())
        s.add_all(
            [DispositionCode(code="resolved", label="Résolu"), PauseReason(code="lunch", label="Déjeuner")]
        )
        users = [(f"agent{n}", Role.agent, f"agent{n}") for n in range(1, 7)] + [
            ("boss", Role.supervisor, "supervisor1")
        ]
        pw = hash_password("irrelevant-password")
        team = Team(name="Plateau")  # one team: a supervisor watches their own team's agents
        s.add(team)
        await s.flush()
        for name, role, endpoint in users:
            u = User(
                username=name,
                display_name=name.title(),
                password_hash=pw,
                role=role,
                sip_endpoint=endpoint,
                team_id=team.id,
            )
            s.add(u)
            await s.flush()
            ids[name] = u.id
            tokens[name] = f"token-{name}-0123456789"
            s.add(ApiToken(user_id=u.id, name="test", token_hash=token_digest(tokens[name])))
            if role is Role.agent:
                s.add_all([QueueMember(queue_id=q.id, user_id=u.id) for q in queues.values()])
        await s.commit()
        ids["contact"] = jose.id
    return tokens, ids


@contextlib.asynccontextmanager
async def serve_plateau(settings: Settings) -> AsyncIterator[Plateau]:
    await asyncio.to_thread(migrate.upgrade, settings.database_url)
    db = Database(settings.database_url)
    tokens, ids = await seed(db)
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=2
        )
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and not task.done(), "plateau did not start"
        await asyncio.sleep(0.02)
    plateau = Plateau(f"http://127.0.0.1:{port}", app, db, tokens, ids)
    try:
        yield plateau
    finally:
        for c in plateau.ws_clients:
            with contextlib.suppress(Exception):
                await c.conn.close()  # type: ignore[attr-defined]
            if c.task:
                c.task.cancel()
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        await db.dispose()


def plateau_settings(pbx: PrivateAsterisk, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'plateau.db'}",
        secret_key="integration",
        ami_host="127.0.0.1",
        ami_port=pbx.cfg.ami_port,
        ami_user=pbx.cfg.ami_user,
        ami_secret=pbx.cfg.ami_secret,
        ami_ping_interval_s=1.0,
        ami_ping_timeout_s=1.0,
        wrapup_timeout_s=2.0,
    )
    return Settings(**(values | overrides))


@pytest_asyncio.fixture
async def plateau(pbx: PrivateAsterisk, tmp_path: Path) -> AsyncIterator[Plateau]:
    async with serve_plateau(plateau_settings(pbx, tmp_path)) as p:
        assert await p.cti.link.wait_ready(15), p.cti.health()
        yield p
        # leave the PBX clean for the next test of the module
        for n in range(1, 7):
            with contextlib.suppress(Exception):
                await p.cti.logout(f"PJSIP/agent{n}")


@contextlib.contextmanager
def pbxs_running(root: Path, agents: int = 2) -> Iterator[tuple[PrivateAsterisk, PrivateAsterisk]]:
    """Two private Asterisk servers, A and B (systemnames pbx-a, pbx-b; RTP ranges apart) started in
    `root`, each with `agents` test phones registered: the several-PBX tests, the cluster tier, its bench."""
    (root / "pbx-a").mkdir(parents=True, exist_ok=True)
    (root / "pbx-b").mkdir(parents=True, exist_ok=True)
    a_cfg = PbxConfig.for_tests(
        root / "pbx-a", agents=agents, supervisors=1, queue_ring_timeout=3, systemname="pbx-a"
    )
    rtp_b = 30000 + (a_cfg.rtp_start - 30000 + 10000) % 19000  # never A's range
    b_cfg = PbxConfig.for_tests(
        root / "pbx-b",
        agents=agents,
        supervisors=1,
        queue_ring_timeout=3,
        systemname="pbx-b",
        rtp_start=rtp_b,
        rtp_end=rtp_b + 998,
    )
    servers = PrivateAsterisk(a_cfg), PrivateAsterisk(b_cfg)
    try:
        for server in servers:
            server.start()
            register_test_phones(server.cfg, server.cfg.runtime / "register")
        yield servers
    finally:
        for server in servers:
            server.stop()
