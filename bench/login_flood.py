"""/healthz latency while a client floods sign-ins with made-up names, on a real `plateau serve` (SQLite).

Two phases against the same server: the peer (health checks alone) then the flood (`--rate` sign-ins a
second with a new made-up name each, fired on a clock whatever the answers, plus the same health checks).
The per-address limit is lifted (`--ip-limit`) so that every sign-in reaches argon2, as a spray from many
addresses would: the case the password workers are there for.

    {"bench":"login_flood","healthz_p50_ms":…,"healthz_p99_ms":…,"peer_healthz_p50_ms":…,…}

`--code DIR` runs the server from another checkout (e.g. /work/main) to compare with the code before.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support.serve import cli, health_loop, serve_env, serving  # noqa: E402
from bench.support.stage import MEASURED_NICE, SERVER_NICE, pct  # noqa: E402
from cti.pbx_process import free_port  # noqa: E402

HEALTH_EVERY_S = 0.1


async def _flood(http: httpx.AsyncClient, stop: asyncio.Event, rate: float, out: dict[str, Any]) -> None:
    codes: collections.Counter[int] = collections.Counter()
    took: list[float] = []
    pending: set[asyncio.Task[None]] = set()

    async def one(n: int) -> None:
        t0 = time.perf_counter()
        try:
            r = await http.post("/api/v1/auth/login", json={"username": f"nobody-{n}", "password": "guess"})
            codes[r.status_code] += 1
        except httpx.HTTPError:
            codes[0] += 1
        took.append((time.perf_counter() - t0) * 1000)

    n, next_at = 0, time.monotonic()
    while not stop.is_set():
        task = asyncio.create_task(one(n))
        pending.add(task)
        task.add_done_callback(pending.discard)
        n += 1
        next_at += 1 / rate
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    if pending:
        await asyncio.wait(pending, timeout=60)
    out.update(codes={str(k): v for k, v in sorted(codes.items())}, sent=n, login_p50_ms=pct(took, 0.5))


async def _phase(url: str, seconds: float, rate: float) -> dict[str, Any]:
    stop = asyncio.Event()
    health: list[float] = []
    bad: list[int] = []
    flood: dict[str, Any] = {}
    limits = httpx.Limits(max_connections=200)
    async with (
        httpx.AsyncClient(base_url=url, timeout=60) as hc,
        httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as fc,
    ):
        tasks = [asyncio.create_task(health_loop(hc, stop, health, bad, HEALTH_EVERY_S))]
        if rate:
            tasks.append(asyncio.create_task(_flood(fc, stop, rate, flood)))
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*tasks)
    return {"p50": pct(health, 0.5), "p99": pct(health, 0.99), "n": len(health), "not_200": len(bad), **flood}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--rate", type=float, default=10, help="sign-ins per second in the flood")
    ap.add_argument("--ip-limit", type=int, default=1_000_000, help="PLATEAU_LOGIN_IP_RATE_LIMIT")
    ap.add_argument("--server-nice", type=int, default=SERVER_NICE)
    ap.add_argument("--code", type=Path, default=ROOT, help="checkout the server runs from")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-login-flood-"))
    env = serve_env(
        args.code,
        f"sqlite+aiosqlite:///{work / 'plateau.db'}",
        free_port(),
        args.server_nice,
        PLATEAU_LOGIN_IP_RATE_LIMIT=str(args.ip_limit),
    )
    run = {"env": env, "cwd": args.code, "check": True, "stdout": subprocess.DEVNULL}
    subprocess.run(cli("migrate"), **run)  # type: ignore[call-overload]
    add = ("user", "add", "alice", "--role", "agent", "--password", "a-long-password")
    subprocess.run(cli(*add), **run)  # type: ignore[call-overload]
    with contextlib.suppress(PermissionError):  # the instrument must not add a wait (as the other benches)
        os.setpriority(os.PRIO_PROCESS, 0, MEASURED_NICE)
    with serving(env, args.code, work / "plateau.log") as url:
        peer = asyncio.run(_phase(url, args.seconds, 0))
        flood = asyncio.run(_phase(url, args.seconds, args.rate))
    print(
        json.dumps(
            {
                "bench": "login_flood",
                "engine": "sqlite",
                "code": str(args.code),
                "seconds": args.seconds,
                "logins_per_s": args.rate,
                "healthz_p50_ms": flood["p50"],
                "healthz_p99_ms": flood["p99"],
                "healthz_not_200": flood["not_200"],
                "peer_healthz_p50_ms": peer["p50"],
                "peer_healthz_p99_ms": peer["p99"],
                "logins_sent": flood.get("sent"),
                "login_answers": flood.get("codes"),
                "login_p50_ms": flood.get("login_p50_ms"),
                "server_nice": args.server_nice,
            }
        )
    )


if __name__ == "__main__":
    main()
