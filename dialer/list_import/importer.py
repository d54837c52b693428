"""The importer: reads a table in batches, parses lines (here or in worker processes), scrubs and writes each
batch.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import tombstones
from core.audit import audit
from core.dialer_tables import CallList, CampaignList, DncKind, DncList, ImportJob, RejectKind
from core.models import utcnow
from core.settings import get_settings
from core.tabular import Table, row_batches
from core.tombstones import Tombstones
from core.write_chain import WriteChain
from dialer.bulk_numbers import Normaliser
from dialer.compliance_zones import zone_info
from dialer.list_import.lead_writes import LeadWrites
from dialer.list_import.options import LIVE, Counters, ImportOptions, job_values
from dialer.list_import.rows import ColumnPlan, _Row, no_consent_reason, parse_chunk, parse_row
from dialer.list_import.scrub import Scrubbing

BATCH = 5000
AHEAD = 2  # batches parsed ahead of the one being written
PROGRESS_EVERY_S = 0.5
YIELD_EVERY = 250  # lines parsed between two turns of the event loop (a few milliseconds)


class ListImporter(Scrubbing, LeadWrites):
    def __init__(
        self,
        session: AsyncSession,
        options: ImportOptions,
        *,
        job_id: int | None = None,
        user_id: int | None = None,
        progress: Callable[[Counters], Awaitable[None]] | None = None,
        keep_live: bool = False,
        commit_batches: bool = False,
    ) -> None:
        self.db, self.opt, self.job_id, self.user_id = session, options, job_id, user_id
        self._job_options: dict[str, Any] = {}
        self._leads_from: int | None = None  # the first lead id this job wrote (SQLite, batch commits)
        self.workers = options.workers
        self.keep_live = keep_live  # run_job drops the live counters itself, once the job row is final
        self.progress = progress
        self.counters = Counters()
        self.normalise = Normaliser(options.region)
        self._pg = session.bind.dialect.name == "postgresql"
        # Each batch commits with the job row's counters (run_job on SQLite: PostgreSQL's writers do not
        # wait for each other, and its batches share one connection and planner setting)
        self.commit_batches = commit_batches and job_id is not None and not self._pg
        self._raw: Any = None
        self._lead_ids = 0  # PostgreSQL: the oid of the sequence behind leads.id, resolved once (_prepare)
        self._scope_lists: list[int] | None = None
        self._dnc_lists: list[int] = []
        self._tombstones = Tombstones(b"", frozenset())
        self._consent_required = False
        self._no_consent = ""
        self._last_progress = 0.0

    async def run(self, table: Table) -> Counters:
        c = self.counters
        c.encoding, c.delimiter = table.encoding, table.delimiter
        plan = ColumnPlan.build(table.header, self.opt.mapping, self.opt.keep_unmapped)
        await self._prepare()
        self._no_consent = no_consent_reason(self.opt.rule_set, plan)
        self._writes = WriteChain(AHEAD)
        try:
            if self.workers:
                await self._run_with_workers(table, plan)
            else:
                await self._run_here(table, plan)
        except BaseException:
            await self._writes.settle()
            raise
        finally:
            if self.job_id is not None and not self.keep_live:
                LIVE.pop(self.job_id, None)
        await self.db.execute(
            update(CallList)
            .where(CallList.id == self.opt.list_id)
            .values(lead_count=CallList.lead_count + c.accepted, updated_at=utcnow())
        )
        audit(
            self.db,
            "call_list_imported",
            user_id=self.user_id,
            target_type="call_list",
            target_id=self.opt.list_id,
            detail={"job": self.job_id, **{k: v for k, v in asdict(c).items() if isinstance(v, int)}},
        )
        return c

    async def _run_here(self, table: Table, plan: ColumnPlan) -> None:
        c = self.counters
        batch: list[_Row] = []
        rejects: list[tuple[int, RejectKind, str]] = []
        async for lines in row_batches(table):  # read in a worker thread, blank lines left out
            for line, cells in lines:
                c.rows += 1
                row = self._row(line, plan, cells, rejects)
                if row is not None:
                    batch.append(row)
                if not c.rows % YIELD_EVERY:
                    # Parsing never awaits: without this the previous batch's queries would only advance
                    # when the next batch is queued, and the database would wait for the parser instead
                    # of working beside it.
                    await asyncio.sleep(0)
                if len(batch) >= BATCH:
                    await self._queue_flush(batch, rejects, table)
                    batch, rejects = [], []
        await self._queue_flush(batch, rejects, table, final=True)

    async def _run_with_workers(self, table: Table, plan: ColumnPlan) -> None:
        """Lines are parsed (numbers validated) in worker processes, a few chunks ahead, kept in order."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        loop = asyncio.get_running_loop()
        inflight: collections.deque[asyncio.Future[Any]] = collections.deque()
        c = self.counters

        async def take_one(final: bool = False) -> None:
            rows, rejects, fast, slow = await inflight.popleft()
            c.invalid += len(rejects)
            self.normalise.fast, self.normalise.slow = fast, slow
            await self._queue_flush(rows, rejects, table, final=final)

        with ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            chunk: list[tuple[int, list[str]]] = []
            async for lines in row_batches(table):  # read in a worker thread, blank lines left out
                c.rows += len(lines)
                chunk.extend(lines)
                if len(chunk) >= BATCH:
                    inflight.append(
                        loop.run_in_executor(pool, parse_chunk, self.opt.region, plan.columns, chunk)
                    )
                    chunk = []
                    if len(inflight) > 2 * self.workers:
                        await take_one()
            inflight.append(loop.run_in_executor(pool, parse_chunk, self.opt.region, plan.columns, chunk))
            while len(inflight) > 1:
                await take_one()
            await take_one(final=True)

    async def _queue_flush(
        self, batch: list[_Row], rejects: list[tuple[int, RejectKind, str]], table: Table, final: bool = False
    ) -> None:
        await self._writes.put(self._flush(batch, rejects, table, final=final))
        if final:
            await self._writes.drain()

    # --- per line ----------------------------------------------------------------------------------

    def _row(
        self, line: int, plan: ColumnPlan, cells: list[str], rejects: list[tuple[int, RejectKind, str]]
    ) -> _Row | None:
        row = parse_row(self.normalise, plan.columns, line, cells, rejects)
        if row is None:
            self.counters.invalid += 1
        return row

    # --- per batch ---------------------------------------------------------------------------------

    async def _prepare(self) -> None:
        opt = self.opt
        if opt.dedupe_scope == "list":
            self._scope_lists = [opt.list_id]
        elif opt.dedupe_scope == "campaign":
            ids = []
            if opt.campaign_id is not None:
                ids = list(
                    await self.db.scalars(
                        select(CampaignList.list_id).where(CampaignList.campaign_id == opt.campaign_id)
                    )
                )
            self._scope_lists = sorted({opt.list_id, *ids})
        else:
            self._scope_lists = None  # every list
        kinds = select(DncList.id).where(
            (DncList.kind.in_([DncKind.internal, DncKind.national]))
            | ((DncList.kind == DncKind.campaign) & (DncList.campaign_id == opt.campaign_id))
        )
        self._dnc_lists = list(await self.db.scalars(kinds))
        self._tombstones = await tombstones.load(self.db, opt.tombstone_key or get_settings().tombstone_key())
        if self.commit_batches:
            self._job_options = dict(
                await self.db.scalar(select(ImportJob.options).where(ImportJob.id == self.job_id)) or {}
            )
        rs = opt.rule_set
        now = opt.now or datetime.now(UTC)
        if rs is not None and rs.consent_required_from is not None:
            local_today = now.astimezone(zone_info(rs.reference_zone)).date()
            self._consent_required = local_today >= rs.consent_required_from
        if self._pg:
            self._raw = (await (await self.db.connection()).get_raw_connection()).driver_connection
            # The tables grow inside this transaction, faster than statistics follow: a planner that
            # still believes `lead_numbers` is empty scans it for every batch (quadratic). The indexes
            # always fit these lookups, so sequential scans are off until the import commits.
            await self._raw.execute("SET LOCAL enable_seqscan = off")
            # Resolved once, by oid: `nextval(pg_get_serial_sequence(...))` (or a name cast per row) looked
            # the sequence up again for every id, a tenth of PostgreSQL's CPU for the whole import.
            self._lead_ids = await self._raw.fetchval(
                "SELECT pg_get_serial_sequence('leads', 'id')::regclass::oid"
            )

    async def _flush(
        self,
        batch: list[_Row],
        rejects: list[tuple[int, RejectKind, str]],
        table: Table,
        final: bool = False,
    ) -> None:
        c = self.counters
        keep = await self._scrub(batch, rejects)
        c.accepted += len(keep)
        c.bytes_read = table.bytes_read
        c.fast_numbers, c.slow_numbers = self.normalise.fast, self.normalise.slow
        if self.commit_batches:
            # Its first write takes SQLite's write lock, so the lead ids chosen next are this batch's own.
            await self.db.execute(
                update(ImportJob).where(ImportJob.id == self.job_id).values(**job_values(c))
            )
        await self._write(keep)
        await self._write_rejects(rejects)
        if self.commit_batches:
            await self.db.commit()  # other writers get SQLite's lock between two batches
        now = time.monotonic()
        if self.job_id is not None:
            LIVE[self.job_id] = asdict(c)
        if self.progress is not None and (final or now - self._last_progress >= PROGRESS_EVERY_S):
            self._last_progress = now
            await self.progress(c)
