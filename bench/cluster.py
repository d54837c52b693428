"""The cluster under load through repeated failovers: three `plateau serve` nodes on one PostgreSQL, two
private Asterisk servers (the cluster tier's harness, tests/cluster/conftest.py), the bus on, leases ttl 3 s.

SIPp places `--cps` inbound calls a second, half on each server, into the `support` queue served by
`--agents` SIPp phones per server (each agent's desk is connected to all three nodes). Meanwhile,
`--failovers` times: the node running the links (the one running most of them) is killed with SIGKILL,
the bench waits until the others' /healthz shows both links up and logged in (`failover_s`), then starts
the killed node again (so there are always three) and lets the load run `--settle-s` before the next kill.

- lost: calls that reached Asterisk (a bare AMI client of the bench's own per server notes each trunk leg's
  Linkedid) and ended without a `calls` row; duplicates: Linkedids with more than one row. No campaign runs
  here (leads dialled twice after a kill: tests/cluster/test_failover.py).
- pop_p99_ms: from the AMI event that rang the agent (its Timestamp, the pop's `event_at`) to the complete
  ringing pop on the agent's desk socket connected to a node that does not run that server's link (the pop
  crosses the bus). The peer, in the same run: the same pops on the desk socket connected to the owning node.
  It is split into the owner's part (event to pop sent, `pop_made_p99_ms`) and the bus's (arrival across
  minus arrival on the owner, `bus_added_*`). Counted apart: pops that rang while no node ran the link
  (`pops_unplaced`), and pops made before the desk's socket was up again after its node's restart (its
  snapshot brought them: `pops_resynced`, `pops_later_phase`; the failover tests bound that return).
- The nodes run at `--server-nice` (-5), as `make run` starts Plateau; the phones and callers at nice 19, as
  devices on other hosts (bench/support/stage.py); the desks' process at -5, as the instrument.
- bus_events_per_s: the bus relay's throughput (bench/bus.py's flood) on a fresh database of the same
  PostgreSQL, once the cluster has stopped; the goal is 5x two saturated Asterisk servers (bench/bus.py).

The bench takes the live-tests lock itself (`--live-lock`). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import websockets
from sqlalchemy import select

from app import migrate
from app.cpu_priority import apply_cpu_nice
from app.security import token_digest
from bench.bus import GOAL as BUS_GOAL
from bench.bus import call_messages, relay_run
from bench.soak import TrunkCalls, history
from bench.support.stage import LOAD_NICE, MEASURED_NICE, SERVER_NICE, pct
from core.db import Database
from core.models import ApiToken, Queue, QueueMember, Role, User
from cti.pbx_process import PrivateAsterisk
from tests.cluster.conftest import LINKS, Node, Site, UsersHook, site_running
from tests.cti.pbx.conftest import KNOWN_NUMBER, pbxs_running
from tests.cti.pbx.sipp import Caller, Sipp
from tests.pg import fresh_database, postgres_server

PBX_OF = {"pbx:a": "pbx-a-", "pbx:b": "pbx-b-"}  # a lease and the Linkedid prefix of its server's calls
TAKEOVER_DEADLINE_S = 30
# as bench/soak.py: SIPp's overload watchdog must not stop the trunk at nice 19 on two shared cores
WATCHDOG = ("-watchdog_minor_maxtriggers", "1000000", "-watchdog_major_maxtriggers", "1000")


def agents_hook(per_pbx: int) -> UsersHook:
    """Users agent1..agent<2*per_pbx>, each on its own phone agent<n> (endpoints are unique): the first half
    on A, the rest on B."""

    async def hook(db: Database, tokens: dict[str, str], users: dict[str, int]) -> None:
        async with db.session() as s:
            queues = list(await s.scalars(select(Queue)))
            seeded = {u.username: u for u in await s.scalars(select(User))}
            for n in range(1, 2 * per_pbx + 1):
                name = f"agent{n}"
                user = seeded.get(name)
                if user is None:
                    user = User(username=name, display_name=name.title(), password_hash="-", role=Role.agent)
                    user.team_id = seeded["agent1"].team_id
                    s.add(user)
                    await s.flush()
                    tokens[name] = f"token-{name}-0123456789"
                    s.add(ApiToken(user_id=user.id, name="bench", token_hash=token_digest(tokens[name])))
                    s.add_all([QueueMember(queue_id=q.id, user_id=user.id) for q in queues])
                user.pbx, user.sip_endpoint = "a" if n <= per_pbx else "b", name
                users[name] = user.id
            await s.commit()

    return hook


# the desk's reconnect policy (web/static/js/ws.js): full jitter over a doubling ceiling, reset by a snapshot
RECONNECT_FIRST_S, RECONNECT_CAP_S = 0.5, 4.0


def desks(urls: dict[str, str], tokens: dict[str, str], ready: Any, stop: Any, out: Any) -> None:
    """In its own process: every agent's desk on every node, reconnecting as ws.js does (a killed node's
    sockets come back once it is restarted). Notes each ringing pop's arrival (node, pop_id, linkedid,
    event_at, sent_at, arrival, lookup_ms) when the desk's socket was up (its snapshot in) before the pop
    was made: what a desk connecting later shows came in its snapshot, which the failover's desk bound
    measures."""
    os.setsid()
    apply_cpu_nice(MEASURED_NICE)

    async def main() -> None:
        pops: list[tuple[str, str, str, float, float, float]] = []
        synced: dict[tuple[str, str], float] = {}  # (node, agent) -> when its socket's snapshot came
        first: set[tuple[str, str]] = set()
        all_in = asyncio.Event()
        counts = {"reconnects": 0, "resynced": 0, "later_phase": 0}

        async def desk(node: str, name: str, token: str) -> None:
            url = urls[node].replace("http", "ws") + "/ws"
            failures = 0
            while True:
                try:
                    async with websockets.connect(
                        url, additional_headers={"Authorization": f"Bearer {token}"}, max_queue=None
                    ) as ws:
                        async for raw in ws:
                            now = time.time()
                            if '"type": "snapshot"' in raw[:40]:
                                synced[(node, name)], failures = now, 0
                                if len(synced) == len(urls) * len(tokens):
                                    all_in.set()
                            if '"type": "pop"' not in raw:
                                continue
                            frame = json.loads(raw)
                            for msg in frame["items"] if frame.get("type") == "batch" else [frame]:
                                if msg.get("type") != "pop" or msg["partial"]:
                                    continue
                                if (node, msg["pop_id"]) in first:
                                    continue
                                first.add((node, msg["pop_id"]))
                                if msg["phase"] != "ringing":
                                    counts["later_phase"] += 1  # its ring came before this socket was up
                                elif msg["sent_at"] < synced[(node, name)]:
                                    counts["resynced"] += 1
                                else:
                                    pops.append(
                                        (
                                            node,
                                            msg["pop_id"],
                                            msg["linkedid"],
                                            msg["event_at"],
                                            msg["sent_at"],
                                            now,
                                            msg.get("lookup_ms"),
                                        )
                                    )
                except (OSError, websockets.exceptions.WebSocketException):
                    counts["reconnects"] += 1
                    failures += 1
                    await asyncio.sleep(
                        random.uniform(0, min(RECONNECT_CAP_S, RECONNECT_FIRST_S * 2**failures))
                    )

        tasks = [asyncio.create_task(desk(node, n, t)) for node in urls for n, t in tokens.items()]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_in.wait(), 120)
        ready.set()
        parent = os.getppid()
        while not await asyncio.to_thread(stop.wait, 1.0):  # a bench that died takes its desks with it
            if os.getppid() != parent:
                break
        for task in tasks:
            task.cancel()
        out.put({"pops": pops, **counts})

    asyncio.run(main())


class Owners:
    """Who runs each link, polled from the nodes' /healthz; the timeline says who owned it at a moment."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.now: dict[str, str | None] = {}
        self.timeline: list[tuple[float, dict[str, str | None]]] = []  # (epoch s, owners) at each change

    async def poll(self) -> dict[str, str | None]:
        seen = await asyncio.gather(*(node.links() for node in self.site.nodes.values()))
        owners: dict[str, str | None] = dict.fromkeys(LINKS)
        for node, links in zip(self.site.nodes.values(), seen, strict=True):
            for lease in links:
                owners[lease] = node.name
        if owners != self.now:
            self.now = owners
            self.timeline.append((time.time(), owners))
        return owners

    async def run(self) -> None:
        while True:
            await self.poll()
            await asyncio.sleep(0.25)  # three /healthz a poll: the instrument must not load the nodes

    def at(self, epoch: float, lease: str) -> str | None:
        owner = None
        for t, owners in self.timeline:
            if t > epoch:
                break
            owner = owners[lease]
        return owner


