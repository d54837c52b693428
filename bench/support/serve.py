"""A `plateau serve` on SQLite without a PBX, run from any checkout, and a /healthz prober: the benches of
the event loop's stalls (bench/login_flood.py, bench/customer_import.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def cli(*args: str) -> list[str]:
    """`plateau ARGS` from whichever checkout PYTHONPATH names (the entry point would load this one)."""
    return [sys.executable, "-c", f"import sys; from app.cli import main; sys.exit(main({list(args)!r}))"]


def serve_env(code: Path, database_url: str, port: int, server_nice: int, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(code),
        "PLATEAU_DATABASE_URL": database_url,
        "PLATEAU_AMI_ENABLED": "false",
        "PLATEAU_SECRET_KEY": "bench",
        "PLATEAU_HTTP_PORT": str(port),
        "PLATEAU_CPU_NICE": str(server_nice),
        **extra,
    }


@contextlib.contextmanager
def serving(env: dict[str, str], code: Path, log: Path) -> Iterator[str]:
    """Start `plateau serve`, yield its URL once /healthz answers 200, terminate it after."""
    url = f"http://127.0.0.1:{env['PLATEAU_HTTP_PORT']}"
    with log.open("wb") as out:
        server = subprocess.Popen(cli("serve"), env=env, cwd=code, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert server.poll() is None and time.monotonic() < deadline, "plateau serve did not start"
                time.sleep(0.2)
            yield url
        finally:
            server.terminate()
            server.wait(20)


async def health_loop(
    http: httpx.AsyncClient, stop: asyncio.Event, out: list[float], bad: list[int], every_s: float
) -> None:
    """/healthz every `every_s` on a clock: each answer's latency in `out`, each non-200 status in `bad`."""
    next_at = time.monotonic()
    while not stop.is_set():
        t0 = time.perf_counter()
        r = await http.get("/healthz")
        out.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            bad.append(r.status_code)
        next_at += every_s
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
