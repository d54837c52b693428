"""The cluster tier: one PostgreSQL, two private Asterisk servers (systemnames pbx-a and pbx-b) and three
`plateau serve` nodes (n1, n2, n3) on it, each in its own process listening on its own loopback address
(`NODE_HOSTS`, 127.0.0.11 to .13: Linux routes all of 127.0.0.0/8 to lo), with the bus relay on and short
leases, as several machines behind a load balancer would run them. Their outgoing connections (PostgreSQL,
the bus, AMI) still leave from 127.0.0.1: neither asyncpg nor panoramisk can be given a source address.

The tests start n1 first and wait until it owns both PBX links (`pbx:a`, `pbx:b`), then n2 and n3: who
owns what is then known, and each test kills or cuts n1. n1 may reach PostgreSQL through a TCP relay the
test can cut (`Node.proxy`). agent1's phone is on A, agent2's on B (users.pbx)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import websockets
from sqlalchemy import func, select, update

from app import migrate
from core.db import Database
from core.models import Call, User
from cti.pbx_process import PrivateAsterisk, cdr_file
from tests.app.test_leases import Proxy
from tests.conftest import wait_for
from tests.cti.pbx.conftest import WsClient, pbxs_running, seed
from tests.cti.pbx.faults import AmiProxy
from tests.cti.pbx.plateau_process import PlateauProcess, serve_env
from tests.cti.pbx.sipp import Sipp
from tests.pg import fresh_database

# a dead node's links move within ttl + one renewal; a cut node stops at its last renewal + ttl - margin
LEASES = {"PLATEAU_LEASE_TTL_S": "3", "PLATEAU_LEASE_RENEW_EVERY_S": "1", "PLATEAU_LEASE_MARGIN_S": "0.5"}
LINKS = ["pbx:a", "pbx:b"]
# each node as its own machine: an address of its own, so that nothing reaches a node by its port alone
NODE_HOSTS = {"n1": "127.0.0.11", "n2": "127.0.0.12", "n3": "127.0.0.13"}
# (database, tokens, user ids) after the seed, before any node starts
UsersHook = Callable[[Database, dict[str, str], dict[str, int]], Awaitable[None]]


@pytest.fixture(scope="package")
def two_pbxs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrivateAsterisk, PrivateAsterisk]]:
    with pbxs_running(tmp_path_factory.mktemp("pbxs")) as servers:
        yield servers


@pytest.fixture
def phones(two_pbxs: tuple[PrivateAsterisk, PrivateAsterisk], tmp_path: Path) -> Iterator[tuple[Sipp, Sipp]]:
    a, b = Sipp(two_pbxs[0].cfg, tmp_path / "sipp-a"), Sipp(two_pbxs[1].cfg, tmp_path / "sipp-b")
    yield a, b
    a.stop()
    b.stop()


# made once: a client making its own loads the CA store again, tens of milliseconds of CPU (the bench polls
# every node's /healthz four times a second)
_TLS = ssl.create_default_context()


@dataclass
class Node:
    name: str
    process: PlateauProcess
    tokens: dict[str, str]
    proxy: Proxy | None = None
    sockets: list[Any] = field(default_factory=list)

    async def health(self) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.process.url, timeout=5, verify=_TLS) as http:
            return dict((await http.get("/healthz")).json())

    async def links(self) -> list[str]:
        """The PBX links this node runs, ready (logged in), by /healthz; [] when it does not answer."""
        with contextlib.suppress(httpx.HTTPError, ValueError):
            ami = (await self.health())["ami"]
            return [f"pbx:{s['name']}" for s in ami["servers"] if s["owned"] and s["ok"]]
        return []

    def client(self, username: str) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.tokens[username]}"}
        return httpx.AsyncClient(base_url=self.process.url, headers=headers, timeout=10, verify=_TLS)

    async def ws(self, username: str) -> WsClient:
        client = WsClient()
        conn = await websockets.connect(
            self.process.url.replace("http", "ws") + "/ws",
            additional_headers={"Authorization": f"Bearer {self.tokens[username]}"},
        )
        self.sockets.append(conn)

        async def read() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for raw in conn:
                    msg, now = json.loads(raw), time.time()
                    items = msg["items"] if msg.get("type") == "batch" else [msg]
                    client.messages.extend((now, item) for item in items)

        client.task = asyncio.create_task(read())
        return client


@dataclass
class Site:
    """Three nodes on one database and two PBXs, and what the tests read of them."""

    db: Database
    pbxs: tuple[PrivateAsterisk, PrivateAsterisk]
    nodes: dict[str, Node]
    users: dict[str, int]
    a_proxy: AmiProxy  # the nodes reach A through it (unless told not to): it sees every Originate

    async def owner_of(self, lease: str) -> str | None:
        """The node whose /healthz says it runs `lease`'s link, logged in (None: none yet)."""
        for node in self.nodes.values():
            if lease in await node.links():
                return node.name
        return None

    async def rows(self) -> list[Call]:
        async with self.db.session() as s:
            return list(await s.scalars(select(Call).order_by(Call.id)))

    async def row_count(self) -> int:
        async with self.db.session() as s:
            return int(await s.scalar(select(func.count()).select_from(Call)) or 0)

    def ami_sessions(self, pbx: PrivateAsterisk) -> int:
        """Plateau's AMI sessions the PBX itself counts (`manager show connected`)."""
        out = pbx.rx("manager show connected")
        return sum(1 for line in out.splitlines() if line.split()[:1] == [pbx.cfg.ami_user])


