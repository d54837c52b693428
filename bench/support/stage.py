"""A whole call centre on one machine, for the end-to-end benchmarks (screen-pop, wallboard fan-out).

A private Asterisk (asterisk-conf/), SIPp agent phones logged into the `support` queue, PostgreSQL loaded
with contacts, Plateau as `plateau serve` in its own process, and WebSocket clients in two other processes
(the clients read, and the load) that note when each message arrives. SIPp places the calls as the carrier
would.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import multiprocessing as mp
import os
import queue
import random
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets

from app import migrate
from app.cpu_priority import apply_cpu_nice
from app.customer_import import import_customers
from app.security import token_digest
from bench.lookup import mobile, write_csv
from core.db import Database
from core.models import ApiToken, Queue, QueueMember, Role, Team, User
from cti.pbx_process import PbxConfig, PrivateAsterisk
from cti.sipp import voice_file
from tests.cti.pbx.capture import AmiRecorder
from tests.cti.pbx.plateau_process import PlateauProcess, serve_env
from tests.cti.pbx.sipp import Caller, Sipp
from tests.pg import fresh_database, postgres_server

ROOT = Path(__file__).resolve().parent.parent.parent
SAMPLE_EVERY = 20  # wallboards whose messages are parsed and timed
# The phones, the trunk and the unmeasured browsers stand in for devices on other hosts. On this machine's two
# cores they run at the lowest priority, below Plateau, Asterisk and PostgreSQL: 51 SIPp processes at nice 10
# still weighed five times one process at nice 0 in the scheduler, and took 39 % of a core to Plateau's 27 %.
LOAD_NICE = 19
# Plateau runs as deployed on a shared host (PLATEAU_CPU_NICE, app/cpu_priority.py): at nice 0 beside Asterisk
# its loop waited 40-110 ms for a core at times, in runs where it used a fifth of one (`--server-nice 0`).
SERVER_NICE = -5
MEASURED_NICE = -5  # the clients whose arrival times are the figures: the instrument must not add a wait
# The client processes' deadlines. Each waits for every snapshot up to CONNECT_S, then says it is ready: the
# parent gives it READY_S in all. A client process left without its stop (the parent failed, or died) ends
# by itself once its parent is gone or `stop_within` has passed, so that no bench can outlive its run.
CONNECT_S = 170.0
READY_S = 200.0
RESULTS_S = 120.0  # from the stop to each process's figures on the queue (950 sockets to close, at nice 19)
EXIT_S = 30.0  # then to its exit, before it is terminated


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(p * len(s)))], 2) if s else float("nan")


async def seed(
    url: str,
    csv_path: Path,
    contacts: int,
    users: list[tuple[str, Role, str | None]],
    password_hash: str = "x",
    queues: tuple[str, ...] = ("support",),
    recording_policy: str = "none",
) -> dict[str, str]:
    db = Database(url)
    async with db.session() as s:
        report = await import_customers(s, csv_path, "FR")
        assert report.imported == contacts, report.summary()
    tokens = {}
    async with db.session() as s:
        rows = [
            Queue(name=name, display_name=name.title(), recording_policy=recording_policy) for name in queues
        ]
        team = Team(name="Plateau")
        s.add_all([*rows, team])
        await s.flush()
        for name, role, endpoint in users:  # one team: supervisors watch their own team's agents
            u = User(
                username=name,
                display_name=name.title(),
                password_hash=password_hash,
                role=role,
                sip_endpoint=endpoint,
                team_id=team.id,
            )
            s.add(u)
            await s.flush()
            tokens[name] = f"bench-{name}-token-0123456789"
            s.add(ApiToken(user_id=u.id, name="bench", token_hash=token_digest(tokens[name])))
            if name.startswith("agent"):
                s.add_all([QueueMember(queue_id=queue.id, user_id=u.id) for queue in rows])
        await s.commit()
    # The store at rest, as it is long after its import: vacuumed (hint bits and visibility map set, which
    # the first reads after a bulk load would otherwise do page by page, and autovacuum would do in the
    # middle of the calls) and checkpointed (no import pages left dirty in the way of the lookups' reads).
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("VACUUM (ANALYZE)")
        await conn.exec_driver_sql("CHECKPOINT")
    await db.dispose()
    return tokens


def _measured(name: str) -> bool:
    """Agents' desks (their pops) and one wallboard in SAMPLE_EVERY (staleness); the others are load."""
    if name.startswith("agent"):
        return True
    return name.startswith("sup") and int(name[3:]) % SAMPLE_EVERY == 1


