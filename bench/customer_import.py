"""/healthz latency while `plateau import customers` loads a big file beside a real `plateau serve`.

The import runs as an operator runs it: the CLI, in its own process, on the server's database. The peer in
the same run: /healthz every 50 ms with no import, for `--peer-seconds`. On SQLite /healthz takes a write
(app/health.py), so an import that held the only write lock for the whole file showed as answers that
waited the health write's 500 ms lock wait and came back 503 "degraded".

    {"bench":"customer_import","engine":…,"rows":…,"rows_per_s":…,"healthz_p50_ms":…,"healthz_p99_ms":…,
     "healthz_not_200":…,"peer_healthz_p50_ms":…,"peer_healthz_p99_ms":…}

`--rows N` (1,000,000), `--engine sqlite|postgresql`, `--code DIR` runs the server and the CLI from another
checkout (e.g. /work/main), to compare with the code before.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.lookup import write_csv  # noqa: E402
from bench.support.serve import cli, health_loop, serve_env, serving  # noqa: E402
from bench.support.stage import MEASURED_NICE, SERVER_NICE, pct  # noqa: E402
from cti.pbx_process import free_port  # noqa: E402
from tests.pg import fresh_database, postgres_server  # noqa: E402

HEALTH_EVERY_S = 0.05


async def _probe(url: str, until: asyncio.Future[Any] | float) -> dict[str, Any]:
    """/healthz on a clock until `until` (a future: the import's end; a float: seconds)."""
    stop = asyncio.Event()
    health: list[float] = []
    bad: list[int] = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        task = asyncio.create_task(health_loop(http, stop, health, bad, HEALTH_EVERY_S))
        if isinstance(until, float):
            await asyncio.sleep(until)
        else:
            await until
        stop.set()
        await task
    return {"p50": pct(health, 0.5), "p99": pct(health, 0.99), "n": len(health), "not_200": len(bad)}


async def _during_import(url: str, env: dict[str, str], code: Path, csv_path: Path) -> dict[str, Any]:
    def at_nice_0() -> None:  # the bench itself runs at MEASURED_NICE; the import is an operator's command
        with contextlib.suppress(PermissionError):
            os.setpriority(os.PRIO_PROCESS, 0, 0)

    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *cli("import", "customers", str(csv_path)),
        env=env,
        cwd=code,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=at_nice_0,
    )
    ended = asyncio.ensure_future(proc.communicate())
    probe = await _probe(url, ended)
    out, _ = ended.result()
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
    return probe | {"seconds": time.perf_counter() - started, "cli": out.decode(errors="replace").strip()}


@contextlib.contextmanager
def _database(engine: str, work: Path) -> Iterator[str]:
    if engine == "sqlite":
        yield f"sqlite+aiosqlite:///{work / 'plateau.db'}"
        return
    with postgres_server() as server, fresh_database(server) as url:
        yield url


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--peer-seconds", type=float, default=10.0)
    ap.add_argument("--server-nice", type=int, default=SERVER_NICE)
    ap.add_argument("--code", type=Path, default=ROOT, help="checkout the server and the CLI run from")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-customer-import-"))
    csv_path = work / "customers.csv"
    write_csv(csv_path, args.rows)
    with _database(args.engine, work) as url:
        env = serve_env(args.code, url, free_port(), args.server_nice)
        subprocess.run(cli("migrate"), env=env, cwd=args.code, check=True, stdout=subprocess.DEVNULL)
        with contextlib.suppress(
            PermissionError
        ):  # the instrument must not add a wait (as the other benches)
            os.setpriority(os.PRIO_PROCESS, 0, MEASURED_NICE)
        with serving(env, args.code, work / "plateau.log") as served:
            peer = asyncio.run(_probe(served, args.peer_seconds))
            during = asyncio.run(_during_import(served, env, args.code, csv_path))
    csv_path.unlink()
    print(
        json.dumps(
            {
                "bench": "customer_import",
                "engine": args.engine,
                "code": str(args.code),
                "rows": args.rows,
                "rows_per_s": round(args.rows / during["seconds"]),
                "healthz_p50_ms": during["p50"],
                "healthz_p99_ms": during["p99"],
                "healthz_not_200": during["not_200"],
                "healthz_probes": during["n"],
                "peer_healthz_p50_ms": peer["p50"],
                "peer_healthz_p99_ms": peer["p99"],
                "server_nice": args.server_nice,
                "cli": during["cli"].splitlines()[-1][:200] if during["cli"] else "",
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