async def _login(node: Node, name: str) -> None:
    async with node.client(name) as c:
        r = await c.post("/api/v1/agent/login", json={"queues": ["support"]})
    if r.status_code != 204:
        raise RuntimeError(f"{name} not logged in: {r.status_code} {r.text}")


async def _wait(done: Any, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not await done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout} s")
        await asyncio.sleep(interval)


async def failover(site: Site, owners: Owners) -> dict[str, Any]:
    """Kill -9 the node running most links; seconds until the others run both; then start it again."""
    current = await owners.poll()
    victim_name = max(site.nodes, key=lambda n: sum(1 for o in current.values() if o == n))
    victim = site.nodes[victim_name]
    await asyncio.to_thread(victim.process.kill)
    killed = time.monotonic()

    async def moved() -> bool:
        now = await owners.poll()
        return all(o is not None and o != victim_name for o in now.values())

    await _wait(moved, TAKEOVER_DEADLINE_S, f"both links run by a node other than {victim_name}", 0.1)
    took = time.monotonic() - killed
    await asyncio.to_thread(victim.process.start)
    links = sorted(k for k, o in current.items() if o == victim_name)
    return {"killed": victim_name, "links": links, "failover_s": round(took, 2), "to": dict(owners.now)}


async def run(
    args: argparse.Namespace, pg: str, work: Path, pbxs: tuple[PrivateAsterisk, ...]
) -> dict[str, Any]:
    nice = {"PLATEAU_CPU_NICE": str(args.server_nice)}
    hook = agents_hook(args.agents)
    # the nodes reach PostgreSQL and both servers directly (the tier's proxies run in this busy process)
    async with site_running(
        pg, (pbxs[0], pbxs[1]), work / "site", users_of=hook, node_env=nice, proxied=False
    ) as site:
        phones = [Sipp(p.cfg, work / f"sipp-{p.cfg.systemname}", nice=LOAD_NICE) for p in pbxs]
        trunks = [TrunkCalls(p.cfg.ami_port, p.cfg.ami_user, p.cfg.ami_secret) for p in pbxs]
        watchers = [asyncio.create_task(t.run()) for t in trunks]
        owners = Owners(site)
        poller = asyncio.create_task(owners.run())
        n1 = site.nodes["n1"]
        agents = [f"agent{n}" for n in range(1, 2 * args.agents + 1)]
        spawn = mp.get_context("spawn")  # not a fork of this process's event loop and threads
        stop, out = spawn.Event(), spawn.Queue()
        urls = {name: node.process.url for name, node in site.nodes.items()}
        tokens = {a: n1.tokens[a] for a in agents}
        ready = spawn.Event()  # one process for every desk (three, one a node, measured no better)
        clients = spawn.Process(target=desks, args=(urls, tokens, ready, stop, out), daemon=True)
        callers: list[subprocess.Popen[bytes]] = []
        try:
            for i, sipp in enumerate(phones):
                for k in range(i * args.agents + 1, (i + 1) * args.agents + 1):
                    await asyncio.to_thread(sipp.agent, k, "answer", args.ring_ms)
            for name in agents:
                await _login(n1, name)
            clients.start()
            if not await asyncio.to_thread(ready.wait, 150):
                raise RuntimeError("the desks did not connect")
            # more calls than the run needs: SIPp is told to stop placing them once the failovers are done
            per_pbx = int(args.cps / 2 * (args.failovers * (args.settle_s + 15) + 40))
            for sipp, pbx in zip(phones, ("a", "b"), strict=True):
                calls = [Caller(KNOWN_NUMBER, "5551000", f"{pbx}{i}") for i in range(per_pbx)]
                callers.append(
                    sipp.call(
                        calls,
                        hold_ms=args.hold_ms,
                        rate=args.cps / 2,
                        limit=int(args.cps * 10),
                        extra=WATCHDOG,
                    )
                )
            t0 = time.monotonic()
            await asyncio.sleep(args.settle_s)
            faults = []
            for _ in range(args.failovers):
                faults.append(await failover(site, owners))
                print(json.dumps(faults[-1]), file=sys.stderr, flush=True)
                await asyncio.sleep(args.settle_s)
            loaded_s = time.monotonic() - t0
            for proc in callers:  # SIGUSR1: SIPp places no new call and exits once its calls have ended
                proc.send_signal(signal.SIGUSR1)
            for proc in callers:
                try:
                    await asyncio.to_thread(proc.wait, 60)
                except subprocess.TimeoutExpired:
                    proc.terminate()
            # the last calls' rows (adopted calls end with Asterisk's events; the writer flushes every 0.2 s)
            seen = set().union(*(t.linkedids for t in trunks))

            async def all_written() -> bool:
                return seen <= (await history(site.db.url))[0]

            with contextlib.suppress(RuntimeError):  # what is still missing then is `lost`
                await _wait(all_written, 60, "every call's row", interval=0.5)
        finally:
            stop.set()
            empty = {"pops": [], "reconnects": 0, "resynced": 0, "later_phase": 0}
            try:
                parts = out.get(timeout=60) if clients.pid is not None else empty
            finally:
                if clients.pid is not None:
                    clients.join(30)
                    if clients.is_alive():
                        clients.kill()
            for t in trunks:
                t.stop()
            await asyncio.gather(*watchers, return_exceptions=True)
            poller.cancel()
            for sipp in phones:
                sipp.stop()
        written, duplicates, unobserved = await history(site.db.url)
    seen = set().union(*(t.linkedids for t in trunks))
    if seen - written:  # to look them up in the nodes' logs and Asterisk's records
        print(json.dumps({"lost_linkedids": sorted(seen - written)}), file=sys.stderr, flush=True)
    across, own, made, bus_added, unplaced = [], [], [], [], 0
    on_owner: dict[str, float] = {}  # pop_id -> its arrival on a desk of the node running the link
    placed = []
    for node, pop_id, linkedid, event_at, sent_at, arrived, _lookup_ms in parts["pops"]:
        lease = next(k for k, prefix in PBX_OF.items() if linkedid.startswith(prefix))
        owner = owners.at(event_at, lease)
        if owner is None:
            unplaced += 1
            continue
        placed.append((node == owner, pop_id, (arrived - event_at) * 1000, arrived))
        if node == owner:
            on_owner[pop_id] = arrived
            made.append((sent_at - event_at) * 1000)
    for is_owner, pop_id, lat, arrived in placed:
        (own if is_owner else across).append(lat)
        if not is_owner and pop_id in on_owner:
            bus_added.append((arrived - on_owner[pop_id]) * 1000)
    takes = [f["failover_s"] for f in faults]
    if args.raw:
        args.raw.write_text(json.dumps({"desks": parts, "failovers": faults, "owners": owners.timeline}))
    return {
        "calls": len(seen),
        "history_rows": len(written),
        "lost": len(seen - written),
        "duplicates": duplicates,
        "unobserved": unobserved,
        "failovers": len(faults),
        "failover_s_p50": pct(takes, 0.5),
        "failover_s_max": max(takes),
        "pops_across": len(across),
        "pop_p50_ms": pct(across, 0.5),
        "pop_p99_ms": pct(across, 0.99),
        "loaded_s": round(loaded_s, 1),
        "killed": [f["killed"] for f in faults],
        # the peer, in the same run: the same pops on the desk connected to the node running the link
        "peer": {"pops_on_owner": len(own), "pop_p50_ms": pct(own, 0.5), "pop_p99_ms": pct(own, 0.99)},
        # of the pop across nodes: the owner making it (AMI event to pop sent), then the bus's part (its
        # arrival across minus the same pop's arrival on the owner's desk)
        "pop_made_p99_ms": pct(made, 0.99),
        "bus_added_p50_ms": pct(bus_added, 0.5),
        "bus_added_p99_ms": pct(bus_added, 0.99),
        "pops_unplaced": unplaced,  # rang while no node ran the link (the failover gap)
        "pops_resynced": parts["resynced"],  # made before the desk's socket was up: in its snapshot
        "pops_later_phase": parts["later_phase"],
        "desk_reconnects": parts["reconnects"],
    }


