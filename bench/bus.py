"""The bus between nodes (core/bus_relay.py): node A's hub messages to node B over PostgreSQL LISTEN/NOTIFY.

Two relays on one fresh database, each with its own delivery (in one process, so sender and receiver share
one event loop and the two cores of the machine with PostgreSQL: a harder case than two machines). The
events are the hub messages the CTI publishes for a call (tracker events through `to_wire` with the agent's
fields, pops with the caller's history), in the app's wire form (app/cluster_bus.py).

- events_per_s: as many events as can be offered, until B has them all;
- p50_ms / p99_ms: A's `offer` to B's delivery, at a steady rate of what two saturated PBXs produce, and
  again at five times that (the goal the bus is held to);
- peer, in the same run: the same events, one NOTIFY per event, each awaited (no batching).

Assumption, stated in the line: a saturated Asterisk (a few hundred concurrent calls, ~10 calls/s, ~30 AMI
events a call) gives ~15 hub messages a call, ~150/s; we take 1,500/s per server, 3,000/s for two, the top
of the 1,000–3,000 range, so the goal is 15,000 events/s. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from app import migrate
from app.cluster_bus import decode, encode
from core.bus import Message, ToAgent, ToAgentAndSupervisors, ToAgentsAndSupervisors, ToSupervisors
from core.bus_relay import BusRelay, asyncpg_dsn
from cti.events import (
    AgentRinging,
    AgentState,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallerId,
    CallOffered,
    CallQueued,
    CallRecord,
    Direction,
    QueueChanged,
    to_wire,
)
from tests.pg import fresh_database, postgres_server

SATURATED_TWO_PBX = 3_000  # events/s, see the module's docstring
GOAL = 5 * SATURATED_TWO_PBX


def call_messages(n: int) -> list[Message]:
    """The hub messages of one inbound call answered by an agent, as the CTI and the pop publish them."""
    lid, agent, now = f"1733580000.{n}", f"PJSIP/agent{n % 300}", 1733580000.0 + n
    caller = CallerId(f"+336{n:08d}", "Zoé Martin-Dupont", False)
    fields = {"user_id": n % 300, "username": f"agent{n % 300}", "display_name": "Agent Name", "team_id": 1}
    to_agent = ToAgentAndSupervisors(agent, 1)
    pop = {
        "type": "pop",
        "pop_id": f"{lid}:{agent}",
        "linkedid": lid,
        "agent": agent,
        "phase": "ringing",
        "queue": "support",
        "dnis": "0390000000",
        "caller": {"number": caller.number, "e164": caller.number, "name": caller.name, "withheld": False},
        "contacts": [{"id": n, "first_name": "Zoé", "last_name": "Martin-Dupont", "company": "ACME SARL"}],
        "history": [
            {
                "at": now - 86400 * i,
                "direction": "inbound",
                "agent": "agent7",
                "outcome": "answered",
                "note": "x" * 60,
            }
            for i in range(8)
        ],
        "complaints": [{"id": 3, "status": "open", "subject": "Facture contestée", "due": "2026-12-20"}],
        "event_at": now,
    }
    record = CallRecord(
        lid, Direction.inbound, caller, "0390000000", "support", agent, now, now + 12, now + 200,
        12.0, 188.0, 0.0, "answered", 16, (agent,),
    )  # fmt: skip
    staff, q = ToSupervisors(), ("support",)

    def state(s: AgentState, reason: str | None = None, call: str | None = None) -> Message:
        return Message(to_agent, to_wire(AgentStateChanged(agent, s, reason, now, q, call), fields))

    return [
        Message(staff, to_wire(CallOffered(lid, Direction.inbound, caller, "0390000000", now))),
        Message(staff, to_wire(CallQueued(lid, "support", 1, caller, now))),
        Message(staff, to_wire(QueueChanged("support", 3, now - 5, now))),
        Message(to_agent, to_wire(AgentRinging(lid, agent, f"{agent}-2a", "support", caller, None, now))),
        state(AgentState.ringing, None, lid),
        Message(ToAgent(agent), pop),
        Message(
            to_agent, to_wire(CallAnswered(lid, agent, "support", caller, 12.0, now), {"contact": "Zoé"})
        ),
        state(AgentState.on_call, None, lid),
        Message(ToAgent(agent), {**pop, "phase": "answered", "answered_at": now + 12}),
        Message(staff, to_wire(QueueChanged("support", 2, now - 3, now))),
        Message(
            ToAgentsAndSupervisors(frozenset({agent}), frozenset({1})), to_wire(CallEnded(record, (agent,)))
        ),
        state(AgentState.wrap_up, "wrapup"),
        Message(ToAgent(agent), {**pop, "phase": "wrap_up", "ended_at": now + 200, "outcome": "answered"}),
        state(AgentState.ready),
    ]


def stamped(message: Message) -> Message:
    """The message with the moment it was offered (B measures the latency from it)."""
    return Message(message.audience, {**message.payload, "bench_t": time.perf_counter()})


def percentiles(latencies: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(latencies, n=100)
    return round(q[49] * 1000, 2), round(q[98] * 1000, 2)


async def paced(rate: int, seconds: float, events: list[Message], offer: Callable[[Message], None]) -> int:
    """Offer `rate` events a second for `seconds`, every millisecond its share; returns how many."""
    start, n = time.perf_counter(), 0
    source = itertools.cycle(events)
    while (elapsed := time.perf_counter() - start) < seconds:
        due = int(elapsed * rate)
        while n < due:
            offer(stamped(next(source)))
            n += 1
        await asyncio.sleep(0.001)
    return n


async def until(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.001)


async def wait_count(count: Callable[[], int], target: int, timeout: float) -> None:
    await until(lambda: count() >= target, timeout, f"{target} events heard (heard {count()})")


async def relay_run(url: str, events: list[Message], flood: int, seconds: float) -> dict[str, Any]:
    heard: list[float] = []

    def deliver(_sender: str, message: Message) -> None:
        heard.append(time.perf_counter() - message.payload.get("bench_t", 0.0))

    a = BusRelay(url, node="bench-a/1", encode=encode, decode=decode, deliver=lambda _s, _m: None)
    b = BusRelay(url, node="bench-b/1", encode=encode, decode=decode, deliver=deliver)
    for r in (a, b):
        await r.start()
        await r.wait_up()
    try:
        out: dict[str, Any] = {}
        # throughput: offered in chunks as long as A keeps up (a backlog under 5,000), until B has them all
        start = time.perf_counter()
        for i in range(0, flood, 500):
            await until(lambda: a.backlog <= 5_000, 60, "A's backlog drained")
            for message in events[i % len(events) : i % len(events) + 500]:
                a.offer(message)  # unstamped: only the count matters here
            await asyncio.sleep(0)
        await wait_count(lambda: len(heard), flood, 120)
        out["events_per_s"] = round(flood / (time.perf_counter() - start))
        out["events_per_frame"] = round(a.sent / a.frames, 1)
        for label, rate in (("", SATURATED_TWO_PBX), ("at_goal_", GOAL)):
            heard.clear()
            n = await paced(rate, seconds, events, a.offer)
            await wait_count(lambda: len(heard), n, 60)
            out[f"{label}p50_ms"], out[f"{label}p99_ms"] = percentiles(heard)
        out["lost"], out["spilled"] = b.lost, a.spilled
        return out
    finally:
        await a.stop()
        await b.stop()


async def raw_run(url: str, events: list[Message], flood: int, seconds: float) -> dict[str, Any]:
    """The peer: one `pg_notify` per event, each awaited before the next; a listener on another connection."""
    dsn = asyncpg_dsn(url)
    sender, listener = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    heard: list[float] = []

    def on_notify(_c: object, _pid: int, _ch: str, payload: str) -> None:
        heard.append(time.perf_counter() - decode(json.loads(payload)).payload.get("bench_t", 0.0))

    await listener.add_listener("bench_raw", on_notify)
    queue: asyncio.Queue[Message] = asyncio.Queue()

    async def send() -> None:
        while True:
            message = await queue.get()
            await sender.execute("SELECT pg_notify('bench_raw', $1)", encode(message).decode())

    task = asyncio.create_task(send())
    try:
        out: dict[str, Any] = {}
        start = time.perf_counter()
        for i in range(flood):
            queue.put_nowait(events[i % len(events)])
        await wait_count(lambda: len(heard), flood, 300)
        out["events_per_s"] = round(flood / (time.perf_counter() - start))
        heard.clear()
        n = await paced(SATURATED_TWO_PBX, seconds, events, queue.put_nowait)
        await wait_count(lambda: len(heard), n, 300)
        out["p50_ms"], out["p99_ms"] = percentiles(heard)
        return out
    finally:
        task.cancel()
        await sender.close()
        await listener.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flood", type=int, default=60_000, help="events of the throughput run")
    parser.add_argument("--seconds", type=float, default=3.0, help="each steady-rate run")
    args = parser.parse_args()
    events = [m for n in range(1000) for m in call_messages(n)]
    sizes = [len(encode(m)) for m in events]
    with postgres_server() as server, fresh_database(server) as url:
        migrate.upgrade(url)
        ours = asyncio.run(relay_run(url, events, args.flood, args.seconds))
        peer = asyncio.run(raw_run(url, events, args.flood // 6, args.seconds))
    print(
        json.dumps(
            {
                "bench": "bus",
                "transport": "postgresql-notify",
                "events_per_s": ours["events_per_s"],
                "p50_ms": ours["p50_ms"],
                "p99_ms": ours["p99_ms"],
                "latency_at_events_per_s": SATURATED_TWO_PBX,
                "at_goal_p50_ms": ours["at_goal_p50_ms"],
                "at_goal_p99_ms": ours["at_goal_p99_ms"],
                "goal_events_per_s": GOAL,
                "meets_goal": ours["events_per_s"] >= GOAL,
                "events_per_frame": ours["events_per_frame"],
                "event_bytes_mean": round(statistics.mean(sizes)),
                "event_bytes_max": max(sizes),
                "lost": ours["lost"],
                "peer": {"transport": "postgresql-notify, one NOTIFY per event, unbatched", **peer},
                "assumption": (
                    "two saturated Asterisk servers ~ 3,000 hub events/s (a few hundred concurrent calls, "
                    "~10 calls/s and ~30 AMI events a call each, ~15 hub messages a call, rounded up); "
                    "goal 5x that"
                ),
                "setup": "A and B in one process (one event loop), PostgreSQL on the same 2-core host",
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
