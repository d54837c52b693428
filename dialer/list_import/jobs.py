"""Running an import as a job: its row, its end (done or failed, leads deleted), start-up recovery, the
poller's view.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from core.dialer_tables import ImportJob, ImportReject, ImportStatus, Lead
from core.import_runner import runner_gone, this_runner
from core.models import utcnow
from core.tabular import MalformedFile, Table
from dialer.list_import.files import open_table
from dialer.list_import.importer import BATCH, ListImporter
from dialer.list_import.options import LIVE, SPOOL_PREFIX, Counters, ImportOptions, MappingError, job_values

log = logging.getLogger(__name__)


# --- running an import as a job ------------------------------------------------------------------


async def create_job(
    session: AsyncSession,
    *,
    list_id: int,
    filename: str,
    size: int,
    options: dict[str, Any],
    user_id: int | None,
    spool: str | None = None,
) -> ImportJob:
    """The job row of an import about to run in this process; `spool` is the upload's temporary copy,
    deleted by the start-up clean-up if this process dies before it does."""
    runner = this_runner()
    if spool is not None:
        runner["spool"] = spool
    job = ImportJob(
        list_id=list_id,
        filename=filename[:255],
        status=ImportStatus.running,
        options=options | {"runner": runner},
        bytes_total=size,
        created_by=user_id,
    )
    session.add(job)
    await session.flush()
    return job


async def run_job(
    db: Database, job_id: int, path: Path | str, options: ImportOptions, user_id: int | None
) -> None:
    """Import `path` for job `job_id`; the job row ends done or failed, and only a done job's leads are
    dialable. PostgreSQL: the data and the job's end are one transaction. SQLite: each batch commits, so
    that other writers get the lock between two; a failed job's leads are deleted before it reads failed."""
    pg = db.engine.dialect.name == "postgresql"

    async def progress(c: Counters) -> None:
        if pg:  # another connection: the import's own transaction is not visible until it commits
            async with db.session() as s:
                await s.execute(update(ImportJob).where(ImportJob.id == job_id).values(**job_values(c)))
                await s.commit()

    error: str | None = None
    table: Table | None = None
    try:
        async with db.session() as session:
            try:
                table = await asyncio.to_thread(
                    open_table,
                    path,
                    encoding=options.encoding,
                    delimiter=options.delimiter,
                    limits=options.limits,
                )
                importer = ListImporter(
                    session,
                    options,
                    job_id=job_id,
                    user_id=user_id,
                    progress=progress,
                    keep_live=True,
                    commit_batches=not pg,
                )
                counters = await importer.run(table)
                done = job_values(counters) | {"status": ImportStatus.done, "finished_at": utcnow()}
                await session.execute(update(ImportJob).where(ImportJob.id == job_id).values(**done))
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
    except (MalformedFile, MappingError) as exc:
        error = f"{exc}; nothing was imported"
    except Exception as exc:  # reported on the job; the file is left untouched
        error = f"the import failed ({type(exc).__name__}: {str(exc)[:300]}); nothing was imported"
    finally:
        if table is not None:
            table.close()
    try:
        if error is not None:
            await _fail(db, job_id, error)
    finally:
        LIVE.pop(job_id, None)


INTERRUPTED = "interrupted: the server stopped during the import; nothing was imported, upload the file again"


async def _fail(db: Database, job_id: int, error: str) -> None:
    """End a job failed, its leads and rejects deleted first (so that a clean-up cut short is done again
    by the next start-up, which still sees the job running)."""
    async with db.session() as s:
        opts = await s.scalar(select(ImportJob.options).where(ImportJob.id == job_id)) or {}
    start = opts.get("leads_from")
    while isinstance(start, int):  # only batch-committed imports (SQLite) have leads left to delete
        async with db.session() as s:
            ids = list(
                await s.scalars(
                    select(Lead.id)
                    .where(Lead.id >= start, Lead.import_job_id == job_id)
                    .order_by(Lead.id)
                    .limit(BATCH)
                )
            )
            if not ids:
                break
            # their numbers go with them (ON DELETE CASCADE); one short transaction per batch
            await s.execute(
                delete(Lead).where(Lead.id.between(ids[0], ids[-1]), Lead.import_job_id == job_id)
            )
            await s.commit()
        start = ids[-1] + 1
    async with db.session() as s:
        await s.execute(delete(ImportReject).where(ImportReject.job_id == job_id))
        values: dict[str, Any] = {
            "status": ImportStatus.failed,
            "error": error[:2000],
            "finished_at": utcnow(),
            "accepted": 0,
            "duplicates": 0,
            "dnc": 0,
            "no_consent": 0,
            "invalid": 0,
        }
        await s.execute(update(ImportJob).where(ImportJob.id == job_id).values(**values))
        await s.commit()


async def recover_interrupted(db: Database) -> list[int]:
    """At start-up: the imports whose process died mid-way (kill -9, a crash, a container's restart) end
    failed with the reason; their leads and their spooled upload are deleted. Imports of a living process
    (a `plateau import list` running beside the server, another node's) are left alone."""
    async with db.session() as s:
        running = list(
            await s.execute(
                select(ImportJob.id, ImportJob.options).where(ImportJob.status == ImportStatus.running)
            )
        )
    recovered = []
    for job_id, opts in running:
        if not _runner_gone(opts or {}):
            continue
        spool = ((opts or {}).get("runner") or {}).get("spool")
        if isinstance(spool, str) and Path(spool).name.startswith(SPOOL_PREFIX):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(spool)
        await _fail(db, job_id, INTERRUPTED)
        log.warning(
            "import job %s was interrupted (its process died): marked failed, its leads deleted", job_id
        )
        recovered.append(job_id)
    return recovered


def job_view(job: ImportJob) -> dict[str, Any]:
    """The job as a poller sees it: the row, overlaid with live counters while it runs here."""
    out = {
        "id": job.id,
        "list_id": job.list_id,
        "filename": job.filename,
        "status": job.status.value,
        "bytes_total": job.bytes_total,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "error": job.error,
        **{
            k: getattr(job, k)
            for k in (
                "rows",
                "accepted",
                "duplicates",
                "dnc",
                "no_consent",
                "invalid",
                "erased",
                "bytes_read",
            )
        },
    }
    live = LIVE.get(job.id) if job.status is ImportStatus.running else None
    if job.status is ImportStatus.running and live is None and _runner_gone(job.options or {}):
        out |= {"status": ImportStatus.failed.value, "error": INTERRUPTED}
    if live:
        out |= {
            k: live[k]
            for k in (
                "rows",
                "accepted",
                "duplicates",
                "dnc",
                "no_consent",
                "invalid",
                "erased",
                "bytes_read",
            )
        }
    total = out["bytes_total"] or 0
    out["percent"] = (
        100.0
        if job.status is not ImportStatus.running
        else (round(min(99.0, 100 * out["bytes_read"] / total), 1) if total else 0.0)
    )
    return out


def _runner_gone(options: dict[str, Any]) -> bool:
    """The process that ran this job was on this machine and is no more (a restart): it will never end."""
    return runner_gone(options.get("runner") or {})


async def import_file(
    session: AsyncSession, path: Path | str, options: ImportOptions, *, user_id: int | None = None
) -> Counters:
    """Import without a job row (the CLI's quick path): committed when it succeeds, rolled back otherwise."""
    table = open_table(path, encoding=options.encoding, delimiter=options.delimiter, limits=options.limits)
    try:
        counters = await ListImporter(session, options, user_id=user_id).run(table)
    except BaseException:
        await session.rollback()
        raise
    finally:
        table.close()
    await session.commit()
    return counters
