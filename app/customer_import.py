"""Customer CSV import, as Excel writes it in France: `;`, cp1252 or UTF-8 with BOM, French headers.

One transaction, read as a stream in batches: a file that turns out malformed half-way (undecodable,
binary, ragged rows) rolls back whole, so a failed import never leaves half a file behind. A bad *line*
(no name, unusable number) is reported with its line number and skipped; `all_or_nothing` turns any
rejected line into a failed import.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import audit
from app.models import Account, Contact, NumberKind, PhoneNumber, Tier, utcnow
from app.tabular import SNIFF_BYTES, MalformedFile, detect_encoding, normalise_header
from app.tabular import Chain as _Chain
from app.tabular import Lines as _Lines
from app.tabular import sniff_delimiter as _sniff_delimiter
from cti.numbers import MAX_INPUT_LEN, SEPARATORS, SUFFIX_DIGITS, InvalidNumber, classify, parse

BATCH = 2000
YIELD_EVERY = 250  # lines parsed between two turns of the event loop
MAX_CELL = 500
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f]")  # control characters other than TAB

# Normalised header (lowercase, no accents, no punctuation) → field.
HEADERS: dict[str, str] = {}
for _field, _names in {
    "last_name": ["nom", "nom de famille", "last name", "lastname", "surname", "family name"],
    "first_name": ["prenom", "first name", "firstname", "given name"],
    "company": [
        "societe",
        "entreprise",
        "raison sociale",
        "company",
        "account",
        "organisation",
        "organization",
        "compte",
    ],
    "email": ["email", "e mail", "courriel", "mail", "adresse email", "adresse e mail"],
    "job_title": ["fonction", "poste", "titre", "job title", "title"],
    "role": ["role", "contact role"],
    "segment": ["segment", "secteur"],
    "tier": ["niveau", "tier", "valeur", "value tier", "categorie client"],
    "external_id": ["identifiant", "id", "external id", "ref", "reference", "code client", "numero client"],
    "language": ["langue", "language"],
    f"number:{NumberKind.mobile.value}": [
        "portable",
        "mobile",
        "tel portable",
        "telephone portable",
        "gsm",
        "cellulaire",
    ],
    f"number:{NumberKind.landline.value}": ["fixe", "tel fixe", "telephone fixe", "landline"],
    f"number:{NumberKind.work.value}": [
        "tel pro",
        "telephone professionnel",
        "tel bureau",
        "work phone",
        "bureau",
        "ligne directe",
    ],
    f"number:{NumberKind.switchboard.value}": ["standard", "switchboard"],
    f"number:{NumberKind.other.value}": [
        "telephone",
        "tel",
        "phone",
        "numero",
        "numero de telephone",
        "phone number",
    ],
}.items():
    for _name in _names:
        HEADERS[_name] = _field

TIERS = {
    "vip": Tier.vip,
    "gold": Tier.gold,
    "or": Tier.gold,
    "standard": Tier.standard,
    "std": Tier.standard,
    "low": Tier.low,
    "bas": Tier.low,
    "faible": Tier.low,
    "": Tier.standard,
}


@dataclass
class ImportReport:
    encoding: str = ""
    delimiter: str = ""
    rows: int = 0
    imported: int = 0
    numbers: int = 0
    accounts_created: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    dry_run: bool = False

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        return (
            f"{self.rows} lines read ({self.encoding}, '{self.delimiter}'): {verb} {self.imported} contacts "
            f"with {self.numbers} numbers, {self.accounts_created} new accounts, "
            f"{len(self.rejected)} rejected"
        )


@dataclass
class _Row:
    line: int
    contact: dict[str, Any]
    company: str | None
    numbers: list[dict[str, Any]]


class CustomerImporter:
    def __init__(self, session: AsyncSession, region: str, *, user_id: int | None = None) -> None:
        self.db, self.region, self.user_id = session, region, user_id
        self._accounts: dict[str, int] = {}
        self._external_ids: set[str] = set()

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
        reader = csv.reader(lines, delimiter=report.delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise MalformedFile("the file is empty") from None
        columns = [HEADERS.get(normalise_header(h)) for h in header]
        if "last_name" not in columns and "company" not in columns:
            raise MalformedFile(
                "no name column: expected 'Nom' (or 'Société'); found " + ", ".join(header[:12])
            )
        if not any(c and c.startswith("number:") for c in columns):
            raise MalformedFile("no phone column: expected 'Téléphone', 'Portable', 'Fixe'…")
        batch: list[_Row] = []
        # The database writes batch n while batch n+1 is parsed; one write at a time, in order.
        pending: asyncio.Task[None] | None = None
        try:
            for cells in reader:
                report.rows += 1
                line = lines.line
                if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
                    raise MalformedFile(
                        f"line {line}: {len(cells)} columns where the header has {len(header)}"
                    )
                if not any(c.strip() for c in cells):
                    report.rows -= 1
                    continue
                row = self._row(line, columns, cells, report)
                if row is not None:
                    batch.append(row)
                if not report.rows % YIELD_EVERY:
                    await asyncio.sleep(0)  # let the pending write's queries advance while we parse
                if len(batch) >= BATCH:
                    if pending is not None:
                        await pending
                    pending = asyncio.create_task(self._write(batch, report))
                    batch = []
            if pending is not None:
                await pending
                pending = None
            await self._write(batch, report)
        except csv.Error as exc:
            raise MalformedFile(f"line {lines.line}: {exc}") from None
        finally:
            if pending is not None:  # a malformed line ended the parse: let the write end, then roll back
                with contextlib.suppress(BaseException):
                    await pending
        report.rejected.sort(key=lambda r: r[0])  # a batch's write reports while the next one is parsed
        if all_or_nothing and report.rejected:
            raise MalformedFile(f"{len(report.rejected)} lines rejected and all-or-nothing was asked")
        if not dry_run:
            audit(
                self.db,
                "customers_imported",
                user_id=self.user_id,
                target_type="import",
                detail={"rows": report.rows, "imported": report.imported, "rejected": len(report.rejected)},
            )
        return report

    def _row(
        self, line: int, columns: list[str | None], cells: list[str], report: ImportReport
    ) -> _Row | None:
        values: dict[str, str] = {}
        numbers: list[tuple[str, str]] = []
        for col, cell in zip(columns, cells, strict=False):
            cell = cell.strip()
            if col is None or not cell:
                continue
            if len(cell) > MAX_CELL or _CONTROL.search(cell):
                report.rejected.append((line, f"{col}: too long or contains control characters"))
                return None
            if col.startswith("number:"):
                numbers.append((col.split(":", 1)[1], cell))
            else:
                values.setdefault(col, cell)
        company = values.pop("company", None)
        last_name = values.get("last_name") or company
        if not last_name:
            report.rejected.append((line, "no name"))
            return None
        if not numbers:
            report.rejected.append((line, "no phone number"))
            return None
        parsed: list[dict[str, Any]] = []
        seen: set[tuple[str, str | None]] = set()
        for kind, raw in numbers:
            # The shared fast path (phonenumbers' own answer, see cti.numbers.classify), else parse().
            found = classify(raw.translate(SEPARATORS), self.region) if len(raw) <= MAX_INPUT_LEN else None
            if found is not None:
                e164, extension = found[0], None
            else:
                try:
                    p = parse(raw, self.region)
                except InvalidNumber as exc:
                    report.rejected.append((line, f"number {raw!r}: {exc.reason}"))
                    return None
                e164, extension = p.e164, p.extension
            if (e164, extension) not in seen:
                seen.add((e164, extension))
                parsed.append(
                    {
                        "e164": e164,
                        "suffix_key": e164[1:][-SUFFIX_DIGITS:],  # cti.numbers.suffix_key of an E.164
                        "extension": extension,
                        "kind": NumberKind(kind),
                        "raw": raw,
                    }
                )
        tier = TIERS.get(values.get("tier", "").lower())
        if tier is None:
            report.rejected.append((line, f"tier {values['tier']!r}: expected VIP, Gold, Standard or Low"))
            return None
        ext = values.get("external_id")
        if ext is not None:
            if ext in self._external_ids:
                report.rejected.append((line, f"identifier {ext!r} appears twice in the file"))
                return None
            self._external_ids.add(ext)
        lang = values.get("language", "").lower()[:2] or None
        limits = {
            "first_name": 120,
            "last_name": 120,
            "email": 254,
            "job_title": 120,
            "role": 40,
            "segment": 80,
            "external_id": 80,
        }
        for k, n in limits.items():
            if k in values and len(values[k]) > n:
                report.rejected.append((line, f"{k}: longer than {n} characters"))
                return None
        contact = {
            "last_name": last_name,
            "first_name": values.get("first_name", ""),
            "email": values.get("email"),
            "job_title": values.get("job_title"),
            "role": values.get("role"),
            "segment": values.get("segment"),
            "tier": tier,
            "external_id": ext,
            "language": lang if lang and lang.isalpha() else None,
        }
        if company and len(company) > 200:
            report.rejected.append((line, "company: longer than 200 characters"))
            return None
        return _Row(line, contact, company, parsed)

    async def _write(self, batch: list[_Row], report: ImportReport) -> None:
        if not batch:
            return
        ext_ids = [r.contact["external_id"] for r in batch if r.contact["external_id"]]
        if ext_ids:
            taken = set(
                await self.db.scalars(select(Contact.external_id).where(Contact.external_id.in_(ext_ids)))
            )
            keep = []
            for r in batch:
                if r.contact["external_id"] in taken:
                    report.rejected.append(
                        (r.line, f"identifier {r.contact['external_id']!r} already exists")
                    )
                else:
                    keep.append(r)
            batch = keep
        await self._resolve_accounts({r.company for r in batch if r.company}, report)
        now = utcnow()
        contact_rows = [
            r.contact
            | {
                "account_id": self._accounts.get(r.company) if r.company else None,
                "created_at": now,
                "updated_at": now,
            }
            for r in batch
        ]
        report.imported += len(batch)
        report.numbers += sum(len(r.numbers) for r in batch)
        if report.dry_run or not batch:
            return
        if self.db.bind.dialect.name == "postgresql":
            await self._copy(batch, contact_rows)
            return
        ids = list(
            await self.db.scalars(
                insert(Contact).returning(Contact.id, sort_by_parameter_order=True), contact_rows
            )
        )
        number_rows = [n | {"contact_id": cid} for r, cid in zip(batch, ids, strict=True) for n in r.numbers]
        await self.db.execute(insert(PhoneNumber), number_rows)

    async def _copy(self, batch: list[_Row], contact_rows: list[dict[str, Any]]) -> None:
        """PostgreSQL COPY on the session's own connection, so it stays inside the import's transaction."""
        ids = list(
            await self.db.scalars(
                text("SELECT nextval(pg_get_serial_sequence('contacts', 'id')) FROM generate_series(1, :n)"),
                {"n": len(batch)},
            )
        )
        conn = await (await self.db.connection()).get_raw_connection()
        pg = conn.driver_connection
        cols = list(contact_rows[0])
        await pg.copy_records_to_table(
            "contacts",
            columns=["id", *cols],
            records=[(cid, *(_pg(row[c]) for c in cols)) for cid, row in zip(ids, contact_rows, strict=True)],
        )
        ncols = ["contact_id", "e164", "suffix_key", "extension", "kind", "raw"]
        await pg.copy_records_to_table(
            "phone_numbers",
            columns=ncols,
            records=[
                (cid, n["e164"], n["suffix_key"], n["extension"], n["kind"].value, n["raw"])
                for r, cid in zip(batch, ids, strict=True)
                for n in r.numbers
            ],
        )

    async def _resolve_accounts(self, names: set[str], report: ImportReport) -> None:
        missing = [n for n in names if n not in self._accounts]
        if not missing:
            return
        for acc_id, name in await self.db.execute(
            select(Account.id, Account.name).where(Account.name.in_(missing))
        ):
            self._accounts.setdefault(name, acc_id)
        new = [n for n in missing if n not in self._accounts]
        report.accounts_created += len(new)
        if not new:
            return
        if report.dry_run:
            self._accounts.update(dict.fromkeys(new, 0))
            return
        now = utcnow()
        ids = await self.db.scalars(
            insert(Account).returning(Account.id, sort_by_parameter_order=True),
            [{"name": n, "tier": Tier.standard, "created_at": now, "updated_at": now} for n in new],
        )
        self._accounts.update(zip(new, ids, strict=True))


def _pg(value: Any) -> Any:
    return value.value if isinstance(value, Tier) else value


async def import_customers(
    session: AsyncSession, path: Path | str, region: str, **options: Any
) -> ImportReport:
    """Import a file in one transaction: committed when it succeeds, rolled back when it raises."""
    # Local file read in 256 KiB chunks between database batches: the CLI's path, not a request handler's.
    with open(path, "rb") as f:  # noqa: ASYNC230
        try:
            report = await CustomerImporter(session, region, user_id=options.pop("user_id", None)).run(
                f, **options
            )
        except BaseException:
            await session.rollback()
            raise
    if report.dry_run:
        await session.rollback()
    else:
        await session.commit()
    return report
