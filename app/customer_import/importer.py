"""The customer importer: the file read as a stream, parsed line by line and written in batches;
`import_customers` runs it.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import csv
import gc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.customer_import.batch_writes import BatchWrites
from app.customer_import.columns import (
    AHEAD,
    BATCH,
    HEADERS,
    LOCK_GAP_S,
    SQLITE_BATCH,
    YIELD_EVERY,
    ImportReport,
    _Row,
)
from app.customer_import.line_checks import LineChecks
from app.customer_import.undo import (
    BATCH_WRITTEN,
    IMPORTED,
    STARTED,
    TARGET,
    recover_interrupted,
    undo_import,
)
from core.audit import audit
from core.import_runner import this_runner
from core.models import NumberKind, utcnow
from core.tabular import (
    SNIFF_BYTES,
    MalformedFile,
    check_record,
    detect_encoding,
    normalise_header,
    quote_error,
)
from core.tabular import Chain as _Chain
from core.tabular import Lines as _Lines
from core.tabular import sniff_delimiter as _sniff_delimiter
from core.tombstones import Tombstones
from core.write_chain import WriteChain


class CustomerImporter(LineChecks, BatchWrites):
    def __init__(
        self,
        session: AsyncSession,
        region: str,
        *,
        user_id: int | None = None,
        commit_batches: bool = False,
        source: str = "",
        tombstone_key: bytes | None = None,
        zone: str = "Europe/Paris",
    ) -> None:
        self.db, self.region, self.user_id, self.zone = session, region, user_id, zone
        self._now = utcnow()
        # SQLite: each batch commits with its audit entry (see the module's docstring)
        self.commit_batches = commit_batches
        self.batch_size = SQLITE_BATCH if commit_batches else BATCH
        self.source = source  # the file's name, for the audit log
        self.import_id: str | None = None  # the audit entries' target, once the first commit is made
        self._new_accounts: list[int] = []  # accounts created since the last batch commit
        self._tombstone_key = tombstone_key  # None: the configured one
        self._tombstones: Tombstones | None = None
        self._accounts: dict[str, int] = {}
        self._external_ids: set[str] = set()
        # The file's layout, set from its header: (cell index, field) of the named and of the number columns.
        self._columns: list[str | None] = []
        self._fields: list[tuple[int, str]] = []
        self._number_columns: list[tuple[int, NumberKind]] = []
        self._mapped: list[int] = []
        self._sequence: str | None = None  # contacts.id's sequence (PostgreSQL)

    async def run(
        self,
        stream: IO[bytes],
        *,
        encoding: str | None = None,
        delimiter: str | None = None,
        all_or_nothing: bool = False,
        dry_run: bool = False,
    ) -> ImportReport:
        head = stream.read(SNIFF_BYTES)
        if not head.strip(codecs.BOM_UTF8 + b" \r\n\t"):
            raise MalformedFile("the file is empty")
        stream = _Chain(head, stream)
        report = ImportReport(dry_run=dry_run)
        report.encoding = detect_encoding(head, encoding)
        sample = head.decode(report.encoding, errors="ignore")
        report.delimiter = _sniff_delimiter(sample, delimiter)
        lines = _Lines(stream, report.encoding)
        # Strict: a quote in the wrong place is an error naming its line, not a cell that swallows the
        # lines after it (check_record refuses a quoted cell that took whole rows in).
        reader = csv.reader(lines, delimiter=report.delimiter, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            raise MalformedFile("the file is empty") from None
        except csv.Error as exc:
            raise quote_error(exc, 1, lines.line) from None
        columns = [HEADERS.get(normalise_header(h)) for h in header]
        if "last_name" not in columns and "company" not in columns:
            raise MalformedFile(
                "no name column: expected 'Nom' (or 'Société'); found " + ", ".join(header[:12])
            )
        if not any(c and c.startswith("number:") for c in columns):
            raise MalformedFile("no phone column: expected 'Téléphone', 'Portable', 'Fixe'…")
        self._layout(columns)
        if self.commit_batches and not dry_run:
            await self._start()
        width = len(header)
        batch: list[_Row] = []
        writes = WriteChain(AHEAD)
        line = lines.line
        try:
            for cells in reader:
                first, line = line + 1, lines.line
                if line > first:
                    check_record(cells, first, line, report.delimiter)
                report.rows += 1
                if len(cells) != width:
                    if len(cells) > width:
                        if "".join(cells[width:]).strip():
                            raise MalformedFile(
                                f"line {line}: {len(cells)} columns where the header has {width}"
                            )
                    else:
                        cells += [""] * (width - len(cells))  # a short line's missing cells are empty
                if not "".join(cells).strip():
                    report.rows -= 1
                    continue
                row = self._row(line, cells, report)
                if row is not None:
                    batch.append(row)
                if not report.rows % YIELD_EVERY:
                    await asyncio.sleep(0)  # let the pending write's queries advance while we parse
                if len(batch) >= self.batch_size:
                    await writes.put(self._write(batch, report))
                    batch = []
            await writes.put(self._write(batch, report))
            await writes.drain()
        except csv.Error as exc:
            await writes.settle()  # a malformed line ended the parse: let the writes end, then roll back
            raise quote_error(exc, line + 1, lines.line) from None
        except BaseException:
            await writes.settle()
            raise
        report.rejected.sort(key=lambda r: r[0])  # a batch's write reports while the next one is parsed
        if all_or_nothing and report.rejected:
            raise MalformedFile(f"{len(report.rejected)} lines rejected and all-or-nothing was asked")
        if not dry_run:
            audit(
                self.db,
                IMPORTED,
                user_id=self.user_id,
                target_type=TARGET,
                target_id=self.import_id,
                detail={"rows": report.rows, "imported": report.imported, "rejected": len(report.rejected)},
            )
        return report

    async def _start(self) -> None:
        """The import's first commit: who runs it, so that a later import can tell it died."""
        self.import_id = uuid.uuid4().hex
        audit(
            self.db,
            STARTED,
            user_id=self.user_id,
            target_type=TARGET,
            target_id=self.import_id,
            detail={"file": self.source[-200:], "runner": this_runner()},
        )
        await self.db.commit()

    async def _commit(self, batch: list[_Row], ids: list[int]) -> None:
        """SQLite: the batch commits with the entry that says what it wrote: its lowest and highest contact
        id (the batch held the only write lock while its contacts were inserted, so every id in between is
        one of them) and the accounts it created."""
        audit(
            self.db,
            BATCH_WRITTEN,
            user_id=self.user_id,
            target_type=TARGET,
            target_id=self.import_id,
            detail={
                "contacts": [min(ids), max(ids)],
                "accounts": self._new_accounts,
                "through_line": batch[-1].line,
            },
        )
        self._new_accounts = []
        await self.db.commit()
        await asyncio.sleep(LOCK_GAP_S)  # the next batch is parsed meanwhile (app/write_chain)


