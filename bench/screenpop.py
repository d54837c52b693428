"""Screen-pop latency end to end, on the real parts.

A private Asterisk 16 (asterisk-conf/), SIPp as the carrier placing calls at `--cps` into the `support`
queue served by `--agents` SIPp agent phones, Plateau itself (`plateau serve`, its own process) on
PostgreSQL loaded with `--contacts` contacts, and `--clients` WebSocket clients in another process: one desk
per agent of the queue, `--supervisors` wallboards (which receive every queue and agent event), and the
rest desks of agents of other teams, signed in but not in this queue (the hub must not burden them).

Latency is from the AMI event that rang the agent (its `Timestamp` header, carried as the pop's
`event_at`) to the moment the agent's WebSocket client receives the complete pop. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import websockets

from app import migrate
from app.customer_import import import_customers
from app.db import Database
from app.models import ApiToken, Queue, QueueMember, Role, User
from app.security import token_digest
from bench.lookup import mobile, write_csv
from cti.pbx_process import PbxConfig, PrivateAsterisk
from tests.integration.capture import AmiRecorder
from tests.integration.sipp import Caller, Sipp
from tests.pg import fresh_database, postgres_server

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def seed(
    url: str, csv_path: Path, contacts: int, agents: int, supervisors: int, others: int
) -> dict[str, str]:
    db = Database(url)
    async with db.session() as s:
        report = await import_customers(s, csv_path, "FR")
        assert report.imported == contacts, report.summary()
    tokens = {}
    async with db.session() as s:
        queue = Queue(name="support", display_name="Support")
        s.add(queue)
        await s.flush()
        users = [(f"agent{n}", Role.agent, f"agent{n}") for n in range(1, agents + 1)]
        users += [(f"sup{n}", Role.supervisor, None) for n in range(1, supervisors + 1)]
        users += [(f"other{n}", Role.agent, f"other{n}") for n in range(1, others + 1)]
        for name, role, endpoint in users:
            u = User(username=name, display_name=name, password_hash="x", role=role, sip_endpoint=endpoint)
            s.add(u)
            await s.flush()
            tokens[name] = f"bench-{name}-token-0123456789"
            s.add(ApiToken(user_id=u.id, name="bench", token_hash=token_digest(tokens[name])))
            if role is Role.agent and name.startswith("agent"):
                s.add(QueueMember(queue_id=queue.id, user_id=u.id))
        await s.commit()
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql("ANALYZE")
    await db.dispose()
    return tokens


def ws_clients(url: str, tokens: dict[str, str], ready: mp.Event, stop: mp.Event, out: mp.Queue) -> None:
    """In its own process: hold every connection, note when each agent's complete pop arrives."""

    async def main() -> None:
        pops: dict[str, float] = {}
        first: dict[str, float] = {}
        lookups: list[float] = []
        counts = {"messages": 0}

        async def client(name: str, token: str) -> None:
            async with websockets.connect(
                url, additional_headers={"Authorization": f"Bearer {token}"}, max_queue=None, open_timeout=60
            ) as ws:
                async for raw in ws:
                    now = time.time()
                    counts["messages"] += 1
                    if name.startswith("agent") and '"type": "pop"' in raw:
                        msg = json.loads(raw)
                        first.setdefault(msg["pop_id"], now - msg["event_at"])
                        if not msg["partial"] and msg["pop_id"] not in pops:
                            pops[msg["pop_id"]] = now - msg["event_at"]
                            lookups.append(msg.get("lookup_ms") or 0.0)

        tasks = [asyncio.create_task(client(n, t)) for n, t in tokens.items()]
        await asyncio.sleep(3)
        ready.set()
        await asyncio.to_thread(stop.wait)
        for t in tasks:
            t.cancel()
        out.put(
            {
                "pops": pops,
                "first": first,
                "messages": counts["messages"],
                "lookups": lookups,
                "failed": sum(1 for t in tasks if t.done() and not t.cancelled() and t.exception()),
            }
        )

    asyncio.run(main())


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))] if s else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--supervisors", type=int, default=10)
    parser.add_argument("--cps", type=float, default=20)
    parser.add_argument("--calls", type=int, default=600)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-screenpop-"))
    csv_path = work / "customers.csv"
    write_csv(csv_path, args.contacts)
    supervisors = min(args.supervisors, max(0, args.clients - args.agents))
    others = max(0, args.clients - args.agents - supervisors)
    with postgres_server() as server, fresh_database(server) as url:
        migrate.upgrade(url)
        tokens = asyncio.run(seed(url, csv_path, args.contacts, args.agents, supervisors, others))
        cfg = PbxConfig.for_tests(work / "pbx", agents=args.agents, supervisors=1, queue_ring_timeout=5)
        pbx = PrivateAsterisk(cfg)
        pbx.start()
        sipp = Sipp(cfg, work / "sipp")
        http_port = free_port()
        env = {
            **os.environ,
            "PLATEAU_DATABASE_URL": url,
            "PLATEAU_AMI_PORT": str(cfg.ami_port),
            "PLATEAU_AMI_USER": cfg.ami_user,
            "PLATEAU_AMI_SECRET": cfg.ami_secret,
            "PLATEAU_SECRET_KEY": "bench",
            "PLATEAU_WRAPUP_ENABLED": "false",
            "PLATEAU_HTTP_PORT": str(http_port),
        }
        server_log = open(work / "plateau.log", "wb")
        plateau = subprocess.Popen(
            [str(Path(sys.executable).parent / "plateau"), "serve"],
            env=env,
            cwd=ROOT,
            stdout=server_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        ready, stop, out = mp.Event(), mp.Event(), mp.Queue()
        clients = mp.Process(
            target=ws_clients, args=(f"ws://127.0.0.1:{http_port}/ws", tokens, ready, stop, out)
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", http_port), timeout=0.5):
                        break
                except OSError:
                    assert time.monotonic() < deadline and plateau.poll() is None, "plateau did not start"
                    time.sleep(0.2)
            for n in range(1, args.agents + 1):
                sipp.agent(n, "answer", ring_ms=400, talk_ms=1500)
            import httpx

            with httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=30) as http:
                for n in range(1, args.agents + 1):
                    r = http.post(
                        "/api/v1/agent/login",
                        headers={"Authorization": f"Bearer {tokens[f'agent{n}']}"},
                        json={"queues": ["support"]},
                    )
                    assert r.status_code == 204, r.text
            clients.start()
            assert ready.wait(120), "WebSocket clients did not connect"
            rnd = random.Random(3)
            callers = [
                Caller(mobile(rnd.randrange(args.contacts)), "5551000", "Bench") for _ in range(args.calls)
            ]

            async def place() -> tuple[bytes, float]:
                rec = AmiRecorder(cfg.ami_port, cfg.ami_user, cfg.ami_secret)
                await rec.start()
                t0 = time.monotonic()
                proc = sipp.call(callers, hold_ms=4000, rate=args.cps, limit=400)
                await asyncio.to_thread(proc.wait, args.calls / args.cps + 120)
                elapsed = time.monotonic() - t0
                await asyncio.sleep(3)  # the last pops
                return await rec.stop(), elapsed

            stream, elapsed = asyncio.run(place())
            stop.set()
            result = out.get(timeout=60)
            clients.join(30)
        finally:
            stop.set()
            sipp.stop()
            plateau.send_signal(signal.SIGINT)
            try:
                plateau.wait(20)
            except subprocess.TimeoutExpired:
                plateau.kill()
            pbx.stop()
    rings = stream.count(b"Event: AgentCalled\r\n")
    calls = stream.count(b"Event: QueueCallerJoin\r\n")
    lat = [v * 1000 for v in result["pops"].values()]
    first = [v * 1000 for v in result["first"].values()]
    print(
        json.dumps(
            {
                "bench": "screenpop",
                "calls": calls,
                "rings": rings,
                "pops": len(lat),
                "contacts": args.contacts,
                "ws_clients": args.clients,
                "supervisors": supervisors,
                "cps": args.cps,
                "placed_in_s": round(elapsed, 1),
                "pop_latency_p50_ms": round(pct(lat, 0.5), 2),
                "pop_latency_p99_ms": round(pct(lat, 0.99), 2),
                "first_frame_p99_ms": round(pct(first, 0.99), 2),
                "db_lookup_p99_ms": round(pct(result["lookups"], 0.99), 2),
                "ws_messages": result["messages"],
                "ws_failed": result["failed"],
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
