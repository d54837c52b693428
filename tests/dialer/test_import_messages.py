"""What a French user reads about rejected lines: why consent is missing and how to map it, which earlier
line a duplicate repeats, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from core.db import Database
from core.dialer_tables import CallList, DncKind, DncList, ImportJob, ImportReject
from dialer.compliance import builtin_rule_sets
from dialer.dnc import import_dnc_file
from dialer.list_import import ImportOptions, ListImporter, create_job, open_table
from tests.dialer.files import french_csv, write

pytestmark = pytest.mark.db
FR = builtin_rule_sets()["FR-2023"]
AFTER_OPT_IN = datetime(2026, 9, 1, 12, tzinfo=UTC)


async def _list(db: Database, name: str) -> int:
    async with db.session() as s:
        cl = CallList(name=name)
        s.add(cl)
        await s.commit()
        return cl.id


async def _import(db: Database, path: Path, list_id: int, **options: object) -> list[tuple[int, str, str]]:
    """Run one import job; its rejects as (line, kind, reason)."""
    async with db.session() as s:
        job = await create_job(s, list_id=list_id, filename=path.name, size=1, options={}, user_id=None)
        await s.commit()
        table = open_table(path)
        opts = ImportOptions(list_id=list_id, **options)  # type: ignore[arg-type]
        await ListImporter(s, opts, job_id=job.id).run(table)
        table.close()
        await s.commit()
        rows = await s.execute(
            select(ImportReject.line, ImportReject.kind, ImportReject.reason)
            .where(ImportReject.job_id == job.id)
            .order_by(ImportReject.line)
        )
        return [(line, kind.value, reason) for line, kind, reason in rows]


SINCE = "no consent: rule set FR-2023 requires it since 2026-08-11"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (
            "Nom;Téléphone;Consentement\r\nA;0612345678;oui\r\nB;0612345679;non\r\n",
            f"{SINCE} (the consent column says no or is empty)",
        ),
        (
            "Nom;Téléphone;Accord\r\nA;0612345678;oui\r\nB;0612345679;non\r\n",  # a column not recognised
            f"{SINCE}, and no column is mapped to consent: map the file's consent column"
            " (e.g. 'Consentement') to the field consent, with oui/non, yes/no or 1/0",
        ),
    ],
    ids=["column-says-no", "no-consent-column"],
)
async def test_given_consent_required_when_a_lead_has_none_then_the_reason_says_since_when_and_what_to_map(
    db: Database, tmp_path: Path, body: str, says: str
) -> None:
    path = write(tmp_path / "l.csv", body, "utf-8")
    rejects = await _import(db, path, await _list(db, "L"), rule_set=FR, now=AFTER_OPT_IN)
    assert rejects[-1] == (3, "no_consent", says)


async def test_given_duplicates_when_imported_then_each_reason_names_the_line_it_repeats(
    db: Database, tmp_path: Path
) -> None:
    list_id = await _list(db, "L")
    first = french_csv(tmp_path, ["M.;A;B;;06 12 34 56 78;;;oui;"], "first.csv")
    assert await _import(db, first, list_id) == []
    async with db.session() as s:
        first_job = max(await s.scalars(select(ImportJob.id)))
    rows = [
        "M.;C;D;;06 98 76 54 32;;;oui;",
        "M.;E;F;;+33 6 12 34 56 78;;;oui;",
        "M.;G;H;;06.98.76.54.32;;;oui;",
    ]
    rejects = await _import(db, french_csv(tmp_path, rows, "second.csv"), list_id)
    assert [(line, kind) for line, kind, _ in rejects] == [(3, "duplicate"), (4, "duplicate")]
    assert rejects[0][2] == f"duplicate of line 2 of import {first_job}: +33612345678 is already in this list"
    assert rejects[1][2] == "duplicate of line 2 (+33698765432)"


async def test_given_dedupe_by_identifier_when_an_identifier_repeats_then_the_reason_names_its_line(
    db: Database, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "ids.csv", "ref;tel\r\nX1;0612345678\r\nX2;0612345679\r\nX1;0612345670\r\n", "utf-8"
    )
    rejects = await _import(db, path, await _list(db, "L"), dedupe_by="external_id")
    assert rejects == [(4, "duplicate", "duplicate of line 2 (identifier 'X1')")]


@pytest.mark.parametrize(
    ("first_line", "header", "invalid"),
    [
        ("MSISDN;Source", ["MSISDN", "Source"], []),  # column names nobody listed: a header, not a bad line
        ("Tel 1", ["Tel 1"], []),
        ("06 12 34 56 7A", None, [1]),  # a number typed wrong on the first line is still reported
        ("0611111111", None, []),
    ],
)
async def test_given_a_dnc_file_when_its_first_line_is_a_header_or_a_number_then_lines_are_counted_right(
    db: Database, tmp_path: Path, first_line: str, header: list[str] | None, invalid: list[int]
) -> None:
    other = ";Bloctel" if ";" in first_line else ""
    numbers = [f"06 12 34 {i // 100:02d} {i % 100:02d}{other}" for i in range(79)]
    path = write(tmp_path / "dnc.csv", "\r\n".join([first_line, *numbers]) + "\r\n", "utf-8")
    async with db.session() as s:
        dl = DncList(name="Bloctel", kind=DncKind.national)
        s.add(dl)
        await s.flush()
        report = await import_dnc_file(s, dl.id, path)
        await s.commit()
    assert (report.lines, report.header, [line for line, _ in report.invalid]) == (80, header, invalid)
    assert report.added == 79 + (first_line == "0611111111")