def ws_clients(
    url: str,
    tokens: dict[str, str],
    ready: Any,
    stop: Any,
    out: Any,
    nice: int = 0,
    stop_within: float = 3600.0,
) -> None:
    """In its own process: hold every connection and note when messages arrive (epoch seconds).

    Agents: each complete pop, from the ring's AMI Timestamp (`event_at`). Wallboards (one in
    SAMPLE_EVERY): every event that carries an AMI Timestamp (`at`), i.e. its staleness on arrival.
    `ready` is set once every client has received its snapshot (or after CONNECT_S; `connected` says).
    The figures are put on `out` once `stop` is set; without it, the process ends (figures unsent) when its
    parent is gone or `stop_within` seconds after it started: a failed parent must not wait on it forever.
    """
    parent = os.getppid()
    give_up = time.monotonic() + stop_within
    # A session of its own, so that the scheduler weighs this group of clients at its own nice (autogroups):
    # the bulk below everything; the measured desks not queued behind the load (as on their own PCs).
    os.setsid()
    apply_cpu_nice(nice)

    async def main() -> None:
        pops: dict[str, float] = {}
        first: dict[str, float] = {}
        lookups: list[float] = []
        server: list[float] = []  # ring's AMI Timestamp → the pop leaving Plateau (AMI, tracker, lookup)
        wire: list[float] = []  # the pop leaving Plateau → its arrival (hub, socket, this client's loop)
        stale: list[float] = []
        slowest: list[tuple[float, float, float, float, str]] = []  # (total, lookup, server, wire, pop_id) ms
        counts = {"messages": 0}

        connected: set[str] = set()
        all_in = asyncio.Event()
        counts["reconnects"] = 0

        async def client(name: str, token: str) -> None:
            # like ws.js: a refused or dropped connection is retried with backoff (0.5 s doubling to 15 s)
            delay = 0.5
            while True:
                try:
                    await session(name, token)
                    return
                except (OSError, websockets.exceptions.WebSocketException):
                    counts["reconnects"] += 1
                    connected.discard(name)
                    await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                    delay = min(15.0, delay * 2)

        async def session(name: str, token: str) -> None:
            # every wallboard receives everything; staleness is read on a sample of them, so that the
            # clients' own JSON parsing (on the same cores as the server) does not dominate
            measured = _measured(name)
            async with websockets.connect(
                url, additional_headers={"Authorization": f"Bearer {token}"}, max_queue=None, open_timeout=120
            ) as ws:
                async for raw in ws:
                    now = time.time()
                    if name not in connected and '"type": "snapshot"' in raw[:40]:
                        connected.add(name)
                        if len(connected) == len(tokens):
                            all_in.set()
                        counts["messages"] += 1
                        continue
                    if not measured or (
                        not (name.startswith("agent") and '"type": "pop"' in raw)
                        and not (name.startswith("sup") and '"at": ' in raw)
                    ):
                        counts["messages"] += 1
                        continue
                    frame = json.loads(raw)
                    for msg in frame["items"] if frame.get("type") == "batch" else [frame]:
                        counts["messages"] += 1
                        kind = msg.get("type")
                        if name.startswith("agent") and kind == "pop":
                            first.setdefault(msg["pop_id"], now - msg["event_at"])
                            if not msg["partial"] and msg["pop_id"] not in pops:
                                pops[msg["pop_id"]] = now - msg["event_at"]
                                lookups.append(msg.get("lookup_ms") or 0.0)
                                server.append((msg["sent_at"] - msg["event_at"]) * 1000)
                                wire.append((now - msg["sent_at"]) * 1000)
                                slowest.append(
                                    (
                                        round(pops[msg["pop_id"]] * 1000, 1),
                                        lookups[-1],
                                        round(server[-1], 1),
                                        round(wire[-1], 1),
                                        msg["pop_id"],
                                    )
                                )
                        elif (
                            name.startswith("sup")
                            and "at" in msg
                            and kind not in ("heartbeat", "pong", "pbx_link")
                        ):
                            stale.append(now - msg["at"])

        tasks = [asyncio.create_task(client(n, t)) for n, t in tokens.items()]
        # the calls start once every client holds its snapshot: a connection storm is not what is measured
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_in.wait(), CONNECT_S)
        counts["connected"] = len(connected)
        ready.set()
        while not await asyncio.to_thread(stop.wait, 1.0):
            if os.getppid() != parent or time.monotonic() > give_up:
                for t in tasks:
                    t.cancel()
                return  # nobody to read the figures
        for t in tasks:
            t.cancel()
        failed = sum(1 for t in tasks if t.done() and not t.cancelled() and t.exception())
        out.put(
            {
                "pops": pops,
                "first": first,
                "lookups": lookups,
                "server": server,
                "wire": wire,
                "stale": stale,
                "slowest": sorted(slowest, reverse=True)[:10],
                "messages": counts["messages"],
                "failed": failed,
                "connected": counts["connected"],
                "reconnects": counts["reconnects"],
            }
        )

    asyncio.run(main())


