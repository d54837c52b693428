"""Call-list import with real-world files, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.db import Database
from core.dialer_tables import (
    CallList,
    Campaign,
    CampaignList,
    DncKind,
    DncList,
    ImportJob,
    ImportReject,
    ImportStatus,
    Lead,
    LeadNumber,
)
from core.tabular import MalformedFile
from dialer.compliance import builtin_rule_sets
from dialer.dnc import add_numbers, import_dnc_file
from dialer.list_import import (
    LIVE,
    Counters,
    ImportOptions,
    ListImporter,
    MappingError,
    create_job,
    import_file,
    job_view,
    open_table,
    report_head,
    report_rows,
    run_job,
)
from tests.dialer.files import FRENCH_HEADER, bom_csv, french_csv, write, xlsx

pytestmark = pytest.mark.db
FR = builtin_rule_sets()["FR-2023"]


async def new_list(db: Database, name: str = "Prospects") -> int:
    async with db.session() as s:
        cl = CallList(name=name)
        s.add(cl)
        await s.commit()
        return cl.id


async def dnc_list(db: Database, kind: DncKind, numbers: list[str], campaign_id: int | None = None) -> int:
    async with db.session() as s:
        dl = DncList(name=f"dnc-{kind.value}-{campaign_id}", kind=kind, campaign_id=campaign_id)
        s.add(dl)
        await s.flush()
        await add_numbers(s, dl.id, numbers)
        await s.commit()
        return dl.id


async def imp(db: Database, path: Path, list_id: int, **options):  # type: ignore[no-untyped-def]
    async with db.session() as s:
        return await import_file(s, path, ImportOptions(list_id=list_id, **options))


async def leads(db: Database) -> list[tuple[Lead, list[LeadNumber]]]:
    async with db.session() as s:
        out = []
        for lead in await s.scalars(select(Lead).order_by(Lead.source_line)):
            nums = list(
                await s.scalars(
                    select(LeadNumber).where(LeadNumber.lead_id == lead.id).order_by(LeadNumber.position)
                )
            )
            out.append((lead, nums))
        return out


async def count(db: Database, model) -> int:  # type: ignore[no-untyped-def]
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_given_an_excel_french_csv_when_imported_then_numbers_zones_and_fields_are_kept(
    db: Database, tmp_path: Path
) -> None:
    list_id = await new_list(db)
    c = await imp(db, french_csv(tmp_path), list_id)
    assert (c.encoding, c.delimiter, c.rows, c.accepted, c.invalid) == ("cp1252", ";", 4, 4, 0)
    rows = await leads(db)
    first, numbers = rows[0]
    assert first.fields["last_name"] == "Lefèvre" and first.fields["company"] == "Boulangerie Saint-Éloi"
    assert first.fields["remarque"] == "cliente fidèle"  # an unmapped column is kept as a custom field
    assert first.consent is True and first.source_line == 2
    assert [(n.e164, n.label, n.tz, n.country) for n in numbers] == [
        ("+33612345678", "mobile", "Europe/Paris", "FR"),
        ("+33142685300", "landline", "Europe/Paris", "FR"),
    ]
    assert [n.e164 for _, ns in rows[1:] for n in ns] == ["+33698765432", "+33781223344", "+33493876543"]
    assert rows[3][0].consent is False
    async with db.session() as s:
        assert (await s.get(CallList, list_id)).lead_count == 4


async def test_given_a_utf8_bom_csv_with_commas_when_imported_then_zones_come_from_numbers_or_the_column(
    db: Database, tmp_path: Path
) -> None:
    c = await imp(db, bom_csv(tmp_path), await new_list(db))
    assert (c.encoding, c.delimiter, c.accepted) == ("utf-8-sig", ",", 3)
    rows = await leads(db)
    assert [lead.external_id for lead, _ in rows] == ["A-1", "A-2", "A-3"]
    assert rows[0][0].fields["first_name"] == "Zoë"
    assert rows[2][0].fields["first_name"] == "Amélie, Jr"
    assert [(ns[0].e164, ns[0].tz) for _, ns in rows] == [
        ("+442079460000", "Europe/London"),
        ("+12125551234", "America/New_York"),
        ("+33612345679", "Europe/Paris"),
    ]


async def test_given_an_xlsx_with_a_formula_cell_when_imported_then_it_is_stored_as_text(
    db: Database, tmp_path: Path
) -> None:
    path = xlsx(
        tmp_path,
        [
            ["Durand", "Léa", "06 11 22 33 44", "oui", '=HYPERLINK("http://evil.example","clic")'],
            ["Petit", "Hugo", 612345670, "oui", "@SUM(A1:A9)"],  # a number typed in a cell, no leading 0
            ["Moreau", "Inès", "pas de numéro", "oui", ""],
        ],
    )
    c = await imp(db, path, await new_list(db))
    assert (c.rows, c.accepted, c.invalid) == (3, 2, 1)
    rows = await leads(db)
    assert rows[0][0].fields["note"] == '=HYPERLINK("http://evil.example","clic")'
    assert rows[1][0].fields["note"] == "@SUM(A1:A9)"
    assert rows[1][1][0].e164 == "+33612345670"


async def test_given_duplicates_and_dnc_numbers_when_imported_then_each_is_rejected_with_its_line(
    db: Database, tmp_path: Path
) -> None:
    list_id = await new_list(db)
    await dnc_list(db, DncKind.internal, ["+33612345678"])
    await dnc_list(db, DncKind.national, ["+33781223344"])  # e.g. a Bloctel extract
    rows = [
        "Mme;Lefèvre;Hélène;;06 12 34 56 78;;Paris;oui;",  # internal DNC
        "M.;Benali;Karim;;06 98 76 54 32;;Lyon;oui;",
        "M.;Benali;Karim;;+33 6 98 76 54 32;;Lyon;oui;",  # same number, other format
        "Mme;Martin;Chloé;;07 81 22 33 44;;Nantes;oui;",  # national opt-out
        "Mme;Nobody;;;12;;;oui;",  # invalid
        "M.;Sans;Numéro;;;;;oui;",  # no number
    ]
    job_id = await _job(db, list_id)
    c = await _import_as_job(db, tmp_path, list_id, job_id, rows)
    assert (c.rows, c.accepted, c.duplicates, c.dnc, c.invalid) == (6, 1, 1, 2, 2)
    assert job_id not in LIVE  # live counters are dropped once the importer is done
    async with db.session() as s:
        rejects = [
            (r.line, r.kind.value, r.reason)
            for r in await s.scalars(
                select(ImportReject).where(ImportReject.job_id == job_id).order_by(ImportReject.line)
            )
        ]
    assert [(line, kind) for line, kind, _ in rejects] == [
        (2, "dnc"),
        (4, "duplicate"),
        (5, "dnc"),
        (6, "invalid"),
        (7, "invalid"),
    ]
    assert "+33612345678 is on a do-not-call list" in rejects[0][2]
    assert rejects[1][2] == "duplicate of line 3 (+33698765432)"
    assert rejects[4][2] == "no phone number"


async def _import_as_job(
    db: Database, tmp_path: Path, list_id: int, job_id: int, rows: list[str]
) -> Counters:
    async with db.session() as s:
        table = open_table(french_csv(tmp_path, rows))
        c = await ListImporter(s, ImportOptions(list_id=list_id), job_id=job_id).run(table)
        table.close()
        await s.commit()
    return c


async def _job(db: Database, list_id: int) -> int:
    async with db.session() as s:
        job = await create_job(s, list_id=list_id, filename="f.csv", size=1, options={}, user_id=None)
        await s.commit()
        return job.id


async def test_given_a_second_upload_when_dedupe_spans_the_campaign_then_numbers_of_its_other_lists_count(
    db: Database, tmp_path: Path
) -> None:
    first, second = await new_list(db, "A"), await new_list(db, "B")
    await imp(db, french_csv(tmp_path), first)
    async with db.session() as s:
        camp = Campaign(name="C", rule_set="FR-2023")
        s.add(camp)
        await s.flush()
        s.add(CampaignList(campaign_id=camp.id, list_id=first))
        await s.commit()
        camp_id = camp.id
    same = await imp(db, french_csv(tmp_path), second, dedupe_scope="list")
    assert same.accepted == 4  # another list: not a duplicate within the list
    third = await new_list(db, "C")
    c = await imp(db, french_csv(tmp_path), third, dedupe_scope="campaign", campaign_id=camp_id)
    assert (c.accepted, c.duplicates) == (0, 4)
    c = await imp(db, french_csv(tmp_path), third, dedupe_scope="all")
    assert (c.accepted, c.duplicates) == (0, 4)


async def test_given_a_campaign_dnc_list_when_importing_for_another_campaign_then_it_does_not_apply(
    db: Database, tmp_path: Path
) -> None:
    async with db.session() as s:
        a, b = Campaign(name="A", rule_set="FR-2023"), Campaign(name="B", rule_set="FR-2023")
        s.add_all([a, b])
        await s.commit()
        a_id, b_id = a.id, b.id
    await dnc_list(db, DncKind.campaign, ["+33612345678"], campaign_id=a_id)
    c = await imp(db, french_csv(tmp_path), await new_list(db, "for B"), campaign_id=b_id)
    assert c.dnc == 0
    c = await imp(db, french_csv(tmp_path), await new_list(db, "for A"), campaign_id=a_id)
    assert c.dnc == 1


async def test_given_dedupe_by_external_id_when_a_file_repeats_an_id_then_the_repeat_is_a_duplicate(
    db: Database, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "ids.csv",
        "ref;tel\r\nX1;0612345678\r\nX2;0612345679\r\nX1;0612345670\r\n",
        "utf-8",
    )
    c = await imp(db, path, await new_list(db), dedupe_by="external_id")
    assert (c.accepted, c.duplicates) == (2, 1)


@pytest.mark.parametrize(
    ("now", "accepted", "no_consent"),
    [
        (datetime(2026, 8, 10, 12, tzinfo=UTC), 4, 0),  # before the French opt-in date
        (datetime(2026, 8, 11, 12, tzinfo=UTC), 3, 1),  # from 11 August 2026, consent is required
    ],
)
async def test_given_the_fr_rule_set_when_consent_is_required_then_leads_without_it_are_rejected(
    db: Database, tmp_path: Path, now: datetime, accepted: int, no_consent: int
) -> None:
    c = await imp(db, french_csv(tmp_path), await new_list(db), rule_set=FR, now=now)
    assert (c.accepted, c.no_consent) == (accepted, no_consent)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8, "not a text file"),
        (b"PK\x03\x04" + b"\x00" * 100, "not a readable XLSX"),
        (
            (FRENCH_HEADER + "\r\nMme;Lefèvre;Hélène;;06 12 34 56 78;;Paris;oui;x\r\nM.;Ben").encode(
                "cp1252"
            ),
            "truncated",
        ),
        ((FRENCH_HEADER + '\r\nMme;"Lefèvre;Hélène;;06 12 34 56 78').encode("cp1252"), "line 2"),
        (b"", "empty"),
        ("Nom;Prénom\r\nDupont;Jean\r\n".encode(), "no phone column"),
    ],
    ids=["binary", "fake-xlsx", "cut-mid-row", "cut-in-quotes", "empty", "no-phone-column"],
)
async def test_given_a_broken_file_when_imported_then_a_clear_error_and_nothing_is_imported(
    db: Database, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(content)
    list_id = await new_list(db)
    with pytest.raises((MalformedFile, MappingError), match=message):
        await imp(db, path, list_id)
    assert await count(db, Lead) == 0


async def test_given_a_file_broken_after_many_good_rows_when_run_as_a_job_then_it_fails_and_nothing_stays(
    db: Database, tmp_path: Path
) -> None:
    good = [
        f"M.;N{i};P;;06 12 {i // 10000 % 100:02d} {i // 100 % 100:02d} {i % 100:02d};;;oui;"
        for i in range(12_000)
    ]
    path = french_csv(tmp_path, good)
    path.write_bytes(path.read_bytes() + b"M.;\x81\x8d;broken\r\n")  # undefined in cp1252, after 2 batches
    list_id = await new_list(db)
    job_id = await _job(db, list_id)
    await run_job(db, job_id, path, ImportOptions(list_id=list_id), None)
    async with db.session() as s:
        job = await s.get(ImportJob, job_id)
        assert job.status is ImportStatus.failed
        assert "line 12002" in job.error and "nothing was imported" in job.error
    assert await count(db, Lead) == 0 and await count(db, LeadNumber) == 0 and job_id not in LIVE


async def test_given_a_job_when_it_ends_then_counters_and_report_are_there(
    db: Database, tmp_path: Path
) -> None:
    list_id = await new_list(db)
    rows = ["Mme;A;B;;06 12 34 56 78;;;oui;", "M.;C;D;;=1+2;;;oui;", "M.;E;F;;0612345678;;;oui;"]
    job_id = await _job(db, list_id)
    await run_job(db, job_id, french_csv(tmp_path, rows), ImportOptions(list_id=list_id), None)
    async with db.session() as s:
        job = await s.get(ImportJob, job_id)
        rejects = [
            (r.line, r.kind.value, r.reason)
            for r in await s.scalars(select(ImportReject).order_by(ImportReject.line))
        ]
    assert (job.status, job.rows, job.accepted, job.invalid, job.duplicates) == (
        ImportStatus.done,
        3,
        1,
        1,
        1,
    )
    text = report_head({"filename": "=cmd|' /C calc'!A0", "rows": 3}) + report_rows(
        [(ln, k, r) for ln, k, r in rejects]
    )
    assert text.startswith("\ufeff# filename;'=cmd|")  # neutralised: a spreadsheet shows it as text
    assert "line;kind;reason\r\n3;invalid;" in text


async def test_given_a_mapping_when_it_names_a_missing_column_or_an_unknown_field_then_it_is_refused(
    db: Database, tmp_path: Path
) -> None:
    list_id = await new_list(db)
    with pytest.raises(MappingError, match="does not have: gsm"):
        await imp(db, french_csv(tmp_path), list_id, mapping={"GSM": "number"})
    with pytest.raises(MappingError, match="unknown target"):
        await imp(db, french_csv(tmp_path), list_id, mapping={"Portable": "salary"})
    c = await imp(
        db,
        french_csv(tmp_path),
        list_id,
        mapping={"Portable": "number:gsm", "Nom": "last_name", "Remarque": "custom:memo"},
        keep_unmapped=False,
    )
    assert c.accepted == 4
    lead, numbers = (await leads(db))[0]
    assert lead.fields == {"last_name": "Lefèvre", "memo": "cliente fidèle"}
    assert [(n.label, n.e164) for n in numbers] == [("gsm", "+33612345678")]


async def test_given_a_bloctel_style_file_when_imported_into_a_dnc_list_then_numbers_are_added_once(
    db: Database, tmp_path: Path
) -> None:
    path = write(tmp_path / "bloctel.txt", "0612345678\r\n06 12 34 56 79\r\n+33612345678\r\nabc\r\n", "ascii")
    dl = await dnc_list(db, DncKind.national, [])
    async with db.session() as s:
        report = await import_dnc_file(s, dl, path)
        await s.commit()
    assert (report.rows, report.added) == (4, 2)
    assert [line for line, _ in report.invalid] == [4]


async def test_given_worker_processes_when_importing_then_leads_and_rejects_are_the_same_as_in_process(
    db: Database, tmp_path: Path
) -> None:
    rows = [f"M.;N{i};P;;06 12 34 {i // 100 % 100:02d} {i % 100:02d};;;oui;" for i in range(300)]
    rows += ["M.;Dup;P;;06 12 34 00 05;;;oui;", "M.;Bad;P;;12;;;oui;"] * 3
    path = french_csv(tmp_path, rows)
    results = []
    for workers, name in ((0, "here"), (1, "workers")):
        list_id = await new_list(db, name)
        job_id = await _job(db, list_id)
        async with db.session() as s:
            table = open_table(path)
            importer = ListImporter(s, ImportOptions(list_id=list_id, workers=workers), job_id=job_id)
            c = await importer.run(table)
            table.close()
            await s.commit()
            rejects = [
                (r.line, r.kind.value, r.reason)
                for r in await s.scalars(
                    select(ImportReject).where(ImportReject.job_id == job_id).order_by(ImportReject.line)
                )
            ]
            numbers = sorted(await s.scalars(select(LeadNumber.e164).where(LeadNumber.list_id == list_id)))
        results.append(((c.rows, c.accepted, c.duplicates, c.invalid), rejects, numbers))
    assert results[0] == results[1]
    assert results[0][0] == (306, 300, 3, 3)


def _dead_pid() -> int:
    """A process id no process can have (above the kernel's maximum), so none can be reusing it."""
    with open("/proc/sys/kernel/pid_max") as f:
        return int(f.read()) + 1


async def test_given_a_job_whose_process_died_when_polled_then_it_reads_as_failed_not_running_forever(
    db: Database,
) -> None:
    dead = _dead_pid()
    list_id = await new_list(db)
    job_id = await _job(db, list_id)
    async with db.session() as s:
        job = await s.get(ImportJob, job_id)
        assert job_view(job)["status"] == "running"  # started by this (living) process
        job.options = job.options | {"runner": {**job.options["runner"], "pid": dead}}
        await s.commit()
        view = job_view(await s.get(ImportJob, job_id))
    assert view["status"] == "failed" and "interrupted" in view["error"]


async def test_given_odd_cells_when_imported_then_only_mapped_cells_are_checked_and_00_numbers_are_read(
    db: Database, tmp_path: Path
) -> None:
    """Overlong cells and control characters are refused in the columns that are imported, wherever they
    sit in the line; a tab is allowed; an ignored column is not looked at; `0033…` is `+33…`."""
    long_note = "x" * 501
    rows = [
        "Mme;Lefèvre;Hélène;;0033 6 12 34 56 78;;Paris;oui;",
        f"M.;Long;Karim;;06 98 76 54 32;;Lyon;oui;{long_note}",
        "M.;Ctrl;Mehdi;;07 81 22 33 44;;Ly\x0con;oui;",  # a form feed (what passes the binary sniff)
        "Mme;Tab;Chloé;;07 81 22 33 45;;Nan\ttes;oui;",
    ]
    list_id = await new_list(db)
    job_id = await _job(db, list_id)
    c = await _import_as_job(db, tmp_path, list_id, job_id, rows)
    assert (c.rows, c.accepted, c.invalid) == (4, 2, 2)
    async with db.session() as s:
        rejects = [
            (r.line, r.reason)
            for r in await s.scalars(
                select(ImportReject).where(ImportReject.job_id == job_id).order_by(ImportReject.line)
            )
        ]
    assert rejects == [
        (3, "custom:remarque: longer than 500 characters"),
        (4, "city: contains control characters"),
    ]
    assert [(lead.fields["city"], [n.e164 for n in ns]) for lead, ns in await leads(db)] == [
        ("Paris", ["+33612345678"]),
        ("Nan\ttes", ["+33781223345"]),
    ]

    other = await new_list(db, "Sans remarques")
    ignored = [f"M.;Long;Karim;;06 98 76 54 33;;Lyon;oui;{long_note}\x1b"]
    c = await imp(db, french_csv(tmp_path, ignored, name="ignored.csv"), other, keep_unmapped=False)
    assert (c.rows, c.accepted, c.invalid) == (1, 1, 0)
