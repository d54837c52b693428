"""The retention job: deletes the recordings past their retention (unless a complaint that is not closed
pins them: legal hold; an erased person's recordings that a hold kept are expired, so they go at the first
run after it ends) and anonymises the call rows past the call-metadata retention (the caller's number
and name and the matched contact go; times, queue, agent and outcome stay, so reports keep their totals)
and deletes the script drafts (answers typed, outcome never saved) untouched for
`script_draft_retention_hours`, and the bus's spilled events older than `SPILL_KEEP_S` (the nodes sweep
them while the bus runs; this catches those left when it was turned off).
Run by `plateau recordings purge` and every `PLATEAU_RECORDING_PURGE_INTERVAL_S` by the service; each run
that changes something writes one audit entry saying what it deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import audit
from core.bus_relay import SPILL_KEEP_S
from core.bus_tables import BusSpill
from core.db import Database
from core.models import Call, Complaint, ComplaintRecording, ComplaintStatus, Recording, ScriptDraft
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
    drafts_deleted: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "deleted": self.deleted,
            "held": self.held,
            "calls_anonymised": self.calls_anonymised,
            "drafts_deleted": self.drafts_deleted,
        }


async def legal_holds(
    s: AsyncSession, recording_ids: Iterable[int] | Select[Any]
) -> dict[int, tuple[int, ...]]:
    """The complaints not closed that pin each of these recordings (those on legal hold only): what the purge
    and a person's erasure both ask before deleting a file."""
    rows = await s.execute(
        select(ComplaintRecording.recording_id, Complaint.id)
        .join(Complaint, Complaint.id == ComplaintRecording.complaint_id)
        .where(
            ComplaintRecording.recording_id.in_(recording_ids),
            Complaint.status != ComplaintStatus.closed,
        )
        .order_by(Complaint.id)
    )
    holds: dict[int, tuple[int, ...]] = {}
    for rec_id, complaint_id in rows:
        holds[rec_id] = (*holds.get(rec_id, ()), complaint_id)
    return holds


def candidates(
    recs: Iterable[Recording], holds: dict[int, tuple[int, ...]]
) -> list[recordings.PurgeCandidate]:
    """The recordings as the pure plans (`purge_plan`, `erasure_plan`) see them."""
    return [recordings.PurgeCandidate(r.id, r.expires_at, holds.get(r.id, ())) for r in recs]


async def purge(db: Database, store: RecordingStore, settings: Settings, now: datetime) -> PurgeReport:
    report = PurgeReport()
    expired = (Recording.purged_at.is_(None), Recording.expires_at <= now)
    async with db.session() as s:
        rows = list(await s.scalars(select(Recording).where(*expired)))
        holds = await legal_holds(s, select(Recording.id).where(*expired))
        by_id = {rec.id: rec for rec in rows}
        doomed, report.held = recordings.purge_plan(candidates(rows, holds), now)
        for rec_id in doomed:
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
        drafts_before = now - timedelta(hours=settings.script_draft_retention_hours)
        done = await s.execute(delete(ScriptDraft).where(ScriptDraft.updated_at < drafts_before))
        report.drafts_deleted = done.rowcount or 0
        # transient copies of bus events (they may quote a caller): not audited, like the bus itself
        await s.execute(delete(BusSpill).where(BusSpill.created_at < now - timedelta(seconds=SPILL_KEEP_S)))
        if report.deleted or report.calls_anonymised or report.drafts_deleted:
            audit(
                s,
                "recordings_purged",
                user_id=None,
                target_type="recording",
                detail={
                    "deleted": [d["id"] for d in report.deleted],
                    "held": report.held,
                    "calls_anonymised": report.calls_anonymised,
                    "drafts_deleted": report.drafts_deleted,
                },
            )
        await s.commit()
    if report.deleted or report.held or report.calls_anonymised or report.drafts_deleted:
        log.info(
            "retention: %d recording(s) deleted, %d kept on legal hold, %d call row(s) anonymised, "
            "%d script draft(s) deleted",
            len(report.deleted),
            len(report.held),
            report.calls_anonymised,
            report.drafts_deleted,
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