def _servers(a: PrivateAsterisk, a_port: int, b: PrivateAsterisk) -> str:
    """Each server's manager and its call records (cdr_custom's file, read by every node)."""
    return json.dumps(
        [
            {
                "name": name,
                "ami_port": port,
                "ami_user": p.cfg.ami_user,
                "ami_secret": p.cfg.ami_secret,
                "cdr_file": str(cdr_file(p.cfg.runtime)),
            }
            for name, p, port in (("a", a, a_port), ("b", b, b.cfg.ami_port))
        ]
    )


async def _agent2_on_b(db: Database, _tokens: dict[str, str], _users: dict[str, int]) -> None:
    async with db.session() as s:
        await s.execute(update(User).where(User.username == "agent2").values(pbx="b"))
        await s.commit()


@contextlib.asynccontextmanager
async def site_running(
    pg_server: str,
    two_pbxs: tuple[PrivateAsterisk, PrivateAsterisk],
    tmp_path: Path,
    users_of: UsersHook = _agent2_on_b,
    node_env: dict[str, str] | None = None,
    proxied: bool = True,
) -> AsyncIterator[Site]:
    """A fresh database seeded (then `users_of` sets who is on which PBX: it may add users and their tokens),
    n1 started and running both links, then n2 and n3 (`node_env`: more settings of every node); all stopped
    and dropped on the way out. `proxied=False`: n1 reaches PostgreSQL and every node A directly, as the
    others do (a bench: the proxies run in the calling process, whose other work would delay what they carry,
    the bus's NOTIFYs to and from n1 among them)."""
    await asyncio.to_thread(tmp_path.mkdir, parents=True, exist_ok=True)
    database = fresh_database(pg_server)
    url = await asyncio.to_thread(database.__enter__)
    await asyncio.to_thread(migrate.upgrade, url)
    db = Database(url)
    tokens, users = await seed(db)
    await users_of(db, tokens, users)
    # n1 reaches PostgreSQL through a relay a test can cut (the others directly)
    host, _, _name = url.removeprefix("postgresql+asyncpg://").partition("/")
    proxy = Proxy(int(host.rsplit(":", 1)[1]))
    await proxy.start()
    a, b = two_pbxs
    for pbx in two_pbxs:  # the PBXs serve every test: the calls of the tests before are not this site's
        await asyncio.to_thread(cdr_file(pbx.cfg.runtime).write_bytes, b"")  # (opened for each record)
    a_proxy = AmiProxy(a.cfg.ami_port)
    await a_proxy.start()
    nodes: dict[str, Node] = {}
    for name in ("n1", "n2", "n3"):
        cut_by_proxy = proxied and name == "n1"
        node_url = url.replace(host, f"{host.rsplit(':', 1)[0]}:{proxy.port}") if cut_by_proxy else url
        env = serve_env(
            node_url,
            a.cfg,
            PLATEAU_PBX_SERVERS=_servers(a, a_proxy.port if proxied else a.cfg.ami_port, b),
            PLATEAU_NODE_NAME=name,
            PLATEAU_CLUSTER_BUS="true",
            PLATEAU_AMI_PING_INTERVAL_S="1",
            PLATEAU_AMI_PING_TIMEOUT_S="1",
            PLATEAU_WRAPUP_ENABLED="false",
            PLATEAU_HISTORY_DEAD_LETTER=str(tmp_path / f"dead-letter-{name}.jsonl"),
            **LEASES,
            **(node_env or {}),
        )
        process = PlateauProcess(env, tmp_path / f"{name}.log", host=_bindable(NODE_HOSTS[name]))
        nodes[name] = Node(name, process, tokens, proxy if cut_by_proxy else None)
    site = Site(db, two_pbxs, nodes, users, a_proxy)
    try:
        await asyncio.to_thread(nodes["n1"].process.start)
        await wait_for(lambda: _owns_all(nodes["n1"]), 30, interval=0.2, what="n1 running both links")
        for name in ("n2", "n3"):
            await asyncio.to_thread(nodes[name].process.start)
        for name in ("n2", "n3"):
            await wait_for(lambda n=nodes[name]: _answers(n), 30, interval=0.2, what=f"{name} up")
        yield site
    finally:
        for node in nodes.values():
            for conn in node.sockets:
                with contextlib.suppress(Exception):
                    await conn.close()
            await asyncio.to_thread(node.process.stop)
        with contextlib.suppress(Exception):
            proxy.cut()
        await a_proxy.stop()
        for pbx in two_pbxs:
            for n in range(1, pbx.cfg.agents + 1):
                for queue in ("support", "sales", "hotline"):
                    with contextlib.suppress(Exception):
                        pbx.rx(f"queue remove member PJSIP/agent{n} from {queue}")
        await db.dispose()
        await asyncio.to_thread(database.__exit__, None, None, None)


@pytest_asyncio.fixture
async def site(
    pg_server: str, two_pbxs: tuple[PrivateAsterisk, PrivateAsterisk], tmp_path: Path
) -> AsyncIterator[Site]:
    async with site_running(pg_server, two_pbxs, tmp_path) as running:
        yield running


def _bindable(host: str) -> str:
    """`host`, once a socket could bind it: loopback beyond 127.0.0.1 is Linux's, not every system's."""
    with socket.socket() as s:
        try:
            s.bind((host, 0))
        except OSError as exc:
            raise RuntimeError(f"the cluster tier's node address {host} cannot be bound ({exc})") from exc
    return host


async def _owns_all(node: Node) -> bool:
    return sorted(await node.links()) == LINKS


async def _answers(node: Node) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        await node.health()
        return True
    return False
