"""Screen-pop latency end to end, on the real parts (see bench/support/stage.py for the set-up).

SIPp places `--calls` calls at `--cps` into the `support` queue served by `--agents` SIPp phones; Plateau
runs on PostgreSQL with `--contacts` contacts; `--clients` WebSocket clients are connected: one desk per
agent of the queue, `--supervisors` wallboards, the rest desks of other teams' agents (signed in, not in
this queue: the hub must not burden them). Latency is from the AMI event that rang the agent (its
`Timestamp`, carried as the pop's `event_at`) to the arrival of the complete pop. One JSON line.

`--recording all` runs it a second time with every call recorded (the queue's policy `all`: announcement,
MixMonitor into PLATEAU_RECORDINGS_DIR, the file filed when the call ends) and prints that run's figures
beside the first's (`recording_all`): recording must cost the pop nothing. In both runs the callers then
speak (SIPp's A-law sample), so that there is audio to record and the two runs carry the same media.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.support.stage import SERVER_NICE, CallCentre, pct


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--supervisors", type=int, default=10)
    parser.add_argument("--cps", type=float, default=20)
    parser.add_argument("--calls", type=int, default=600)
    parser.add_argument("--server-nice", type=int, default=SERVER_NICE, help="PLATEAU_CPU_NICE of the server")
    parser.add_argument(
        "--recording", choices=["none", "all"], default="none", help="all: a second run, recorded"
    )
    args = parser.parse_args()
    supervisors = min(args.supervisors, max(0, args.clients - args.agents))
    others = max(0, args.clients - args.agents - supervisors)
    line = figures(args, supervisors, others, "none")
    if args.recording == "all":
        recorded = figures(args, supervisors, others, "all")
        line["recording_all"] = {
            k: recorded[k]
            for k in ("calls", "pops", "pop_latency_p50_ms", "pop_latency_p99_ms", "ami_delivery_p99_ms",
                      "server_cpu_percent", "recordings")
        }  # fmt: skip
    print(json.dumps(line), flush=True)


def figures(args: argparse.Namespace, supervisors: int, others: int, policy: str) -> dict[str, Any]:
    with CallCentre(
        args.contacts,
        args.agents,
        supervisors,
        others,
        server_nice=args.server_nice,
        recording_policy=policy,
        voice=args.recording == "all",
    ) as centre:
        r = centre.run(args.calls, args.cps)
        recordings = len(list((centre.work / "recordings").glob("*.wav")))
    stream = r["stream"]
    for row in sorted(r["slowest"], reverse=True)[:10]:  # for whoever looks into the tail, on stderr
        total, lookup, server, wire, pop_id = row
        print(f"slow pop {pop_id}: {total} ms; lookup {lookup} server {server} wire {wire}", file=sys.stderr)
    lat = [v * 1000 for v in r["pops"].values()]
    return {
        "bench": "screenpop",
        "calls": stream.count(b"Event: QueueCallerJoin\r\n"),
        "rings": stream.count(b"Event: AgentCalled\r\n"),
        "pops": len(lat),
        "contacts": args.contacts,
        "ws_clients": args.clients,
        "supervisors": supervisors,
        "cps": args.cps,
        "pop_latency_p50_ms": pct(lat, 0.5),
        "pop_latency_p99_ms": pct(lat, 0.99),
        "first_frame_p99_ms": pct([v * 1000 for v in r["first"].values()], 0.99),
        # the peer, in the same run: Asterisk's delivery of the same ring events to a bare AMI client
        "ami_delivery_p50_ms": pct(r["ami_delivery"], 0.5),
        "ami_delivery_p99_ms": pct(r["ami_delivery"], 0.99),
        "db_lookup_p99_ms": pct(r["lookups"], 0.99),
        "server_p99_ms": pct(r["server"], 0.99),
        "wire_p99_ms": pct(r["wire"], 0.99),
        "server_cpu_percent": round(r["server_cpu_percent"], 1),
        "server_nice": args.server_nice,
        "ws_messages": r["messages"],
        "ws_failed": r["failed"],
        "ws_connected": r["connected"],
        "ws_reconnects": r["reconnects"],
        "recording": policy,
        "recordings": recordings,
    }


if __name__ == "__main__":
    main()
