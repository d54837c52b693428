"""Writing a batch: leads and their numbers in bulk (COPY-like on PostgreSQL), then the rejects."""

from __future__ import annotations

from datetime import UTC

from sqlalchemy import insert, update

from core.dialer_tables import ImportJob, ImportReject, RejectKind
from core.models import utcnow
from dialer.list_import.rows import _ZONE, _Row, row_numbers


class LeadWrites:
    """Per batch: the kept leads, their numbers and the rejects written in bulk."""

    async def _write(self, rows: list[_Row]) -> None:
        if not rows:
            return
        now = utcnow()
        list_id, job_id = self.opt.list_id, self.job_id
        if self._pg:
            ids = await self._raw.fetchval(
                "SELECT array_agg(nextval($1::oid::regclass)) FROM generate_series(1, $2)",
                self._lead_ids,
                len(rows),
            )
            await self._raw.copy_records_to_table(
                "leads",
                columns=[
                    "id",
                    "list_id",
                    "external_id",
                    "fields",
                    "status",
                    "attempts",
                    "priority",
                    "consent",
                    "source_line",
                    "import_job_id",
                    "created_at",
                ],
                records=[
                    (
                        i,
                        list_id,
                        external_id,
                        fields,
                        "new",
                        0,
                        priority,
                        consent,
                        line,
                        job_id,
                        now,
                    )
                    for i, (line, external_id, fields, _, consent, priority, *_) in zip(
                        ids, rows, strict=True
                    )
                ],
            )
            await self._raw.copy_records_to_table(
                "lead_numbers",
                columns=["lead_id", "list_id", "position", "label", "e164", "tz", "country", "raw"],
                records=[
                    (i, list_id, pos, label, e164, r[_ZONE] or ",".join(zones), country, raw[:64])
                    for i, r in zip(ids, rows, strict=True)
                    for pos, (label, raw, e164, zones, country) in enumerate(row_numbers(r))
                ],
            )
            return
        # SQLite: plain executemany on the driver (the ORM's per-row type processing costs more than the
        # insert). Ids are taken after the current maximum: this transaction is SQLite's only writer
        # from its first write on (with batch commits, the job row's update before this), and a clash
        # would fail the import, not corrupt it.
        conn = await self.db.connection()
        top = (await conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM leads")).scalar_one()
        ids = range(top + 1, top + 1 + len(rows))
        if self.commit_batches and self._leads_from is None:
            # Committed with the job's first leads: where a clean-up looks for them (by id, a range scan)
            self._leads_from = top + 1
            self._job_options["leads_from"] = top + 1
            await self.db.execute(
                update(ImportJob).where(ImportJob.id == job_id).values(options=self._job_options)
            )
        stamp = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite DATETIME text
        await conn.exec_driver_sql(
            "INSERT INTO leads (id, list_id, external_id, fields, status, attempts, priority, consent,"
            " source_line, import_job_id, created_at) VALUES (?, ?, ?, ?, 'new', 0, ?, ?, ?, ?, ?)",
            [
                (i, list_id, external_id, fields, priority, int(consent), line, job_id, stamp)
                for i, (line, external_id, fields, _, consent, priority, *_) in zip(ids, rows, strict=True)
            ],
        )
        await conn.exec_driver_sql(
            "INSERT INTO lead_numbers (lead_id, list_id, position, label, e164, tz, country, raw)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (i, list_id, pos, label, e164, r[_ZONE] or ",".join(zones), country, raw[:64])
                for i, r in zip(ids, rows, strict=True)
                for pos, (label, raw, e164, zones, country) in enumerate(row_numbers(r))
            ],
        )

    async def _write_rejects(self, rejects: list[tuple[int, RejectKind, str]]) -> None:
        if not rejects or self.job_id is None:
            return
        if self._pg:
            await self._raw.copy_records_to_table(
                "import_rejects",
                columns=["job_id", "line", "kind", "reason"],
                records=[(self.job_id, line, kind.value, reason[:300]) for line, kind, reason in rejects],
            )
            return
        await self.db.execute(
            insert(ImportReject),
            [{"job_id": self.job_id, "line": ln, "kind": k, "reason": why[:300]} for ln, k, why in rejects],
        )
