"""The retention job: deletes the recordings past their retention (unless a complaint that is not closed
pins them: legal hold) and anonymises the call rows past the call-metadata retention (the caller's number
and name and the matched contact go; times, queue, agent and outcome stay, so reports keep their totals).
Run by `plateau recordings purge` and every `PLATEAU_RECORDING_PURGE_INTERVAL_S` by the service; each run
that changes something writes one audit entry saying what it deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exists, or_, select, update

from core.audit import audit
from core.db import Database
from core.models import Call, Complaint, ComplaintRecording, ComplaintStatus, Recording
from core.recording_store import RecordingStore
from core.settings import Settings
from cti import recordings

log = logging.getLogger(__name__)
LEASE = "job:recording-purge"  # the service's purge runs on the node holding it (core/leases.py)


@dataclass
class PurgeReport:
    deleted: list[dict[str, Any]] = field(default_factory=list)  # id, linkedid, ended_at, expires_at
    held: list[int] = field(default_factory=list)  # expired, kept: pinned to a complaint not closed
    calls_anonymised: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"deleted": self.deleted, "held": self.held, "calls_anonymised": self.calls_anonymised}


async def purge(db: Database, store: RecordingStore, settings: Settings, now: datetime) -> PurgeReport:
    report = PurgeReport()
    held = exists().where(
        ComplaintRecording.recording_id == Recording.id,
        ComplaintRecording.complaint_id == Complaint.id,
        Complaint.status != ComplaintStatus.closed,
    )
    async with db.session() as s:
        rows = (
            await s.execute(
                select(Recording, held.label("held")).where(
                    Recording.purged_at.is_(None), Recording.expires_at <= now
                )
            )
        ).all()
        by_id = {rec.id: rec for rec, _ in rows}
        delete, report.held = recordings.purge_plan(
            (recordings.PurgeCandidate(rec.id, rec.expires_at, bool(h)) for rec, h in rows), now
        )
        for rec_id in delete:
            rec = by_id[rec_id]
            await store.delete(rec.storage_key)  # gone already (deleted by hand): the row says purged too
            rec.purged_at = now
            report.deleted.append(
                {
                    "id": rec.id,
                    "linkedid": rec.linkedid,
                    "ended_at": rec.ended_at.isoformat(),
                    "expires_at": rec.expires_at.isoformat() if rec.expires_at else None,
                }
            )
        if settings.call_metadata_retention_days > 0:
            before = now - timedelta(days=settings.call_metadata_retention_days)
            done = await s.execute(
                update(Call)
                .where(
                    Call.offered_at < before,
                    or_(
                        Call.caller_number.is_not(None),
                        Call.caller_name.is_not(None),
                        Call.contact_id.is_not(None),
                    ),
                )
                .values(caller_number=None, caller_name=None, contact_id=None)
            )
            report.calls_anonymised = done.rowcount or 0
        if report.deleted or report.calls_anonymised:
            audit(
                s,
                "recordings_purged",
                user_id=None,
                target_type="recording",
                detail={
                    "deleted": [d["id"] for d in report.deleted],
                    "held": report.held,
                    "calls_anonymised": report.calls_anonymised,
                },
            )
        await s.commit()
    if report.deleted or report.held or report.calls_anonymised:
        log.info(
            "retention: %d recording(s) deleted, %d kept on legal hold, %d call row(s) anonymised",
            len(report.deleted),
            len(report.held),
            report.calls_anonymised,
        )
    return report


async def run_periodically(db: Database, store: RecordingStore, settings: Settings) -> None:
    """The service's purge: once at start, then every interval; a failed run is logged and tried next time."""
    while True:
        try:
            await purge(db, store, settings, datetime.now(UTC))
        except Exception:
            log.exception("retention: purge failed; trying again at the next interval")
        await asyncio.sleep(settings.recording_purge_interval_s)


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
