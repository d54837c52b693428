"""Customer CSV import with real-world files: Excel's French CSV, BOMs, broken files, hostile cells."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.customer_import import MalformedFile, import_customers
from core.db import Database
from core.models import Account, AuditLog, Contact, PhoneNumber

FRENCH = (
    "Nom;Prénom;Société;Téléphone;Portable;Courriel;Niveau\r\n"
    "Lefèvre;Hélène;Société Générale;01 45 67 89 10;06 12 34 56 78;h.lefevre@example.fr;VIP\r\n"
    "Benali;Karim;Transports Benali;+33 (0)4 78 12 34 56;;k@example.fr;Standard\r\n"
    "Müller;Jürgen;Société Générale;0033 1 40 00 00 00;;;\r\n"
)


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


async def _count(db: Database, model: type) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_given_a_cp1252_semicolon_file_when_imported_then_accents_numbers_and_accounts_are_right(
    db: Database, tmp_path: Path
) -> None:
    path = _write(tmp_path, "clients.csv", FRENCH.encode("cp1252"))
    async with db.session() as s:
        report = await import_customers(s, path, "FR")
    assert (report.encoding, report.delimiter, report.imported, report.rejected) == ("cp1252", ";", 3, [])
    assert report.accounts_created == 2
    async with db.session() as s:
        helene = await s.scalar(select(Contact).where(Contact.last_name == "Lefèvre"))
        assert helene.first_name == "Hélène" and helene.account.name == "Société Générale"
        assert sorted(n.e164 for n in helene.numbers) == ["+33145678910", "+33612345678"]
        assert helene.tier.value == "vip"
        assert await s.scalar(select(func.count()).select_from(Account)) == 2
        assert await s.scalar(select(Contact.first_name).where(Contact.last_name == "Müller")) == "Jürgen"
        assert await s.scalar(select(func.count()).where(AuditLog.action == "customers_imported")) == 1


async def test_given_a_utf8_bom_comma_file_when_imported_then_bom_is_not_in_the_first_header(
    db: Database, tmp_path: Path
) -> None:
    text = FRENCH.replace(";", ",")
    path = _write(tmp_path, "bom.csv", b"\xef\xbb\xbf" + text.encode("utf-8"))
    async with db.session() as s:
        report = await import_customers(s, path, "FR")
    assert (report.encoding, report.delimiter, report.imported) == ("utf-8-sig", ",", 3)


async def test_given_bad_lines_when_imported_then_each_is_reported_with_its_line_and_the_rest_imported(
    db: Database, tmp_path: Path
) -> None:
    data = (
        "Nom;Téléphone;Identifiant\n"
        "Durand;06 12 34 56 78;A1\n"
        ";06 12 34 56 79;A2\n"
        "Petit;12;A3\n"
        "Roux;06 12 34 56 80;A1\n"
        '"=HYPERLINK(""http://evil"";""clic"")";06 12 34 56 81;A5\n'
    )  # quoted as Excel writes it
    path = _write(tmp_path, "mixed.csv", data.encode())
    async with db.session() as s:
        report = await import_customers(s, path, "FR")
    assert report.imported == 2
    assert [(line, reason.split(":")[0].split(" ")[0]) for line, reason in report.rejected] == [
        (3, "no"),
        (4, "number"),
        (5, "identifier"),
    ]
    async with db.session() as s:
        # The formula is kept as inert text (exports neutralise it); it is data, not an instruction.
        assert (
            await s.scalar(select(Contact.last_name).where(Contact.external_id == "A5"))
            == '=HYPERLINK("http://evil";"clic")'
        )


async def test_given_all_or_nothing_when_a_line_is_rejected_then_nothing_is_imported(
    db: Database, tmp_path: Path
) -> None:
    path = _write(tmp_path, "strict.csv", b"Nom;Telephone\nDurand;0612345678\nPetit;12\n")
    async with db.session() as s:
        with pytest.raises(MalformedFile, match="1 lines rejected"):
            await import_customers(s, path, "FR", all_or_nothing=True)
    assert await _count(db, Contact) == 0


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("nocol.csv", b"Prenom;Ville\nHelene;Lyon\n", "no name column"),
        ("nophone.csv", b"Nom;Ville\nDurand;Lyon\n", "no phone column"),
        (
            "binary.csv",
            b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + bytes(range(256)) * 10,
            "not a text file",
        ),
        ("empty.csv", b"", "empty"),
        ("ragged.csv", b"Nom;Tel\nDurand;0612345678\nPetit;0612345679;x;y;z\n", "line 3: 5 columns"),
        (  # a stray quote that a later one closes: 50 rows taken into one cell, one "rejected line"
            "stray-closed.csv",
            b'Nom;Tel\nDurand;0612345678\n"Petit;0612345679\n'
            + b"".join(b"Client%d;06123%05d\n" % (i, i) for i in range(50))
            + b'Martin";0612345670\nBlanc;0612345671\n',
            "line 3: a quote opens a cell that runs to line 54",
        ),
        (  # a stray quote never closed: the rest of the file in one cell
            "stray-open.csv",
            b'Nom;Tel\nDurand;0612345678\n"Petit;0612345679\n'
            + b"".join(b"Client%d;06123%05d\n" % (i, i) for i in range(50)),
            "line 3: a quote opened on this line is never closed",
        ),
        ("quote-then-text.csv", b'Nom;Tel\nDurand;0612345678\n"Petit"x;0612345679\n', "line 3: "),
    ],
)
async def test_given_a_malformed_file_when_imported_then_clear_error_and_nothing_written(
    db: Database, tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    path = _write(tmp_path, name, data)
    async with db.session() as s:
        with pytest.raises(MalformedFile, match=message):
            await import_customers(s, path, "FR")
    assert await _count(db, Contact) == 0 and await _count(db, PhoneNumber) == 0


async def test_given_a_bad_byte_deep_in_a_utf8_file_when_imported_then_error_names_the_line_and_nothing_kept(
    db: Database, tmp_path: Path
) -> None:
    good = "".join(
        f"Nom{i};06 12 {i // 10000 % 100:02d} {i // 100 % 100:02d} {i % 100:02d}\n" for i in range(5000)
    )
    data = ("Nom;Téléphone\n" + good).encode() + b"Bad\xff\xfe;0612345678\n"
    path = _write(tmp_path, "truncated.csv", data)
    async with db.session() as s:
        with pytest.raises(MalformedFile, match="line 5002"):
            await import_customers(s, path, "FR", encoding="utf-8")
    assert await _count(db, Contact) == 0  # the 5000 good lines before it were rolled back too


async def test_given_dry_run_when_imported_then_report_is_full_and_nothing_written(
    db: Database, tmp_path: Path
) -> None:
    path = _write(tmp_path, "clients.csv", FRENCH.encode("cp1252"))
    async with db.session() as s:
        report = await import_customers(s, path, "FR", dry_run=True)
    assert report.imported == 3 and await _count(db, Contact) == 0


async def test_given_hostile_cells_when_imported_then_only_bad_cells_of_imported_columns_reject_their_line(
    db: Database, tmp_path: Path
) -> None:
    # Control bytes in the sniffed head make the file "not a text file": the hostile lines come after it.
    filler = "".join(f"Nom{i};06 13 {i // 100 % 100:02d} {i % 100:02d} 00;;\n" for i in range(3000))
    data = (
        "Nom;Téléphone;Notes;Courriel\n"
        + filler
        + "Durand;0612345678;a\x01b;d@example.fr\n"  # a control character in a column that is not imported
        + "Petit;0612345679;;p\x02@example.fr\n"
        + f"Roux;0612345680;;{'r' * 501}\n"
        + "Moreau;0612345681;;m@example.fr\x1f\n"  # ends with a unit separator: whitespace, stripped
        + f"Leroy;{' ' * 600}0612345682;;\n"  # long only by its padding
    )
    path = _write(tmp_path, "hostile.csv", data.encode())
    async with db.session() as s:
        report = await import_customers(s, path, "FR")
    assert report.rejected == [
        (3003, "email: too long or contains control characters"),
        (3004, "email: too long or contains control characters"),
    ]
    assert report.imported == 3003
    async with db.session() as s:
        assert await s.scalar(select(Contact.email).where(Contact.last_name == "Moreau")) == "m@example.fr"
        leroy = select(PhoneNumber.e164).join(Contact).where(Contact.last_name == "Leroy")
        assert await s.scalar(leroy) == "+33612345682"


async def test_given_a_company_longer_than_a_last_name_when_it_names_the_contact_then_the_line_is_rejected(
    db: Database, tmp_path: Path
) -> None:
    data = f"Société;Téléphone\n{'S' * 150};0612345678\nAcme;0612345679\n"
    path = _write(tmp_path, "companies.csv", data.encode())
    async with db.session() as s:
        report = await import_customers(s, path, "FR")
    assert report.rejected == [(2, "last_name: longer than 120 characters")]
    assert report.imported == 1
    async with db.session() as s:
        assert await s.scalar(select(Contact.last_name)) == "Acme"


async def test_given_short_lines_and_a_number_twice_when_imported_then_cells_are_empty_and_numbers_once(
    db: Database, tmp_path: Path
) -> None:
    data = (
        "Nom;Prénom;Portable;Téléphone;Courriel\n"
        "Durand;Anne;06 12 34 56 78;0612345678\n"
        "Petit;Jean;0612345679\n"
    )
    path = _write(tmp_path, "short.csv", data.encode())
    async with db.session() as s:
        report = await import_customers(s, path, "FR")
    assert (report.imported, report.numbers, report.rejected) == (2, 2, [])
    async with db.session() as s:
        anne = await s.scalar(select(Contact).where(Contact.first_name == "Anne"))
        assert anne.email is None
        numbers = [(n.kind.value, n.e164, n.raw) for n in anne.numbers]
        assert numbers == [("mobile", "+33612345678", "06 12 34 56 78")]


@pytest.mark.parametrize("frozen_before", [False, True])
async def test_given_a_frozen_or_unfrozen_heap_when_a_file_is_imported_then_the_heap_is_left_as_it_was(
    db: Database, tmp_path: Path, frozen_before: bool
) -> None:
    path = _write(tmp_path, "clients.csv", FRENCH.encode("cp1252"))
    gc.unfreeze()
    if frozen_before:
        gc.freeze()  # as the server does at start-up (app/main.py)
    try:
        async with db.session() as s:
            report = await import_customers(s, path, "FR")
        assert report.imported == 3
        assert (gc.get_freeze_count() > 0) == frozen_before  # the count drops as frozen objects die
    finally:
        gc.unfreeze()


async def test_given_accounts_from_an_earlier_import_when_a_file_names_them_then_they_are_reused(
    db: Database, tmp_path: Path
) -> None:
    path = _write(tmp_path, "clients.csv", FRENCH.encode("cp1252"))
    async with db.session() as s:
        await import_customers(s, path, "FR")
    again = _write(tmp_path, "again.csv", FRENCH.replace("06 12", "06 13").encode("cp1252"))
    async with db.session() as s:
        report = await import_customers(s, again, "FR")
    assert (report.imported, report.accounts_created) == (3, 0)
    assert await _count(db, Account) == 2


CARE = (
    "Nom;Prénom;Société;Téléphone;Statut;Date de perte;Motif de perte\r\n"
    "Durand;Léa;;06 11 11 11 11;perdu;15/11/2026;parti chez un concurrent\r\n"
    "Martin;Paul;;06 22 22 22 22;actif;;\r\n"
    "Roux;Inès;Roux SA;06 33 33 33 33;Lost;2026-11-20;prix\r\n"
    "Petit;Ana;;06 44 44 44 44;;;\r\n"
)


async def test_given_care_columns_when_imported_then_customers_are_marked_lost_with_date_and_reason(
    db: Database, tmp_path: Path
) -> None:
    path = _write(tmp_path, "care.csv", CARE.encode("utf-8"))
    async with db.session() as s:
        report = await import_customers(s, path, "FR", zone="Europe/Paris")
    assert (report.imported, report.rejected) == (4, [])
    async with db.session() as s:
        lea = await s.scalar(select(Contact).where(Contact.last_name == "Durand"))
        paul = await s.scalar(select(Contact).where(Contact.last_name == "Martin"))
        ines = await s.scalar(select(Contact).where(Contact.last_name == "Roux"))
        ana = await s.scalar(select(Contact).where(Contact.last_name == "Petit"))
        roux = await s.scalar(select(Account).where(Account.name == "Roux SA"))
    assert (lea.care_status, lea.loss_reason) == ("lost", "parti chez un concurrent")
    assert lea.lost_at is not None and lea.lost_at.isoformat() == "2026-11-14T23:00:00+00:00"  # Paris 0:00
    assert (paul.care_status, paul.lost_at, ana.care_status) == ("active", None, "active")
    # a line with a company marks the account lost: the account is the customer, its contact stays active
    assert (roux.care_status, roux.loss_reason, ines.care_status) == ("lost", "prix", "active")
    assert roux.lost_at is not None and roux.lost_at.isoformat() == "2026-11-19T23:00:00+00:00"


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ("peut-être;;", "status 'peut-être': expected actif/active or perdu/lost"),
        ("perdu;;", "loss reason: a lost customer needs one"),
        ("perdu;31/02/2026;prix", "loss date '31/02/2026': expected dd/mm/yyyy or yyyy-mm-dd"),
        ("perdu;01/01/2999;prix", "loss date '01/01/2999' is in the future"),
        ("perdu;demain;prix", "loss date 'demain': expected dd/mm/yyyy or yyyy-mm-dd"),
        ("actif;;prix", "loss date or reason given for a customer who is not lost"),
        ("perdu;;" + "x" * 201, "loss reason: longer than 200 characters"),
    ],
)
async def test_given_a_bad_care_cell_when_imported_then_the_line_is_rejected_with_why_and_the_rest_is_kept(
    db: Database, tmp_path: Path, cells: str, reason: str
) -> None:
    text = (
        "Nom;Téléphone;Statut;Date de perte;Motif de perte\r\n"
        f"Durand;06 11 11 11 11;{cells}\r\n"
        "Martin;06 22 22 22 22;perdu;01/11/2026;déménagement\r\n"
    )
    path = _write(tmp_path, "bad-care.csv", text.encode("utf-8"))
    async with db.session() as s:
        report = await import_customers(s, path, "FR")
    assert report.rejected == [(2, reason)]
    async with db.session() as s:
        rows = (await s.execute(select(Contact.last_name, Contact.care_status, Contact.loss_reason))).all()
    assert rows == [("Martin", "lost", "déménagement")]
