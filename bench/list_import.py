"""Call-list import at scale: a French-style CSV (cp1252, `;`, numbers as people type them, duplicates,
do-not-call hits) streamed into leads through the same path as an upload (an import job).

Prints one JSON line per engine: rows, rows_per_s (import only, file generation excluded), peak_rss_mb
(the process's peak resident memory), and the counts the import reported, which are checked against
what the generator planted. The importing process also serves the real application (uvicorn, no PBX) on
the same event loop, as `plateau serve` does while an upload is imported; a client in another process
asks its `/healthz` every 50 ms during the import: healthz_p50_ms / healthz_p99_ms (goal: p99 < 100 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import migrate
from bench.support.server_cpu import backends, used_since
from core.db import Database
from core.dialer_tables import CallList, DncKind, DncList, ImportJob
from dialer.dnc import add_numbers
from dialer.list_import import ImportOptions, create_job, run_job
from tests.pg import fresh_database, postgres_server

HEALTHZ_EVERY_S = 0.05

FIRST = ["Hélène", "Karim", "Sophie", "Youssef", "Amélie", "Mehdi", "Chloé", "Nadia", "Jérôme", "Leïla"]
LAST = ["Lefèvre", "Benali", "Martin", "El Amrani", "Dubois", "Haddad", "Garnier", "Trabelsi", "Rousseau"]
CITIES = ["Paris", "Lyon", "Marseille", "Lille", "Nantes", "Saint-Étienne", "Besançon", "Nîmes"]
DUPLICATE_EVERY = 50  # this row repeats the number of a row 7 lines earlier
DNC_EVERY = 100  # this row's number is on the national opt-out list
LANDLINE_EVERY = 5  # this row also has a landline


def mobile(i: int) -> str:
    return f"0612{i:06d}"


def landline(i: int) -> str:
    return f"0142{i:06d}"


def formatted(digits: str, i: int) -> str:
    pairs = [digits[k : k + 2] for k in range(0, 10, 2)]
    return [
        " ".join(pairs),
        ".".join(pairs),
        "+33 " + digits[1] + " " + " ".join(pairs[1:]),
        digits,
    ][i % 4]


def row_number(i: int) -> int:
    """The index whose number row i carries (a duplicate reuses an earlier one)."""
    return i - 7 if i % DUPLICATE_EVERY == 0 and i >= 7 else i


def write_csv(path: Path, n: int) -> tuple[int, int]:
    """The file, plus how many duplicates and DNC hits it holds (what the import must report)."""
    duplicates = dnc = 0
    with open(path, "w", encoding="cp1252", newline="") as f:
        f.write("Civilité;Nom;Prénom;Portable;Fixe;Ville;Code client;Consentement;Remarque\r\n")
        for i in range(n):
            k = row_number(i)
            if k != i:
                duplicates += 1
            elif k % DNC_EVERY == 3:
                dnc += 1
            fixe = formatted(landline(k), i) if k % LANDLINE_EVERY == 0 else ""
            note = '=HYPERLINK("x")' if i % 997 == 0 else ("rappeler après 18 h" if i % 3 == 0 else "")
            f.write(
                f"{'Mme' if i % 2 else 'M.'};{LAST[i % 9]};{FIRST[i % 10]};{formatted(mobile(k), i)};{fixe};"
                f"{CITIES[i % 8]};C{i:07d};oui;{note}\r\n"
            )
    return duplicates, dnc


def _poll_healthz(url: str, stop: Connection) -> None:
    """In its own process: GET /healthz every HEALTHZ_EVERY_S until told to stop; sends the latencies (ms)."""
    import httpx

    latencies: list[tuple[float, float]] = []  # (when it was sent, wall clock; milliseconds)
    with httpx.Client(timeout=60) as client:
        while not stop.poll():
            sent, start = time.time(), time.perf_counter()
            client.get(url).raise_for_status()
            latencies.append((sent, (time.perf_counter() - start) * 1000))
            stop.poll(max(0.0, HEALTHZ_EVERY_S - (time.perf_counter() - start)))
    stop.send(latencies)


class _Served:
    """The application served by uvicorn on this process's loop, and the /healthz poller in another."""

    async def __aenter__(self) -> _Served:
        import uvicorn

        from app.main import create_app
        from core.settings import Settings
        from cti.pbx_process import free_port

        port = free_port()
        settings = Settings(database_url=self.url, ami_enabled=False, secret_key="bench")
        self.server = uvicorn.Server(
            uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
        )
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            assert not self.task.done(), "the application did not start"
            await asyncio.sleep(0.02)
        self.pipe, child = multiprocessing.get_context("spawn").Pipe()
        self.poller = multiprocessing.get_context("spawn").Process(
            target=_poll_healthz, args=(f"http://127.0.0.1:{port}/healthz", child), daemon=True
        )
        self.poller.start()
        self.lag_task = asyncio.create_task(self._loop_lag())
        return self

    async def _loop_lag(self) -> None:
        """How late a 5 ms timer fires on this loop: its own stalls, apart from the database's answer."""
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.005)
            self.lags.append((time.time(), (time.perf_counter() - start - 0.005) * 1000))

    def __init__(self, url: str) -> None:
        self.url = url
        self.latencies: list[tuple[float, float]] = []
        self.lags: list[tuple[float, float]] = []
        self.window = (0.0, 0.0)  # the import's start and end (wall clock): only polls sent within count

    async def __aexit__(self, *exc: object) -> None:
        self.lag_task.cancel()
        self.pipe.send("stop")
        self.latencies = await asyncio.to_thread(self.pipe.recv)
        self.poller.join(10)
        self.server.should_exit = True
        await self.task

    def figures(self) -> dict[str, object]:
        lat = sorted(ms for sent, ms in self.latencies if self.window[0] <= sent <= self.window[1])
        lag = sorted(ms for at, ms in self.lags if self.window[0] <= at <= self.window[1])
        if len(lat) < 2 or len(lag) < 2:
            return {"healthz_polls": len(lat)}
        return {
            "loop_lag_p99_ms": round(lag[int(len(lag) * 0.99)], 1),
            "loop_lag_max_ms": round(lag[-1], 1),
            "healthz_polls": len(lat),
            "healthz_p50_ms": round(statistics.median(lat), 1),
            "healthz_p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1),
            "healthz_max_ms": round(lat[-1], 1),
        }


