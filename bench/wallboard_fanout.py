"""Wallboard fan-out: `--clients` supervisors' wallboards connected while calls flow (set-up in
bench/support/stage.py). Staleness is, for every event a wallboard receives that carries an AMI Timestamp
(`at`), the time from that Timestamp to the event's arrival, read on one wallboard in 20 (all of them
receive everything); the server's CPU is `plateau serve`'s own, over the calls. One JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.support.stage import SERVER_NICE, CallCentre, pct


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--cps", type=float, default=5)
    parser.add_argument("--calls", type=int, default=150)
    parser.add_argument("--server-nice", type=int, default=SERVER_NICE, help="PLATEAU_CPU_NICE of the server")
    args = parser.parse_args()
    centre = CallCentre(args.contacts, args.agents, supervisors=args.clients, server_nice=args.server_nice)
    with centre:
        r = centre.run(args.calls, args.cps)
    stale = [v * 1000 for v in r["stale"]]
    print(
        json.dumps(
            {
                "bench": "wallboard_fanout",
                "clients": args.clients,
                "calls": args.calls,
                "cps": args.cps,
                "events_timed": len(stale),
                "ws_messages": r["messages"],
                "staleness_p50_ms": pct(stale, 0.5),
                "staleness_p99_ms": pct(stale, 0.99),
                "server_cpu_percent": round(r["server_cpu_percent"], 1),
                "server_nice": args.server_nice,
                "ws_failed": r["failed"],
                "ws_connected": r["connected"],
                "ws_reconnects": r["reconnects"],
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
