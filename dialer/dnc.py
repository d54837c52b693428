"""Do-not-call lists: add numbers one by one or from a file (e.g. a Bloctel extract), streamed in batches.

A file is either one number per line (no header) or a CSV whose number column is recognised
(`Téléphone`, `numero`, `phone`…); other columns are ignored. Invalid lines are reported with their line
number; a malformed file (binary, undecodable) imports nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.dialer_tables import DncEntry
from core.models import utcnow
from core.tabular import Limits, normalise_header, row_batches
from cti.numbers import InvalidNumber
from dialer.bulk_numbers import Normaliser
from dialer.list_import import AUTO_MAPPING, open_table

BATCH = 5000
MAX_REPORTED = 1000  # invalid lines kept with their reason (all are counted)


@dataclass
class DncReport:
    rows: int = 0  # lines that hold a number (or should): the header line is not one of them
    added: int = 0  # new entries (a number already on the list is not added twice)
    invalid: list[tuple[int, str]] = field(default_factory=list)  # the first MAX_REPORTED
    invalid_count: int = 0
    header: list[str] | None = None  # the file's column names, when its first line is one

    @property
    def lines(self) -> int:
        """Every line read, the header included."""
        return self.rows + (self.header is not None)

    def reject(self, line: int, reason: str) -> None:
        self.invalid_count += 1
        if len(self.invalid) < MAX_REPORTED:
            self.invalid.append((line, reason))


def _is_header(cells: list[str]) -> bool:
    """A first line of column names (`MSISDN;Source`, `Tel 1`), not a number written badly: words, and
    no cell with more than three digits."""
    return any(ch.isalpha() for c in cells for ch in c) and all(
        sum(ch.isdigit() for ch in c) <= 3 for c in cells
    )


async def add_numbers(
    session: AsyncSession,
    dnc_list_id: int,
    e164s: Iterable[str],
    *,
    reason: str | None = None,
    user_id: int | None = None,
) -> int:
    """Insert E.164 numbers, ignoring those already on the list; returns how many were new."""
    now = utcnow()
    rows = [
        {"dnc_list_id": dnc_list_id, "e164": e, "reason": reason, "added_by": user_id, "added_at": now}
        for e in dict.fromkeys(e164s)
    ]
    if not rows:
        return 0
    ins = pg_insert(DncEntry) if session.bind.dialect.name == "postgresql" else sqlite_insert(DncEntry)
    stmt = ins.on_conflict_do_nothing(index_elements=["dnc_list_id", "e164"]).returning(DncEntry.id)
    added = 0
    for i in range(0, len(rows), BATCH):
        added += len(list(await session.scalars(stmt, rows[i : i + BATCH])))  # only new rows come back
    return added


async def import_dnc_file(
    session: AsyncSession,
    dnc_list_id: int,
    path: Path | str,
    *,
    region: str = "FR",
    reason: str | None = None,
    user_id: int | None = None,
    limits: Limits = Limits(),
) -> DncReport:
    """Stream a file of numbers into a DNC list in the caller's transaction (the caller commits). The file
    is opened and read in a worker thread (a request handler calls this)."""
    normalise = Normaliser(region)
    report = DncReport()
    table = await asyncio.to_thread(open_table, path, limits=limits)
    try:
        header = table.header
        column = next(
            (
                i
                for i, h in enumerate(header)
                if AUTO_MAPPING.get(normalise_header(h), "").startswith("number")
            ),
            None,
        )
        batch: list[str] = []
        if column is not None:
            report.header = header
        else:
            column = 0
            try:  # no recognised column name: the first line may be a number too
                batch.append(normalise(header[0]).e164)
                report.rows += 1
            except InvalidNumber as exc:
                if _is_header(header):
                    report.header = header  # column names of its own: numbers in the first column
                else:
                    report.rows += 1
                    report.reject(1, f"{header[0][:40]!r}: {exc.reason}")
        async for lines in row_batches(table):  # read in a worker thread, blank lines left out
            for line, cells in lines:
                report.rows += 1
                cell = cells[column].strip() if column < len(cells) else ""
                try:
                    batch.append(normalise(cell).e164)
                except InvalidNumber as exc:
                    report.reject(line, f"{cell[:40]!r}: {exc.reason}")
            if len(batch) >= BATCH:
                report.added += await add_numbers(session, dnc_list_id, batch, reason=reason, user_id=user_id)
                batch = []
        report.added += await add_numbers(session, dnc_list_id, batch, reason=reason, user_id=user_id)
    finally:
        table.close()
    return report
