"""Import jobs as the rest of the service lives with them, on SQLite and PostgreSQL: other writes go on
while a large list imports, a job's leads are dialable only once it is done, and a job whose process died
is found at start-up, failed with the reason, its leads and upload deleted."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from core.db import Database
from core.dialer_tables import CallList, ImportJob, ImportReject, ImportStatus, Lead, LeadNumber
from dialer.list_import import (
    INTERRUPTED,
    SPOOL_PREFIX,
    ImportOptions,
    ListImporter,
    create_job,
    open_table,
    recover_interrupted,
    run_job,
)
from dialer.store import load_leads
from tests.conftest import wait_for
from tests.dialer.conftest import Api
from tests.dialer.files import french_csv

pytestmark = pytest.mark.db


def big_list(tmp: Path, rows: int, name: str = "grande.csv") -> Path:
    """`rows` leads with distinct mobile numbers (06 00 00 00 00 onwards)."""
    mobiles = (f"{i:08d}" for i in range(rows))
    return french_csv(tmp, [f"M.;N;P;;06 {d[:2]} {d[2:4]} {d[4:6]} {d[6:]};;;oui;" for d in mobiles], name)


async def new_list(db: Database, name: str = "Prospects") -> int:
    async with db.session() as s:
        cl = CallList(name=name)
        s.add(cl)
        await s.commit()
        return cl.id


async def count(db: Database, model: Any, *where: Any) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_given_a_large_import_running_when_users_log_in_and_write_notes_then_both_succeed_meanwhile(
    api: Api, tmp_path: Path
) -> None:
    """One transaction for the whole file held SQLite's only write lock until the end: a login or a note
    waited for the import, then failed with "database is locked". Now each batch commits; the writes are
    done while the import still has most of the file to read."""
    rows = 60_000
    path = big_list(tmp_path, rows)
    manager = await api.bearer("manager")
    contact = (await manager.post("/api/v1/contacts", json={"last_name": "Lefèvre"})).json()["id"]
    list_id = (await manager.post("/api/v1/lists", json={"name": "Grande liste"})).json()["id"]
    r = await manager.post(f"/api/v1/lists/{list_id}/imports", files={"file": (path.name, path.read_bytes())})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]

    async def started() -> bool:
        view = (await manager.get(f"/api/v1/imports/{job_id}")).json()
        return view["accepted"] > 0 or view["status"] != "running"

    await wait_for(started, timeout=60, what="the import's first batch")
    agent = await api.login("agent")  # a login writes (session row, audit)
    r = await agent.post(f"/api/v1/contacts/{contact}/timeline", json={"body": "rappeler demain"})
    assert r.status_code == 201, r.text
    view = (await manager.get(f"/api/v1/imports/{job_id}")).json()
    assert view["status"] == "running" and view["rows"] < rows, view  # done while the import runs

    async def done() -> bool:
        return (await manager.get(f"/api/v1/imports/{job_id}")).json()["status"] != "running"

    await wait_for(done, timeout=120, what="the import to end")
    view = (await manager.get(f"/api/v1/imports/{job_id}")).json()
    assert (view["status"], view["accepted"]) == ("done", rows), view
    assert (await count(api.db, Lead, Lead.list_id == list_id)) == rows


@pytest.mark.parametrize(
    ("status", "dialable"),
    [(ImportStatus.running, 0), (ImportStatus.failed, 0), (ImportStatus.done, 3)],
)
async def test_given_leads_written_by_a_job_when_the_dialer_loads_leads_then_only_a_done_job_counts(
    db: Database, tmp_path: Path, status: ImportStatus, dialable: int
) -> None:
    list_id = await new_list(db)
    older = await new_list(db, "Ancienne")
    async with db.session() as s:
        s.add(Lead(list_id=older, fields={}))  # imported before jobs were recorded on leads
        job = await create_job(s, list_id=list_id, filename="l.csv", size=1, options={}, user_id=None)
        await s.commit()
        table = open_table(
            french_csv(
                tmp_path, ["M.;A;B;;0612345678;;;;", "M.;C;D;;0612345679;;;;", "M.;E;F;;0612345670;;;;"]
            )
        )
        await ListImporter(s, ImportOptions(list_id=list_id), job_id=job.id, commit_batches=True).run(table)
        table.close()
        await s.execute(update(ImportJob).where(ImportJob.id == job.id).values(status=status))
        await s.commit()
        assert len(await load_leads(s, [list_id])) == dialable
        assert len(await load_leads(s, [older])) == 1


async def test_given_a_file_broken_after_committed_batches_when_the_job_fails_then_no_lead_was_ever_dialable(
    db: Database, tmp_path: Path
) -> None:
    path = big_list(tmp_path, 30_000)
    path.write_bytes(path.read_bytes() + b"M.;\x81\x8d;broken\r\n")  # undefined in cp1252, after 6 batches
    list_id = await new_list(db)
    async with db.session() as s:
        job = await create_job(s, list_id=list_id, filename="l.csv", size=1, options={}, user_id=None)
        await s.commit()
    task = asyncio.create_task(run_job(db, job.id, path, ImportOptions(list_id=list_id), None))
    seen: list[tuple[int, int]] = []  # (leads written, leads a dialer would load) while the job runs

    async def sample() -> bool:
        async with db.session() as s:
            written = await s.scalar(select(func.count()).select_from(Lead).where(Lead.list_id == list_id))
            seen.append((int(written or 0), len(await load_leads(s, [list_id]))))
        return task.done()

    await wait_for(sample, timeout=120, what="the import to end")
    await task
    async with db.session() as s:
        failed = await s.get(ImportJob, job.id)
    assert failed.status is ImportStatus.failed and "line 30002" in failed.error
    assert all(dialable == 0 for _, dialable in seen), seen
    if db.engine.dialect.name == "sqlite":  # committed batch by batch, never dialable, then deleted
        assert max(written for written, _ in seen) >= 5000, seen
    assert (await count(db, Lead), await count(db, LeadNumber), await count(db, ImportReject)) == (0, 0, 0)


def _dead_pid() -> int:
    with open("/proc/sys/kernel/pid_max") as f:
        return int(f.read()) + 1


@pytest.mark.parametrize(
    ("pid", "started", "host", "gone"),
    [
        ("dead", "ours", None, True),  # killed
        ("ours", "later", None, True),  # its pid given to a later process: PID 1 of a restarted container
        ("ours", "ours", None, False),  # this very process, still importing
        ("ours", None, None, False),  # a job of an older version from this pid: cannot tell, left running
        ("dead", "ours", "another-node", False),  # another node's import
    ],
    ids=["killed", "pid-reused", "ours", "no-start-time", "other-host"],
)
async def test_given_running_jobs_when_the_server_starts_then_only_those_of_a_dead_process_end_failed(
    db: Database, tmp_path: Path, pid: str, started: str | None, host: str | None, gone: bool
) -> None:
    list_id = await new_list(db)
    spool = Path(tempfile.gettempdir()) / f"{SPOOL_PREFIX}test-{os.getpid()}-{list_id}.upload"
    spool.write_bytes(b"Nom;Tel\r\n")
    rows = ["M.;A;B;;0612345678;;;;", "M.;C;D;;=1;;;;"]
    async with db.session() as s:
        job = await create_job(
            s, list_id=list_id, filename="l.csv", size=1, options={}, user_id=None, spool=str(spool)
        )
        await s.commit()
        table = open_table(french_csv(tmp_path, rows))
        await ListImporter(s, ImportOptions(list_id=list_id), job_id=job.id, commit_batches=True).run(table)
        table.close()
        await s.commit()
        job = await s.get(ImportJob, job.id)
        mine = job.options["runner"]
        runner = {
            "host": host or mine["host"],
            "pid": _dead_pid() if pid == "dead" else os.getpid(),
            "spool": str(spool),
        }
        if started is not None:
            runner["started"] = mine["started"] if started == "ours" else "0/0"
        await s.execute(
            update(ImportJob).where(ImportJob.id == job.id).values(options=job.options | {"runner": runner})
        )
        await s.commit()
    try:
        assert await recover_interrupted(db) == ([job.id] if gone else [])
        async with db.session() as s:
            after = await s.get(ImportJob, job.id)
            assert await load_leads(s, [list_id]) == []
        if gone:
            assert (after.status, after.error) == (ImportStatus.failed, INTERRUPTED)
            assert not spool.exists() and await count(db, ImportReject) == 0
            if db.engine.dialect.name == "sqlite":  # PostgreSQL: a job's leads commit with its end
                assert await count(db, Lead) == 0
        else:
            assert after.status is ImportStatus.running and spool.exists()
    finally:
        spool.unlink(missing_ok=True)


async def test_given_a_sqlite_database_when_connected_then_writers_wait_for_the_lock_in_wal_mode(
    db: Database,
) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's own settings")
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one() >= 5000
