"""Call-list import at scale: a French-style CSV (cp1252, `;`, numbers as people type them, duplicates,
do-not-call hits) streamed into leads through the same path as an upload (an import job).

Prints one JSON line per engine: rows, rows_per_s (import only, file generation excluded), peak_rss_mb
(the process's peak resident memory), and the counts the import reported, which are checked against
what the generator planted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import migrate
from app.db import Database
from bench.support.server_cpu import backends, used_since
from dialer.dnc import add_numbers
from dialer.list_import import ImportOptions, create_job, run_job
from dialer.models import CallList, DncKind, DncList, ImportJob
from tests.pg import fresh_database, postgres_server

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


async def run(url: str, csv_path: Path, n: int, workers: int = 0) -> dict[str, object]:
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
    try:
        await run_job(db, job_id, csv_path, ImportOptions(list_id=list_id, workers=workers), None)
    finally:
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