async def run(url: str, csv_path: Path, n: int, workers: int = 0) -> dict[str, object]:
    served = _Served(url)
    async with served:
        figures = await _import(url, csv_path, n, workers, served)
    return figures | served.figures()


async def _import(url: str, csv_path: Path, n: int, workers: int, served: _Served) -> dict[str, object]:
    db = Database(url)
    async with db.session() as s:
        bloctel = DncList(name="Bloctel", kind=DncKind.national, source="bench")
        cl = CallList(name="bench")
        s.add_all([bloctel, cl])
        await s.flush()
        await add_numbers(s, bloctel.id, ["+33" + mobile(k)[1:] for k in range(3, n, DNC_EVERY)])
        size = csv_path.stat().st_size  # noqa: ASYNC240 - before the timed part
        job = await create_job(s, list_id=cl.id, filename="bench.csv", size=size, options={}, user_id=None)
        await s.commit()
        job_id, list_id = job.id, cl.id
    before = await backends(db)
    # As the server does once started (app/main.py), where an upload runs: what start-up built is frozen
    # out of the collector, so full collections during the import walk the import's objects only.
    gc.collect()
    gc.freeze()
    start, cpu = time.perf_counter(), time.process_time()
    served.window = (time.time(), float("inf"))
    try:
        await run_job(db, job_id, csv_path, ImportOptions(list_id=list_id, workers=workers), None)
    finally:
        served.window = (served.window[0], time.time())
        gc.unfreeze()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    server_cpu = used_since(before, await backends(db))
    async with db.session() as s:
        job = await s.get(ImportJob, job_id)
    await db.dispose()
    assert job.status.value == "done", job.error
    return {
        "rows": job.rows,
        "rows_per_s": round(job.rows / elapsed),
        "seconds": round(elapsed, 1),
        "importer_cpu_s": round(cpu, 1),  # the importing process only (workers and PostgreSQL excluded)
        # PostgreSQL's processes for this database (local server): with importer_cpu_s, what a quiet
        # two-core machine needs, whatever the load this run shared the machine with
        "server_cpu_s": round(server_cpu, 1),
        "accepted": job.accepted,
        "duplicates": job.duplicates,
        "dnc": job.dnc,
        "invalid": job.invalid,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--engines", default="postgresql")
    parser.add_argument(
        "--workers", type=int, default=0, help="parsing processes beside the importer (0: none)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "liste.csv"
        duplicates, dnc = write_csv(csv_path, args.rows)
        for engine in args.engines.split(","):
            if engine == "postgresql":
                with postgres_server() as server, fresh_database(server) as url:
                    migrate.upgrade(url)
                    figures = asyncio.run(run(url, csv_path, args.rows, args.workers))
            else:
                url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
                migrate.upgrade(url)
                figures = asyncio.run(run(url, csv_path, args.rows, args.workers))
            assert (figures["duplicates"], figures["dnc"], figures["invalid"]) == (duplicates, dnc, 0), (
                figures
            )
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
            worker_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # largest worker
            print(
                json.dumps(
                    {
                        "bench": "list_import",
                        "engine": engine,
                        **figures,
                        "peak_rss_mb": round(peak, 1),
                        "worker_peak_rss_mb": round(worker_peak, 1),
                        "file_mb": round(csv_path.stat().st_size / 2**20, 1),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
