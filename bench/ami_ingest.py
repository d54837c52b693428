"""AMI ingest: a recorded Asterisk 16 stream replayed at full speed through Plateau's whole event path
(read + validate, track, publish to the bus and the WebSocket hub, batched history writes to PostgreSQL
or, with `--engine sqlite`, SQLite),
and, in the same run, through bare panoramisk 1.4 parsing (AMIProtocol.data_received + Message).
Both are timed in CPU seconds of this process (all its threads, so the SQLite writer counts), which keeps
the ratio meaningful on a busy machine, and both run with the collector settings of `plateau serve`
(app/collector.py: start-up state frozen, full collections rare).

The stream is the integration tier's recordings (tests/fixtures/ami), repeated with fresh ids so that every
copy is a new call. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from panoramisk.ami_protocol import AMIProtocol

from app import migrate
from app.call_history import CallHistoryWriter
from app.collector import service_collector
from app.ws_hub import Hub
from core.bus import Bus, Message, Principal, ToAgentAndSupervisors, ToSupervisors
from core.db import Database
from core.directory import AgentDirectory
from cti.ami_wire import AmiEvent, AmiReader
from cti.events import AgentStateChanged, CallEnded, to_wire
from cti.tracker import Tracker
from tests.pg import fresh_database, postgres_server

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "ami"
SCENARIOS = [
    "answered_queue_call",
    "abandoned_in_queue",
    "ring_no_answer_then_next",
    "blind_transfer",
    "attended_transfer",
    "direct_call_to_agent",
]
_ID = re.compile(rb"plateau-(\d+\.\d+)")


def build_stream(copies: int) -> tuple[bytes, int]:
    """Event blocks of the recordings (not the login exchange), each copy with its own Uniqueids."""
    bodies = []
    for name in SCENARIOS:
        data = (FIXTURES / f"{name}.ami").read_bytes()
        blocks = [
            b
            for b in data.split(b"\r\n\r\n")
            if b.startswith(b"Event: ") and b"Privilege:" in b and not b.startswith(b"Event: FullyBooted")
        ]
        bodies.append(b"\r\n\r\n".join(blocks) + b"\r\n\r\n")
    template = b"".join(bodies)
    events_per_copy = template.count(b"\r\n\r\n")
    out = [_ID.sub(lambda m, k=k: b"c%d-%s" % (k, m.group(1)), template) for k in range(copies)]
    return b"Asterisk Call Manager/5.0.4\r\n" + b"".join(out), events_per_copy * copies


def chunks(data: bytes, size: int = 65536) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


class _Transport:
    def write(self, _data: bytes) -> None: ...
    def close(self) -> None: ...


class _Factory:
    """The minimum panoramisk's protocol needs to dispatch: count what it hands over."""

    def __init__(self) -> None:
        self.events = 0
        self.forgetable_actions = ()
        self.awaiting_actions: list[object] = []

    def dispatch(self, _message: object) -> None:
        self.events += 1

    def connection_lost(self, _exc: object) -> None: ...


def raw_panoramisk(pieces: list[bytes]) -> tuple[int, float]:
    proto = AMIProtocol()
    proto.connection_made(_Transport())
    factory = _Factory()
    proto.factory = factory
    proto.encoding = "utf8"
    with service_collector():  # the same collector settings as Plateau's side
        t0 = time.process_time()
        for piece in pieces:
            proto.data_received(piece)
        return factory.events, time.process_time() - t0


async def plateau_pipeline(pieces: list[bytes], db_url: str, clients: int) -> tuple[int, int, float, int]:
    db = Database(db_url)
    hub = Hub()
    # connected browsers: a supervisor wallboard and agents, each with its own outbox (not drained here)
    for n in range(clients):
        conn = hub.attach(Principal(n + 1, f"u{n}", "supervisor" if n == 0 else "agent", 1, f"agent{n}"))
        conn.outbox = asyncio.Queue()  # not drained in the bench: unbounded
    bus = Bus()
    tracker = Tracker()
    history = CallHistoryWriter(db, AgentDirectory(db), "FR", batch=1000, flush_s=0.05)
    history.start()
    bus.subscribe(history.on_event)

    def to_hub(event: object) -> None:
        if isinstance(event, AgentStateChanged):
            hub.publish(Message(ToAgentAndSupervisors(event.agent, 1), to_wire(event)))
        elif isinstance(event, CallEnded):
            hub.publish(Message(ToSupervisors(), to_wire(event)))

    bus.subscribe(to_hub)
    reader = AmiReader()
    with service_collector():  # as `plateau serve` runs (app/collector.py)
        t0 = time.process_time()
        for i, piece in enumerate(pieces):
            for msg in reader.feed(piece):
                if isinstance(msg, AmiEvent):
                    for ev in tracker.feed(msg):
                        bus.publish(ev)
            if i % 16 == 15:
                await asyncio.sleep(0)  # let the history writer run, as the live loop would
        await history.drain(600)
        elapsed = time.process_time() - t0
    await history.stop()
    await db.dispose()
    return reader.events, history.written, elapsed, sum(v for v in reader.dropped.values())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=400)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--engine", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--rounds", type=int, default=3, help="each peer's best of N, the two interleaved")
    args = parser.parse_args()
    stream, expected = build_stream(args.copies)
    pieces = chunks(stream)
    raws, ours_runs = [], []
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(postgres_server()) if args.engine == "postgresql" else None
        for _ in range(args.rounds):  # interleaved, so that both peers see the machine's drift alike
            raws.append(raw_panoramisk(pieces))
            with contextlib.ExitStack() as run:
                if server is not None:
                    url = run.enter_context(fresh_database(server))
                else:
                    folder = Path(run.enter_context(tempfile.TemporaryDirectory()))
                    url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
                migrate.upgrade(url)  # a database of its own: the history writes are new each round
                ours_runs.append(asyncio.run(plateau_pipeline(pieces, url, args.clients)))
    assert all(r[0] == expected and r[3] == 0 for r in ours_runs), (ours_runs, expected)
    assert all(r[0] == expected for r in raws), (raws, expected)
    raw_events, raw_s = min(raws, key=lambda r: r[1])
    events, calls, elapsed, _dropped = min(ours_runs, key=lambda r: r[2])
    ours, theirs = events / elapsed, raw_events / raw_s
    print(
        json.dumps(
            {
                "bench": "ami_ingest",
                "events": events,
                "calls_written": calls,
                "events_per_s": round(ours),
                "raw_panoramisk_events_per_s": round(theirs),
                "ratio": round(ours / theirs, 3),
                "ws_clients": args.clients,
                "clock": "process CPU time (both peers)",
                "history_engine": args.engine,
                "rounds": args.rounds,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
