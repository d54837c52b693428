"""Customer imports bigger than one batch: all or nothing on both engines, and on SQLite (where each batch
commits, so that the server's writes are not locked out for the whole file) a state the audit log shows,
undone after a failure or a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.customer_import import BATCH, INTERRUPTED, SQLITE_BATCH, MalformedFile, import_customers
from core.db import Database
from core.models import Account, AuditLog, Contact, PhoneNumber
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parent.parent.parent.parent


def _customers(n: int, start: int = 0) -> str:
    """`n` good lines, each with its own company (an account the import creates) and mobile number."""
    return "".join(f"Nom{i};Societe{i};06{i % 10**8:08d}\n" for i in range(start, start + n))


async def _count(db: Database, model: type) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def _audit(db: Database) -> list[tuple[str, dict | None]]:
    async with db.session() as s:
        rows = await s.execute(
            select(AuditLog.action, AuditLog.detail)
            .where(AuditLog.target_type == "customer_import")
            .order_by(AuditLog.id)
        )
        return [(a, d) for a, d in rows]


@pytest.mark.parametrize(
    ("tail", "options", "error"),
    [
        (b"Bad\xff\xfe;S;0612345678\n", {"encoding": "utf-8"}, f"line {2 * BATCH + 2}"),
        (b"Sans numero;S;\n", {"all_or_nothing": True}, "1 lines rejected"),
    ],
    ids=["undecodable-last-line", "all-or-nothing-last-line-rejected"],
)
async def test_given_a_file_failing_after_two_full_batches_when_imported_then_nothing_is_left(
    db: Database, tmp_path: Path, tail: bytes, options: dict, error: str
) -> None:
    path = tmp_path / "clients.csv"
    path.write_bytes(("Nom;Société;Portable\n" + _customers(2 * BATCH)).encode() + tail)
    async with db.session() as s:
        with pytest.raises(MalformedFile, match=error):
            await import_customers(s, path, "FR", **options)
    assert (await _count(db, Contact), await _count(db, PhoneNumber), await _count(db, Account)) == (0, 0, 0)
    actions = [a for a, _ in await _audit(db)]
    if db.engine.dialect.name == "postgresql":  # one transaction: it rolled back, nothing to undo
        assert actions == []
        return
    # SQLite: the batches written before the failure were committed (the write lock let go between two),
    # then deleted
    audit = await _audit(db)
    batches = [d for a, d in audit if a == "customers_import_batch"]
    assert actions == [
        "customers_import_started",
        *["customers_import_batch"] * len(batches),
        "customers_import_failed",
    ]
    assert batches, "no batch was committed before the failure"
    written = sum(d["contacts"][1] - d["contacts"][0] + 1 for d in batches)  # type: ignore[index]
    assert audit[-1][1] is not None and audit[-1][1]["contacts_deleted"] == written >= SQLITE_BATCH


async def test_given_three_batches_when_imported_then_every_line_once_and_each_batch_in_the_audit_log(
    db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "clients.csv"
    path.write_bytes(("Nom;Société;Portable\n" + _customers(2 * SQLITE_BATCH + 1)).encode())
    async with db.session() as s:
        report = await import_customers(s, path, "FR")
    assert (report.imported, report.accounts_created, report.rejected) == (
        2 * SQLITE_BATCH + 1,
        2 * SQLITE_BATCH + 1,
        [],
    )
    assert await _count(db, Contact) == await _count(db, PhoneNumber) == 2 * SQLITE_BATCH + 1
    audit = await _audit(db)
    if db.engine.dialect.name == "postgresql":
        assert [a for a, _ in audit] == ["customers_imported"]
        return
    assert [a for a, _ in audit] == ["customers_import_started"] + ["customers_import_batch"] * 3 + [
        "customers_imported"
    ]
    batches = [d for a, d in audit if a == "customers_import_batch"]
    assert [d["through_line"] for d in batches] == [
        SQLITE_BATCH + 1,
        2 * SQLITE_BATCH + 1,
        2 * SQLITE_BATCH + 2,
    ]  # type: ignore[index]
    spans = [d["contacts"][1] - d["contacts"][0] + 1 for d in batches]  # type: ignore[index]
    assert spans == [SQLITE_BATCH, SQLITE_BATCH, 1]
    assert sum(len(d["accounts"]) for d in batches) == 2 * SQLITE_BATCH + 1  # type: ignore[index, arg-type]


async def test_given_an_import_killed_after_its_first_batch_when_the_next_import_runs_then_it_is_undone_first(
    db: Database, migrated_url: str, tmp_path: Path
) -> None:
    if db.engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL imports in one transaction: a killed import leaves nothing to undo")
    big = tmp_path / "big.csv"
    big.write_bytes(("Nom;Société;Portable\n" + _customers(40 * BATCH)).encode())
    env = {**os.environ, "PLATEAU_DATABASE_URL": migrated_url, "PLATEAU_SECRET_KEY": "cli-test-secret"}
    proc = subprocess.Popen(  # noqa: ASYNC220 (started once; the test polls the database, not the pipe)
        [sys.executable, "-m", "app.cli", "import", "customers", str(big)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        async def first_batch_committed() -> bool:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            return "customers_import_batch" in [a for a, _ in await _audit(db)]

        await wait_for(first_batch_committed, timeout=120, interval=0.05, what="the first batch's commit")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    # what an operator sees meanwhile: the batches' contacts, an import started and never ended
    left = await _count(db, Contact)
    assert left >= SQLITE_BATCH
    assert [a for a, _ in await _audit(db)][-1] == "customers_import_batch"

    small = tmp_path / "small.csv"
    small.write_bytes(("Nom;Société;Portable\n" + _customers(3, start=90_000_000)).encode())
    async with db.session() as s:
        report = await import_customers(s, small, "FR")
    assert report.imported == 3
    async with db.session() as s:
        names = set(await s.scalars(select(Contact.last_name)))
    assert names == {"Nom90000000", "Nom90000001", "Nom90000002"}
    assert await _count(db, Account) == 3  # the killed import's accounts went with its contacts
    audit = await _audit(db)
    failed = [d for a, d in audit if a == "customers_import_failed"]
    assert len(failed) == 1 and failed[0] is not None
    assert failed[0]["error"] == INTERRUPTED and failed[0]["contacts_deleted"] == left