def bus_rate(pg: str, flood: int) -> dict[str, Any]:
    with fresh_database(pg) as url:
        migrate.upgrade(url)
        events = [m for n in range(1000) for m in call_messages(n)]
        return asyncio.run(relay_run(url, events, flood, 1.0))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cps", type=float, default=10, help="calls a second, over both servers")
    parser.add_argument("--failovers", type=int, default=10)
    parser.add_argument("--agents", type=int, default=12, help="agent phones per server")
    parser.add_argument("--hold-ms", type=int, default=2500, help="each call, from the queue's answer")
    parser.add_argument("--ring-ms", type=int, default=200)
    parser.add_argument("--settle-s", type=float, default=6, help="load between a restart and the next kill")
    parser.add_argument("--server-nice", type=int, default=SERVER_NICE, help="PLATEAU_CPU_NICE of the nodes")
    parser.add_argument(
        "--raw", type=Path, help="also write each pop, failover and owner change there (JSON)"
    )
    parser.add_argument("--bus-flood", type=int, default=30_000)
    parser.add_argument("--live-lock", default="/tmp/plateau-live.lock", help="'' to take no lock")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.live_lock:
            lock = stack.enter_context(open(args.live_lock, "a"))
            fcntl.flock(lock, fcntl.LOCK_EX)
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-cluster-")))
        pg = stack.enter_context(postgres_server())
        pbxs = stack.enter_context(pbxs_running(work, agents=2 * args.agents))  # agents of A, then of B
        result = asyncio.run(run(args, pg, work, pbxs))
        bus = bus_rate(pg, args.bus_flood)
    print(
        json.dumps(
            {
                "bench": "cluster",
                "nodes": 3,
                "pbx": 2,
                "calls": result.pop("calls"),
                "failover_s_p50": result.pop("failover_s_p50"),
                "failover_s_max": result.pop("failover_s_max"),
                "lost": result.pop("lost"),
                "duplicates": result.pop("duplicates"),
                "pop_p99_ms": result.pop("pop_p99_ms"),
                "bus_events_per_s": bus["events_per_s"],
                "bus_goal_events_per_s": BUS_GOAL,
                **result,
                "cps": args.cps,
                "server_nice": args.server_nice,
                "agents_per_pbx": args.agents,
                "hold_ms": args.hold_ms,
                "lease": {"ttl_s": 3, "renew_every_s": 1, "margin_s": 0.5},
                "setup": "3 plateau serve nodes, 2 private Asterisk servers, PostgreSQL, one 2-core host",
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
