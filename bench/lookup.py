"""Caller lookup and customer import at scale, on PostgreSQL and SQLite.

Generates a French-style CSV (`;`, cp1252) of N contacts with two numbers each, imports it through the same
path as `plateau import customers`, then times `find_callers` for known numbers written in several formats
and for misses. Prints one JSON line per engine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import migrate
from app.customer_import import import_customers
from app.customers import find_callers
from bench.support.server_cpu import backends, used_since
from core.db import Database
from tests.pg import fresh_database, postgres_server

FIRST = ["Hélène", "Karim", "Sophie", "Youssef", "Amélie", "Mehdi", "Chloé", "Nadia", "Jérôme", "Leïla"]
LAST = ["Lefèvre", "Benali", "Martin", "El Amrani", "Dubois", "Haddad", "Garnier", "Trabelsi", "Rousseau"]


def mobile(i: int) -> str:
    return f"06{i:08d}"


def landline(i: int) -> str:
    return f"01{i:08d}"


def write_csv(path: Path, n: int) -> None:
    rnd = random.Random(1)
    with open(path, "w", encoding="cp1252", newline="") as f:
        f.write("Nom;Prénom;Société;Portable;Fixe;Niveau\r\n")
        for i in range(n):
            f.write(
                f"{rnd.choice(LAST)};{rnd.choice(FIRST)};Société {i // 20};"
                f"{' '.join(mobile(i)[k : k + 2] for k in range(0, 10, 2))};{landline(i)};Standard\r\n"
            )


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))]


async def run_engine(engine: str, url: str, csv_path: Path, n: int, lookups: int) -> dict[str, object]:
    db = Database(url)
    before = await backends(db)
    start, cpu = time.perf_counter(), time.process_time()
    async with db.session() as s:
        report = await import_customers(s, csv_path, "FR")
    import_s, cpu = time.perf_counter() - start, time.process_time() - cpu
    server_cpu = used_since(before, await backends(db))
    assert report.imported == n, report.summary()
    if engine == "postgresql":
        async with db.engine.begin() as conn:  # committed: PostgreSQL statistics are transactional
            await conn.exec_driver_sql("ANALYZE")
    gc.collect()
    gc.freeze()  # as the server does after start-up (app/main.py): long-lived objects not walked per lookup
    rnd = random.Random(2)
    forms = [
        lambda i: mobile(i),
        lambda i: "+33" + mobile(i)[1:],
        lambda i: "0033" + landline(i)[1:],
        lambda i: f"+33 (0){mobile(i)[1]} {mobile(i)[2:4]} {mobile(i)[4:6]} {mobile(i)[6:8]} {mobile(i)[8:]}",
    ]
    timings, found = [], 0
    async with db.session() as s:
        for k in range(lookups):
            miss = k % 10 == 9
            number = f"07{rnd.randrange(10**8):08d}" if miss else rnd.choice(forms)(rnd.randrange(n))
            t0 = time.perf_counter()
            matches = await find_callers(s, number, "FR")
            timings.append((time.perf_counter() - t0) * 1000)
            found += bool(matches) != miss
            s.expunge_all()  # a pop does not keep an identity map across calls
    await db.dispose()
    assert found == lookups, f"{lookups - found} lookups gave a wrong answer"
    return {
        "bench": "lookup",
        "engine": engine,
        "contacts": n,
        "numbers": 2 * n,
        "lookup_p50_ms": round(percentile(timings, 0.50), 3),
        "lookup_p99_ms": round(percentile(timings, 0.99), 3),
        "import_rows_per_s": round(n / import_s),
        "import_s": round(import_s, 1),
        "importer_cpu_s": round(cpu, 1),  # this process only
        # PostgreSQL's processes for this database (local server): with importer_cpu_s, what a quiet
        # two-core machine needs, whatever the load this run shared the machine with
        "server_cpu_s": round(server_cpu, 1),
        "lookups": lookups,
    }


def measure(engine: str, url: str, csv_path: Path, n: int, lookups: int) -> dict[str, object]:
    migrate.upgrade(url)  # runs its own event loop
    return asyncio.run(run_engine(engine, url, csv_path, n, lookups))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=5000)
    parser.add_argument("--engines", default="postgresql,sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "customers.csv"
        write_csv(csv_path, args.contacts)
        for engine in args.engines.split(","):
            if engine == "postgresql":
                with postgres_server() as server, fresh_database(server) as url:
                    result = measure(engine, url, csv_path, args.contacts, args.lookups)
            else:
                result = measure(
                    engine,
                    f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}",
                    csv_path,
                    args.contacts,
                    args.lookups,
                )
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
