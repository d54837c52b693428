"""Call-list import: a CSV or XLSX file streamed into leads, scrubbed, deduplicated, with a report.

All or nothing: a file that turns out malformed half-way (binary, undecodable, cut off) imports nothing.
As an import job (`run_job`), that is the job's state: on SQLite each batch commits (one transaction for
the whole file held SQLite's only write lock for minutes, and every other write failed with "database is
locked"); the leads carry their job, are dialable only once it is done (`dialer.store.imported`), and are
deleted when it fails or is found interrupted at start-up (`recover_interrupted`). On PostgreSQL, whose
writers do not block each other, the data and the job's end are one transaction. A bad *line* is skipped
and recorded with its line number, kind (invalid, duplicate, dnc, no_consent) and reason in
`import_rejects`.

Memory stays bounded whatever the file size: rows are handled in batches; duplicates across batches
and DNC hits are found by indexed queries on what is already written (same transaction), not by
keeping the file in memory. Progress goes to the `ImportJob` row through a separate connection
(PostgreSQL; a poller sees it while the import runs) and to `LIVE` in this process (SQLite, whose single
writer is busy with the import).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import csv
import io
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import tombstones
from core.audit import audit
from core.db import Database
from core.dialer_tables import (
    CallList,
    CampaignList,
    DncEntry,
    DncKind,
    DncList,
    ImportJob,
    ImportReject,
    ImportStatus,
    Lead,
    LeadNumber,
    RejectKind,
)
from core.import_runner import runner_gone, this_runner
from core.models import utcnow
from core.settings import get_settings
from core.tabular import CsvTable, Limits, MalformedFile, Table, XlsxTable, is_xlsx, neutralise, row_batches
from core.tabular import normalise_header as _norm
from core.tombstones import ERASED_REASON, Tombstones
from core.write_chain import WriteChain
from cti.numbers import InvalidNumber
from dialer.bulk_numbers import Normaliser
from dialer.compliance import RuleSet
from dialer.compliance_zones import UnknownZone, zone_info

log = logging.getLogger(__name__)

BATCH = 5000
SPOOL_PREFIX = "plateau-list-"  # an upload's temporary copy (app/routes/lists.py)
AHEAD = 2  # batches parsed ahead of the one being written
MAX_CELL = 500
MAX_COLUMNS = Limits.max_columns
PROGRESS_EVERY_S = 0.5
YIELD_EVERY = 250  # lines parsed between two turns of the event loop (a few milliseconds)

# Lead fields a column can map to; anything else is a custom field or ignored.
STANDARD_FIELDS = (
    "external_id",
    "civility",
    "first_name",
    "last_name",
    "company",
    "job_title",
    "email",
    "city",
    "postcode",
    "consent",
    "priority",
    "timezone",
)
_SYNONYMS: dict[str, list[str]] = {
    "external_id": ["id", "identifiant", "external id", "ref", "reference", "code client", "numero client"],
    "civility": ["civilite", "civility", "title", "titre"],
    "first_name": ["prenom", "first name", "firstname", "given name"],
    "last_name": ["nom", "nom de famille", "last name", "lastname", "surname"],
    "company": ["societe", "entreprise", "raison sociale", "company", "organisation", "organization"],
    "job_title": ["fonction", "poste", "job title"],
    "email": ["email", "e mail", "courriel", "mail"],
    "city": ["ville", "city", "commune"],
    "postcode": ["code postal", "cp", "postcode", "zip", "zip code", "postal code"],
    "consent": ["consentement", "consent", "opt in", "optin"],
    "priority": ["priorite", "priority"],
    "timezone": ["fuseau", "fuseau horaire", "timezone", "time zone", "tz"],
    "number:mobile": ["portable", "mobile", "tel portable", "telephone portable", "gsm", "cellulaire"],
    "number:landline": ["fixe", "tel fixe", "telephone fixe", "landline", "domicile"],
    "number:work": ["tel pro", "telephone professionnel", "tel bureau", "work phone", "ligne directe"],
    "number:switchboard": ["standard", "switchboard"],
    "number": ["telephone", "tel", "phone", "numero", "numero de telephone", "phone number", "number"],
}
AUTO_MAPPING = {name: target for target, names in _SYNONYMS.items() for name in names}
_YES = {"1", "oui", "o", "yes", "y", "true", "vrai", "x"}
_NO = {"", "0", "non", "n", "no", "false", "faux"}

DedupeScope = Literal["list", "campaign", "all"]
DedupeBy = Literal["number", "external_id"]


def _encode_fields(fields: dict[str, str]) -> str:
    """A lead's extra fields as compact JSON, non-ASCII kept (orjson: a fifth of the stdlib's time per lead,
    which counted at a million leads; cells are strictly decoded text, so there is nothing it refuses)."""
    return orjson.dumps(fields).decode()


# Live counters per running job (this process): what a poller reads while SQLite is busy.
LIVE: dict[int, dict[str, Any]] = {}


class MappingError(ValueError):
    """The column mapping does not fit the file (or names an unknown field)."""


def valid_target(target: str) -> bool:
    if target in STANDARD_FIELDS or target == "ignore" or target == "number":
        return True
    kind, _, name = target.partition(":")
    return kind in ("number", "custom") and 0 < len(name) <= 40 and name.replace("_", "").isalnum()


@dataclass
class ImportOptions:
    list_id: int
    mapping: dict[str, str] | None = None  # normalised header → target; None: recognised headers
    encoding: str | None = None
    delimiter: str | None = None
    dedupe_scope: DedupeScope = "list"
    dedupe_by: DedupeBy = "number"
    campaign_id: int | None = None  # campaign DNC lists, campaign dedupe scope
    rule_set: RuleSet | None = None  # consent is required when it says so at `now`
    region: str = "FR"
    keep_unmapped: bool = True  # unmapped columns become custom fields
    now: datetime | None = None
    workers: int = 0  # processes that parse lines (validate numbers) beside this one; 0: parse here
    limits: Limits = field(default_factory=Limits)  # what reading the file may cost (lines, rows, workbook)
    # the key of erased persons' tombstones (core/tombstones.py); None: the configured one
    tombstone_key: bytes | None = None


@dataclass
class Counters:
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    dnc: int = 0
    no_consent: int = 0
    invalid: int = 0
    erased: int = 0  # lines of a person whose data was erased (a tombstone)
    bytes_read: int = 0
    encoding: str = ""
    delimiter: str = ""
    fast_numbers: int = 0
    slow_numbers: int = 0


_FIELD, _NUMBER, _EXTERNAL_ID, _CONSENT, _PRIORITY, _TIMEZONE = (
    "field",
    "number",
    "id",
    "consent",
    "prio",
    "tz",
)


def _kind(target: str) -> tuple[str, str]:
    """(how a column is handled, the field name or number label) for a mapping target."""
    special = {"external_id": _EXTERNAL_ID, "consent": _CONSENT, "priority": _PRIORITY, "timezone": _TIMEZONE}
    if target in special:
        return special[target], target
    if target.startswith("number"):
        return _NUMBER, target.partition(":")[2]
    return _FIELD, target.removeprefix("custom:")


# An earlier lead a line duplicates: its line, its import job, and whether it is of this very import
_Earlier = tuple[int | None, int | None, bool]


# A parsed line is one flat tuple of text and numbers: its fields already encoded, then its numbers, five
# items each (label, raw, e164, zones, country). The collector stops tracking such a tuple the first time it
# looks at it (a tuple holding a dict, an object or a still-tracked tuple stays tracked, one nesting level
# undone per collection), so the batches queued in the write chain, which outlive many young collections,
# never reach the oldest generation: a full collection during a million-line import has nothing of theirs
# to walk. (A dataclass row, its list of numbers and their NumberInfo stayed tracked for life.)
_Number = tuple[str | None, str, str, tuple[str, ...], str | None]  # label, raw, e164, zones, country
_Row = tuple[Any, ...]  # line, external_id, fields (JSON), zone, consent, priority, *numbers
_LINE, _EXTERNAL_ID, _FIELDS, _ZONE, _CONSENT, _PRIORITY, _NUMBERS = range(7)
_E164S = slice(_NUMBERS + 2, None, 5)  # a row's numbers (E.164), in column order


def _row_numbers(row: _Row) -> Iterator[_Number]:
    for k in range(_NUMBERS, len(row), 5):
        yield row[k : k + 5]  # type: ignore[misc]


@dataclass
class _Plan:
    """Where each column goes: (index, target) for the mapped ones."""

    columns: list[tuple[int, str, str, str]] = field(default_factory=list)  # index, target, kind, name

    @classmethod
    def build(cls, header: list[str], mapping: dict[str, str] | None, keep_unmapped: bool) -> _Plan:
        if len(header) > MAX_COLUMNS:
            raise MalformedFile(f"{len(header)} columns: at most {MAX_COLUMNS}")
        given = {_norm(k): v for k, v in (mapping or {}).items()}
        bad = [f"{k!r} → {v!r}" for k, v in given.items() if not valid_target(v)]
        if bad:
            raise MappingError("unknown target field in the mapping: " + ", ".join(bad))
        names = [_norm(h) for h in header]
        missing = [k for k in given if k not in names]
        if missing:
            raise MappingError("the mapping names columns the file does not have: " + ", ".join(missing))
        plan, seen = cls(), set()
        for i, (raw, name) in enumerate(zip(header, names, strict=True)):
            target = given.get(name) if mapping is not None else AUTO_MAPPING.get(name)
            if target is None:
                if mapping is not None and name in given:
                    continue
                target = f"custom:{name.replace(' ', '_')[:40]}" if keep_unmapped and name else "ignore"
            if target == "ignore":
                continue
            if not target.startswith("number") and target in seen:
                raise MappingError(f"two columns map to {target!r} (the second is {raw!r})")
            seen.add(target)
            plan.columns.append((i, target, *_kind(target)))
        if not any(kind == _NUMBER for _, _, kind, _ in plan.columns):
            raise MappingError(
                "no phone column: map one (e.g. 'Téléphone' → number); columns are " + ", ".join(header[:20])
            )
        return plan


def _no_consent_reason(rule_set: RuleSet | None, plan: _Plan) -> str:
    """Why a lead without consent is refused: since when the rule set requires it, and what to map."""
    since = rule_set.consent_required_from if rule_set is not None else None
    why = f"no consent: rule set {rule_set.name} requires it since {since}" if rule_set and since else ""
    if any(kind == _CONSENT for _, _, kind, _ in plan.columns):
        return f"{why} (the consent column says no or is empty)"
    return (
        f"{why}, and no column is mapped to consent: map the file's consent column (e.g. 'Consentement')"
        " to the field consent, with oui/non, yes/no or 1/0"
    )


def _parse_row(
    normalise: Normaliser,
    columns: list[tuple[int, str, str, str]],
    line: int,
    cells: list[str],
    rejects: list[tuple[int, RejectKind, str]],
) -> _Row | None:
    """One line to a lead, or None after adding exactly one `invalid` reject that says why."""

    def reject(reason: str) -> None:
        rejects.append((line, RejectKind.invalid, reason))

    fields: dict[str, str] = {}
    numbers: list[_Number] = []
    external_id = zone = None
    consent, priority = False, 0
    width = len(cells)
    # Most lines are short and printable as a whole: then no cell of theirs can fail the two checks below,
    # which are skipped (one test per line instead of two per cell).
    whole = "".join(cells)
    checked = len(whole) > MAX_CELL or not whole.isprintable()
    for index, target, kind, name in columns:
        cell = cells[index].strip() if index < width else ""
        if not cell:
            continue
        if checked:
            if len(cell) > MAX_CELL:
                reject(f"{target}: longer than {MAX_CELL} characters")
                return None
            if not cell.isprintable() and any(ord(ch) < 32 and ch != "\t" for ch in cell):
                reject(f"{target}: contains control characters")
                return None
        if kind == _FIELD:
            # Kept as text, formula-looking cells included: they are never evaluated here and
            # are neutralised whenever they leave through an export.
            fields[name] = cell
        elif kind == _NUMBER:
            try:
                e164, zones, country = normalise.plain(cell)
            except InvalidNumber as exc:
                reject(f"number {cell[:40]!r}: {exc.reason}")
                return None
            numbers.append((name or None, cell, e164, zones, country))
        elif kind == _EXTERNAL_ID:
            if len(cell) > 80:
                reject("external_id: longer than 80 characters")
                return None
            external_id = cell
        elif kind == _CONSENT:
            low = cell.lower()
            if low not in _YES and low not in _NO:
                reject(f"consent {cell[:20]!r}: expected oui/non, yes/no, 1/0")
                return None
            consent = low in _YES
        elif kind == _PRIORITY:
            try:
                priority = int(cell)
            except ValueError:
                priority = 10_001
            if not -10_000 <= priority <= 10_000:
                reject(f"priority {cell[:20]!r}: a whole number between -10000 and 10000")
                return None
        else:
            try:
                zone_info(cell)
            except UnknownZone:
                reject(f"timezone {cell[:40]!r}: not an IANA zone such as Europe/Paris")
                return None
            zone = cell
    if not numbers:
        reject("no phone number")
        return None
    if len(numbers) > 1:  # the same number in two columns is kept once, from the first
        unique: dict[str, _Number] = {}
        for entry in numbers:
            unique.setdefault(entry[2], entry)
        numbers = list(unique.values())
    flat = [item for number in numbers for item in number]
    return (line, external_id, _encode_fields(fields), zone, consent, priority, *flat)


_WORKER_NORMALISERS: dict[str, Normaliser] = {}


def _parse_chunk(
    region: str, columns: list[tuple[int, str, str, str]], chunk: list[tuple[int, list[str]]]
) -> tuple[list[_Row], list[tuple[int, RejectKind, str]], int, int]:
    """Runs in a worker process: a chunk of lines to leads and rejects (plus the normaliser's counts)."""
    normalise = _WORKER_NORMALISERS.setdefault(region, Normaliser(region))
    rows, rejects = [], []
    for line, cells in chunk:
        row = _parse_row(normalise, columns, line, cells, rejects)
        if row is not None:
            rows.append(row)
    return rows, rejects, normalise.fast, normalise.slow


def open_table(
    path: Path | str,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    limits: Limits = Limits(),
) -> Table:
    """A CSV or XLSX file as a table (blocking: a server calls it in a worker thread)."""
    with open(path, "rb") as f:
        head = f.read(4)
    if is_xlsx(head):
        return XlsxTable(str(path), limits)
    stream = open(path, "rb")
    try:
        return CsvTable(stream, encoding=encoding, delimiter=delimiter, limits=limits)
    except BaseException:
        stream.close()
        raise


def preview(
    path: Path | str,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    rows: int = 5,
    limits: Limits = Limits(),
) -> dict[str, Any]:
    """The first rows of a file and the mapping the importer would use, for the mapping screen (blocking:
    a server calls it in a worker thread)."""
    table = open_table(path, encoding=encoding, delimiter=delimiter, limits=limits)
    try:
        sample = []
        for cells in table:
            if any(c.strip() for c in cells):
                sample.append([c[:100] for c in cells[: len(table.header)]])
            if len(sample) >= rows:
                break
    finally:
        table.close()
    suggested = {
        h: AUTO_MAPPING.get(_norm(h)) or f"custom:{_norm(h).replace(' ', '_')[:40]}" for h in table.header
    }
    return {
        "encoding": table.encoding,
        "delimiter": table.delimiter,
        "header": table.header,
        "rows": sample,
        "suggested": suggested,
        "fields": [*STANDARD_FIELDS, "number", "number:mobile", "number:landline", "number:work", "ignore"],
    }


def check_file(path: Path | str, options: ImportOptions) -> None:
    """What can be known of a file before its import (blocking): it opens as a table within the limits
    (encoding, separator, a workbook's make-up) and its header fits the mapping. Raises MalformedFile or
    MappingError with the reason."""
    table = open_table(path, encoding=options.encoding, delimiter=options.delimiter, limits=options.limits)
    try:
        _Plan.build(table.header, options.mapping, options.keep_unmapped)
    finally:
        table.close()


class ListImporter:
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
        plan = _Plan.build(table.header, self.opt.mapping, self.opt.keep_unmapped)
        await self._prepare()
        self._no_consent = _no_consent_reason(self.opt.rule_set, plan)
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

    async def _run_here(self, table: Table, plan: _Plan) -> None:
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

    async def _run_with_workers(self, table: Table, plan: _Plan) -> None:
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
                        loop.run_in_executor(pool, _parse_chunk, self.opt.region, plan.columns, chunk)
                    )
                    chunk = []
                    if len(inflight) > 2 * self.workers:
                        await take_one()
            inflight.append(loop.run_in_executor(pool, _parse_chunk, self.opt.region, plan.columns, chunk))
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
        self, line: int, plan: _Plan, cells: list[str], rejects: list[tuple[int, RejectKind, str]]
    ) -> _Row | None:
        row = _parse_row(self.normalise, plan.columns, line, cells, rejects)
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
                update(ImportJob).where(ImportJob.id == self.job_id).values(**_job_values(c))
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

    async def _scrub(self, batch: list[_Row], rejects: list[tuple[int, RejectKind, str]]) -> list[_Row]:
        c = self.counters
        if not batch:
            return []
        if self._consent_required:
            kept = []
            for r in batch:
                if r[_CONSENT]:
                    kept.append(r)
                else:
                    c.no_consent += 1
                    rejects.append((r[_LINE], RejectKind.no_consent, self._no_consent))
            batch = kept
        if self._tombstones:
            batch = self._buried(batch, rejects)
        numbers = list({e for r in batch for e in r[_E164S]})
        dnc = await self._existing_dnc(numbers) if self._dnc_lists and numbers else set()
        taken: dict[str, _Earlier]
        if self.opt.dedupe_by == "number":
            taken = await self._existing_numbers(numbers) if numbers else {}
        else:
            taken = await self._existing_external_ids([r[_EXTERNAL_ID] for r in batch if r[_EXTERNAL_ID]])
        kept = []
        by_number = self.opt.dedupe_by == "number"
        for r in batch:
            line, external_id = r[_LINE], r[_EXTERNAL_ID]
            e164s = r[_E164S]
            if dnc:
                hit = sorted({e for e in e164s if e in dnc})
                if hit:
                    c.dnc += 1
                    rejects.append((line, RejectKind.dnc, f"{', '.join(hit)} is on a do-not-call list"))
                    continue
            if by_number:
                dup = next((e for e in e164s if e in taken), None)
                if dup is not None:
                    c.duplicates += 1
                    rejects.append((line, RejectKind.duplicate, self._duplicate(dup, taken[dup])))
                    continue
                for e in e164s:  # later lines of the same batch
                    taken[e] = (line, self.job_id, True)
            elif external_id:
                if external_id in taken:
                    c.duplicates += 1
                    what = f"identifier {external_id!r}"
                    rejects.append((line, RejectKind.duplicate, self._duplicate(what, taken[external_id])))
                    continue
                taken[external_id] = (line, self.job_id, True)
            kept.append(r)
        return kept

    def _buried(self, batch: list[_Row], rejects: list[tuple[int, RejectKind, str]]) -> list[_Row]:
        """The lines of an erased person (one of their numbers or their e-mail is a tombstone) are skipped
        and reported, without the number: what was erased is not written again, not even in a reject."""
        kept = []
        for r in batch:
            email = orjson.loads(r[_FIELDS]).get("email") if '"email"' in r[_FIELDS] else None
            if any(self._tombstones.number(e) for e in r[_E164S]) or self._tombstones.email(email):
                self.counters.erased += 1
                rejects.append((r[_LINE], RejectKind.erased, ERASED_REASON))
            else:
                kept.append(r)
        return kept

    def _duplicate(self, what: str, earlier: _Earlier) -> str:
        """A duplicate's reason, naming the line it repeats: of this file, or of an earlier import."""
        line, job, here = earlier
        here = here or (job is not None and job == self.job_id)
        if line is None:
            return f"{what} is already in {self._scope_name()}"
        if here:
            return f"duplicate of line {line} ({what})"
        of = f"line {line} of import {job}" if job is not None else f"line {line}"
        return f"duplicate of {of}: {what} is already in {self._scope_name()}"

    def _scope_name(self) -> str:
        return {"list": "this list", "campaign": "this campaign's lists", "all": "a call list"}[
            self.opt.dedupe_scope
        ]

    async def _existing_numbers(self, numbers: list[str]) -> dict[str, _Earlier]:
        """The numbers already in the dedupe scope, with the line and import of a lead that has each."""
        lists = self._scope_lists
        out: dict[str, _Earlier] = {}
        if self._pg:
            sql = (
                "SELECT n.e164, l.source_line, l.import_job_id"
                " FROM lead_numbers n JOIN leads l ON l.id = n.lead_id WHERE n.e164 = ANY($1::text[])"
            )
            if lists is None:
                found = await self._raw.fetch(sql, numbers)
            else:
                found = await self._raw.fetch(sql + " AND n.list_id = ANY($2::bigint[])", numbers, lists)
            for e164, line, job in found:
                out.setdefault(e164, (line, job, False))
            return out
        for chunk in _chunks(numbers, 500):
            q = (
                select(LeadNumber.e164, Lead.source_line, Lead.import_job_id)
                .join(Lead, Lead.id == LeadNumber.lead_id)
                .where(LeadNumber.e164.in_(chunk))
            )
            if lists is not None:
                q = q.where(LeadNumber.list_id.in_(lists))
            for e164, line, job in await self.db.execute(q):
                out.setdefault(e164, (line, job, False))
        return out

    async def _existing_external_ids(self, ids: list[str]) -> dict[str, _Earlier]:
        if not ids:
            return {}
        lists = self._scope_lists
        out: dict[str, _Earlier] = {}
        for chunk in _chunks(ids, 500):
            q = select(Lead.external_id, Lead.source_line, Lead.import_job_id).where(
                Lead.external_id.in_(chunk)
            )
            if lists is not None:
                q = q.where(Lead.list_id.in_(lists))
            for external_id, line, job in await self.db.execute(q):
                if external_id is not None:
                    out.setdefault(external_id, (line, job, False))
        return out

    async def _existing_dnc(self, numbers: list[str]) -> set[str]:
        if self._pg:
            sql = (
                "SELECT e164 FROM dnc_entries"
                " WHERE e164 = ANY($1::text[]) AND dnc_list_id = ANY($2::bigint[])"
            )
            return {r[0] for r in await self._raw.fetch(sql, numbers, self._dnc_lists)}
        out: set[str] = set()
        for chunk in _chunks(numbers, 500):
            q = select(DncEntry.e164).where(
                DncEntry.e164.in_(chunk), DncEntry.dnc_list_id.in_(self._dnc_lists)
            )
            out.update(await self.db.scalars(q))
        return out

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
                    for pos, (label, raw, e164, zones, country) in enumerate(_row_numbers(r))
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
                for pos, (label, raw, e164, zones, country) in enumerate(_row_numbers(r))
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


