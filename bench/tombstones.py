"""What erased persons' tombstones cost a call-list import: the same file imported into two fresh SQLite
databases, one without tombstones (the peer) and one with `--tombstones` of them, a hundredth of the file's
numbers among them. Prints one JSON line: rows, rows_per_s of each run, the slowdown, and the lines the
second run skipped as erased (checked against what was planted)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import migrate
from core import tombstones
from core.db import Database
from core.dialer_tables import CallList
from dialer.list_import import ImportOptions, import_file

KEY = b"bench tombstone key"
ERASED_EVERY = 100  # this row's number was erased


def number(i: int) -> str:
    return f"+33612{i:06d}"  # 06 12 … : a mobile range in use


async def run(folder: Path, csv_path: Path, buried: list[str]) -> tuple[float, int, int]:
    db = Database(f"sqlite+aiosqlite:///{folder / 'bench.db'}")
    try:
        async with db.session() as s:
            await tombstones.bury(s, KEY, buried, [])
            cl = CallList(name="bench")
            s.add(cl)
            await s.commit()
            started = time.perf_counter()
            c = await import_file(s, csv_path, ImportOptions(list_id=cl.id, tombstone_key=KEY))
            return time.perf_counter() - started, c.accepted, c.erased
    finally:
        await db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--tombstones", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        csv_path = root / "list.csv"
        with csv_path.open("w", encoding="utf-8") as f:
            f.write("Nom;Téléphone\n")
            for i in range(args.rows):
                f.write(f"Client {i};0{number(i)[3:]}\n")
        planted = [number(i) for i in range(0, args.rows, ERASED_EVERY)]
        others = [f"+33712{i:06d}" for i in range(max(0, args.tombstones - len(planted)))]
        # alternated, best of `--repeat` each: the first import of a process also pays for warming up
        times: dict[str, list[float]] = {"without": [], "with": []}
        for r in range(args.repeat):
            for name, buried in (("without", []), ("with", planted + others)):
                folder = root / f"{name}{r}"
                folder.mkdir()
                migrate.upgrade(f"sqlite+aiosqlite:///{folder / 'bench.db'}")
                took, ok, erased = asyncio.run(run(folder, csv_path, buried))
                times[name].append(took)
                if name == "without":
                    plain_ok = ok
                else:
                    with_ok, with_erased = ok, erased
        plain_s, with_s = min(times["without"]), min(times["with"])
        erased = with_erased
    assert (plain_ok, erased, with_ok) == (args.rows, len(planted), args.rows - len(planted)), (
        plain_ok,
        erased,
        with_ok,
    )
    print(
        json.dumps(
            {
                "bench": "tombstones",
                "engine": "sqlite",
                "rows": args.rows,
                "tombstones": len(planted) + len(others),
                "erased_lines": erased,
                "rows_per_s_without": round(args.rows / plain_s),
                "rows_per_s_with": round(args.rows / with_s),
                "slowdown_pct": round(100 * (with_s / plain_s - 1), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