@contextlib.contextmanager
def client_processes(
    url: str, tokens: dict[str, str], stop_within: float
) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The clients in two processes (see `CallCentre.run`), connected; yields `results()`, which stops them
    and returns their figures. Whatever happens in the block, both processes are gone when it is left: a
    bench that fails says why and exits, instead of waiting at exit for clients that wait for their stop."""
    measured = {n: t for n, t in tokens.items() if _measured(n)}
    bulk = {n: t for n, t in tokens.items() if n not in measured}
    stop, out = mp.Event(), mp.Queue()
    niced = ((measured, MEASURED_NICE), (bulk, LOAD_NICE))
    groups = [(mp.Event(), group, nice) for group, nice in niced if group]
    procs = [
        mp.Process(target=ws_clients, args=(url, g, ready, stop, out, nice, stop_within))
        for ready, g, nice in groups
    ]

    def results() -> list[dict[str, Any]]:
        stop.set()
        parts = []
        for _ in procs:
            try:
                parts.append(out.get(timeout=RESULTS_S))
            except queue.Empty:
                raise RuntimeError(
                    f"WebSocket client processes: {len(parts)} of {len(procs)} sent their figures within "
                    f"{RESULTS_S:.0f} s of the stop"
                ) from None
        return parts

    try:
        for proc in procs:
            proc.start()
        deadline = time.monotonic() + READY_S
        for (ready, group, _nice), proc in zip(groups, procs, strict=True):
            while not ready.wait(1.0):
                if proc.exitcode is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"WebSocket clients: the process of {len(group)} was not ready within "
                        f"{READY_S:.0f} s (exit code {proc.exitcode})"
                    )
        yield results
    finally:
        stop.set()
        deadline = time.monotonic() + EXIT_S
        for proc in procs:
            if proc.pid is not None:
                proc.join(max(0.0, deadline - time.monotonic()))
        for proc in procs:
            if proc.is_alive():  # its queue's feeder waits for a reader that has gone, or a socket hangs
                proc.kill()
                proc.join(5)


@dataclass
class CallCentre:
    contacts: int
    agents: int
    supervisors: int
    others: int = 0
    password_hash: str = "x"  # "x" matches no password: the benches sign in with tokens
    talk_ms: int = 1500
    server_nice: int = SERVER_NICE
    queues: tuple[str, ...] = ("support",)  # the agents answer all of them
    ivr_flows: Path | None = None  # a folder of IVR flows: calls go through the IVR (FastAGI) first
    live_lock: Path | None = None  # taken (flock) once the data is staged, before Asterisk starts
    recording_policy: str = "none"  # the queues' (cti/recordings.py): `all` records every answered call
    voice: bool = False  # callers speak (SIPp's A-law sample): media through Asterisk, something to record
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bench-centre-")))
    tokens: dict[str, str] = field(default_factory=dict)

    def __enter__(self) -> CallCentre:
        self._stack = ExitStack()
        csv_path = self.work / "customers.csv"
        write_csv(csv_path, self.contacts)
        url = self._stack.enter_context(fresh_database(self._stack.enter_context(postgres_server())))
        migrate.upgrade(url)
        users = [(f"agent{n}", Role.agent, f"agent{n}") for n in range(1, self.agents + 1)]
        users += [(f"sup{n}", Role.supervisor, None) for n in range(1, self.supervisors + 1)]
        users += [(f"other{n}", Role.agent, f"other{n}") for n in range(1, self.others + 1)]
        self.tokens = asyncio.run(
            seed(url, csv_path, self.contacts, users, self.password_hash, self.queues, self.recording_policy)
        )
        csv_path.unlink()  # 1M rows: ~60 MB a run otherwise left in the temporary folder
        self.database_url = url
        if self.live_lock is not None:  # the shared machine's live runs (Asterisk, SIPp) go one at a time
            lock = self._stack.enter_context(open(self.live_lock, "a"))
            fcntl.flock(lock, fcntl.LOCK_EX)
        self.cfg = PbxConfig.for_tests(
            self.work / "pbx",
            agents=self.agents,
            supervisors=1,
            queue_ring_timeout=5,
            ivr_enabled=self.ivr_flows is not None,
        )
        self.pbx = PrivateAsterisk(self.cfg)
        self.pbx.start()
        self._stack.callback(self.pbx.stop)
        self.sipp = Sipp(self.cfg, self.work / "sipp", nice=LOAD_NICE)
        self._stack.callback(self.sipp.stop)
        ivr = (
            {
                "PLATEAU_IVR_ENABLED": "true",
                "PLATEAU_AGI_PORT": str(self.cfg.agi_port),
                "PLATEAU_IVR_FLOWS_DIR": str(self.ivr_flows),
            }
            if self.ivr_flows is not None
            else {}
        )
        env = serve_env(
            url,
            self.cfg,
            PLATEAU_WRAPUP_ENABLED="false",
            PLATEAU_CPU_NICE=str(self.server_nice),
            PLATEAU_RECORDINGS_DIR=str(self.work / "recordings"),
            **ivr,
        )
        self.server = PlateauProcess(env, self.work / "plateau.log")
        self.http_port = self.server.http_port
        self.server.start()
        self._stack.callback(self.server.stop)
        for n in range(1, self.agents + 1):
            self.sipp.agent(n, "answer", ring_ms=400, talk_ms=self.talk_ms)
        with httpx.Client(base_url=f"http://127.0.0.1:{self.http_port}", timeout=30) as http:
            for n in range(1, self.agents + 1):
                r = http.post(
                    "/api/v1/agent/login",
                    headers={"Authorization": f"Bearer {self.tokens[f'agent{n}']}"},
                    json={"queues": list(self.queues)},
                )
                assert r.status_code == 204, r.text
        return self

    @property
    def plateau(self) -> subprocess.Popen[bytes]:
        assert self.server.proc is not None
        return self.server.proc

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def run(self, calls: int, cps: float) -> dict[str, Any]:
        """Connect every client, place the calls, and gather what the clients saw and the server spent."""
        # The clients that are read (agents' desks, one wallboard in SAMPLE_EVERY) live in a process of their
        # own, as each browser has its own machine: the bulk's frame handling (websockets in Python, on the
        # same cores) must not delay the reading of the frames measured. The server serves them all alike.
        url = f"ws://127.0.0.1:{self.http_port}/ws"
        rnd = random.Random(3)
        callers = [Caller(mobile(rnd.randrange(self.contacts)), "5551000", "Bench") for _ in range(calls)]
        server = psutil.Process(self.plateau.pid)
        calls_s = calls / cps + 120  # SIPp's calls (4 s each, at most 400 up at once), with room

        async def place() -> tuple[AmiRecorder, float, float]:
            rec = AmiRecorder(self.cfg.ami_port, self.cfg.ami_user, self.cfg.ami_secret)
            await rec.start()
            cpu0, t0 = server.cpu_times(), time.monotonic()
            audio = voice_file(self.work) if self.voice else None
            proc = self.sipp.call(callers, hold_ms=4000, rate=cps, limit=400, audio=audio)
            try:
                await asyncio.to_thread(proc.wait, calls_s)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"SIPp's {calls} calls did not end within {calls_s:.0f} s") from None
            await asyncio.sleep(3)  # the last events
            cpu1, t1 = server.cpu_times(), time.monotonic()
            busy = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
            await rec.stop()
            return rec, t1 - t0, 100 * busy / (t1 - t0)

        with client_processes(url, self.tokens, stop_within=READY_S + calls_s + 600) as results:
            rec, elapsed, cpu_percent = asyncio.run(place())
            parts = results()
        result: dict[str, Any] = {
            key: (
                {k: v for p in parts for k, v in p[key].items()}
                if isinstance(parts[0][key], dict)
                else [v for p in parts for v in p[key]]
                if isinstance(parts[0][key], list)
                else sum(p[key] for p in parts)
            )
            for key in parts[0]
        }
        result.update(
            stream=rec.data,
            ami_delivery=[v * 1000 for v in rec.delivery(b"AgentCalled")],
            elapsed=elapsed,
            server_cpu_percent=cpu_percent,
        )
        return result