def _chunks(values: list[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(values), n):
        yield values[i : i + n]


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
                await s.execute(update(ImportJob).where(ImportJob.id == job_id).values(**_job_values(c)))
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
                done = _job_values(counters) | {"status": ImportStatus.done, "finished_at": utcnow()}
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


def _job_values(c: Counters) -> dict[str, Any]:
    return {
        "rows": c.rows,
        "accepted": c.accepted,
        "duplicates": c.duplicates,
        "dnc": c.dnc,
        "no_consent": c.no_consent,
        "invalid": c.invalid,
        "erased": c.erased,
        "bytes_read": c.bytes_read,
    }


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


REPORT_HEADER = ["line", "kind", "reason"]


def report_head(summary: dict[str, Any]) -> str:
    """The top of the import report: BOM (for Excel), summary lines, then the reject column names."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    buf.write("\ufeff")
    for key in (
        "filename",
        "status",
        "rows",
        "accepted",
        "duplicates",
        "dnc",
        "no_consent",
        "invalid",
        "erased",
        "error",
    ):
        value = summary.get(key)
        w.writerow([f"# {key}", neutralise("" if value is None else str(value))])
    w.writerow(REPORT_HEADER)
    return buf.getvalue()


def report_rows(rejects: Iterable[tuple[int, str, str]]) -> str:
    """Reject lines of the report; a reason quoting a cell cannot start a formula in a spreadsheet."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    for line, kind, reason in rejects:
        w.writerow([line, neutralise(kind), neutralise(reason)])
    return buf.getvalue()


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