async def import_customers(
    session: AsyncSession, path: Path | str, region: str, **options: Any
) -> ImportReport:
    """Import a file, all or nothing: committed when it succeeds; when it raises, rolled back (PostgreSQL)
    or its committed batches deleted (SQLite), and the import written failed in the audit log."""
    batches = session.bind.dialect.name != "postgresql" and not options.get("dry_run")
    if batches:
        await recover_interrupted(session)
    importer = CustomerImporter(
        session,
        region,
        user_id=options.pop("user_id", None),
        commit_batches=batches,
        source=str(path),
        tombstone_key=options.pop("tombstone_key", None),
        zone=options.pop("zone", "Europe/Paris"),
    )
    # Local file read in 256 KiB chunks between database batches: the CLI's path, not a request handler's.
    with _start_up_heap_frozen(), open(path, "rb") as f:  # noqa: ASYNC230
        try:
            report = await importer.run(f, **options)
        except BaseException as exc:
            await session.rollback()
            if importer.import_id is not None:
                await undo_import(session, importer.import_id, f"{type(exc).__name__}: {exc}"[:300])
            raise
    if report.dry_run:
        await session.rollback()
    else:
        await session.commit()
    return report


@contextlib.contextmanager
def _start_up_heap_frozen() -> Iterator[None]:
    """The process's heap frozen out of the collector while a file is imported, unless it is already.

    Each batch stays alive across many young collections, so its rows reach the oldest generation and
    trigger full collections, and each of those walked the whole start-up heap (SQLAlchemy, phonenumbers'
    metadata): some 15 % of the CLI's CPU on 300k lines. The server freezes its own at start-up
    (app/main.py), and that one is left as it is."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
