"""Customer CSV import, as Excel writes it in France: `;`, cp1252 or UTF-8 with BOM, French headers.

Read as a stream in batches, all or nothing: a file that turns out malformed half-way (undecodable,
binary, ragged rows) imports nothing, so a failed import never leaves half a file behind. A bad *line*
(no name, unusable number) is reported with its line number and skipped; `all_or_nothing` turns any
rejected line into a failed import.

On PostgreSQL, whose writers do not block each other, the import is one transaction. On SQLite each batch
(of SQLITE_BATCH lines) commits, as the call-list import's do (one transaction held SQLite's only write
lock for the whole file, and the server's writes failed with "database is locked" meanwhile), and leaves
the lock free for LOCK_GAP_S before the next one; the audit log then holds the import's state
(`customers_import_started`, one `customers_import_batch` per commit naming its contacts and new accounts,
and `customers_imported` or `customers_import_failed`, all with the import's id as target). A failed import
deletes the batches it committed before it reads failed; one whose process died (kill -9, power) is
found by the next customer import, which deletes its batches first and writes it failed ("interrupted").

Optional care columns mark customers lost (the loss rate): `Statut` (actif/active, perdu/lost), `Date de
perte` (dd/mm/yyyy or yyyy-mm-dd, the centre's local day; default: the import's time) and `Motif de perte`
(required for a lost customer). A line with a company marks the account lost (the account is the
customer); an `actif` line changes nothing that exists (an account comes back from its page).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import csv
import gc
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from typing import IO, Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core import tombstones
from core.audit import audit
from core.import_runner import runner_gone, this_runner
from core.models import Account, AuditLog, Contact, NumberKind, PhoneNumber, Tier, utcnow
from core.settings import get_settings
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
from core.tombstones import ERASED_REASON, Tombstones
from core.write_chain import WriteChain
from cti.numbers import MAX_INPUT_LEN, SEPARATORS, SUFFIX_DIGITS, InvalidNumber, classify, parse

BATCH = 5000
# SQLite, batch commits: a batch short enough to hold the write lock for a fraction of the 500 ms a health
# probe waits, then the lock left free for longer than SQLite's busy handler sleeps between two tries
# (100 ms at most): a writer waiting for it gets it in that gap instead of losing the race to the next batch
SQLITE_BATCH = 1000
LOCK_GAP_S = 0.1
AHEAD = 2  # batches parsed ahead of the one being written (app/write_chain)
YIELD_EVERY = 100  # lines parsed between two turns of the event loop
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
    "care_status": ["statut", "statut client", "status", "customer status"],
    "lost_at": ["date de perte", "perdu le", "lost at", "lost on", "loss date"],
    "loss_reason": ["motif de perte", "raison de la perte", "loss reason", "reason lost"],
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

CARE_STATUSES = {"": "active", "actif": "active", "active": "active", "perdu": "lost", "lost": "lost"}
_DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d")
MAX_LOSS_REASON = 200


def loss_date(text_: str, zone: str, now: datetime) -> datetime:
    """A loss date as a file gives it (the local day's start in the centre's zone), checked; ValueError
    says what is wrong."""
    for fmt in _DATE_FORMATS:
        try:
            day = datetime.strptime(text_, fmt).date()
        except ValueError:
            continue
        at = datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)
        if at > now:
            raise ValueError(f"{text_!r} is in the future")
        if day.year < 1970:
            raise ValueError(f"{text_!r} is before 1970")
        return at
    raise ValueError(f"{text_!r}: expected dd/mm/yyyy or yyyy-mm-dd")


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


# A parsed line, as plain tuples (a million lines make a million of each: no per-row dicts or instances).
# contact: CONTACT_COLUMNS' values; numbers: NUMBER_COLUMNS' values after contact_id.
CONTACT_COLUMNS = (
    "first_name",
    "last_name",
    "email",
    "job_title",
    "role",
    "tier",
    "segment",
    "language",
    "external_id",
    "care_status",
    "lost_at",
    "loss_reason",
)
NUMBER_COLUMNS = ("kind", "e164", "suffix_key", "extension", "raw")
_EXTERNAL_ID = CONTACT_COLUMNS.index("external_id")
_EMAIL = CONTACT_COLUMNS.index("email")
LIMITS = {
    "first_name": 120,
    "last_name": 120,
    "email": 254,
    "job_title": 120,
    "role": 40,
    "segment": 80,
    "external_id": 80,
}
_SHORTEST_LIMIT = min(LIMITS.values())
MAX_COMPANY = 200


# The accounts named in a batch, one index probe per name. `name IN (…)` has no statistics to go by for
# the accounts this import created (uncommitted, never analysed): PostgreSQL scanned the whole table for
# every batch, comparing each row with every name, so the import slowed as its accounts grew.
_EXISTING_ACCOUNTS_PG = text(
    "SELECT a.id, a.name FROM unnest(CAST(:names AS text[])) AS n(name) "
    "CROSS JOIN LATERAL (SELECT id, name FROM accounts WHERE accounts.name = n.name OFFSET 0) AS a"
)  # OFFSET 0: the subquery is not flattened into a join the planner would hash over a full scan


class _Row(NamedTuple):
    line: int
    contact: tuple[Any, ...]
    company: str | None
    numbers: list[tuple[Any, ...]]
    account_lost: tuple[datetime, str] | None = None  # the line's company is marked lost: when, why


class CustomerImporter:
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

    def _layout(self, columns: list[str | None]) -> None:
        self._columns = columns
        self._mapped = [i for i, col in enumerate(columns) if col is not None]
        for i, col in enumerate(columns):
            if col is None:
                continue
            if col.startswith("number:"):
                self._number_columns.append((i, NumberKind(col.split(":", 1)[1])))
            else:
                self._fields.append((i, col))

    def _row(self, line: int, cells: list[str], report: ImportReport) -> _Row | None:
        """A line as a row to write, or None when it is rejected (the reason added to the report).

        `cells` holds one cell per header column. A line is checked as a whole first: only a line where
        some cell may be too long or hold control characters is walked cell by cell, for the reason."""
        mapped = [cells[i] for i in self._mapped]
        if max(map(len, mapped)) > MAX_CELL or _CONTROL.search("\t".join(mapped)):
            for i in self._mapped:
                cell = cells[i].strip()
                if cell and (len(cell) > MAX_CELL or _CONTROL.search(cell)):
                    report.rejected.append(
                        (line, f"{self._columns[i]}: too long or contains control characters")
                    )
                    return None
        values: dict[str, str] = {}
        for i, col in self._fields:
            cell = cells[i].strip()
            if cell and col not in values:  # the first filled column of a field wins
                values[col] = cell
        numbers = [(kind, cell) for i, kind in self._number_columns if (cell := cells[i].strip())]
        company = values.pop("company", None)
        last_name = values.get("last_name") or company
        if not last_name:
            report.rejected.append((line, "no name"))
            return None
        if not numbers:
            report.rejected.append((line, "no phone number"))
            return None
        parsed: list[tuple[Any, ...]] = []
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
            if not any(n[1] == e164 and n[3] == extension for n in parsed):  # a number once per contact
                # suffix_key: cti.numbers.suffix_key of an E.164
                parsed.append((kind, e164, e164[1:][-SUFFIX_DIGITS:], extension, raw))
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
        if (
            max(map(len, values.values()), default=0) > _SHORTEST_LIMIT
            or len(last_name) > LIMITS["last_name"]
        ):
            values.setdefault("last_name", last_name)  # a name taken from the company must fit the column too
            for k, n in LIMITS.items():
                if k in values and len(values[k]) > n:
                    report.rejected.append((line, f"{k}: longer than {n} characters"))
                    return None
        if company and len(company) > MAX_COMPANY:
            report.rejected.append((line, f"company: longer than {MAX_COMPANY} characters"))
            return None
        care = self._care(values, line, report)
        if care is None:
            return None
        status, lost_at, reason = care
        account_lost = (lost_at, reason) if company and status == "lost" and lost_at and reason else None
        if company:  # the account is the customer: its contact stays active
            status, lost_at, reason = "active", None, None
        get = values.get
        contact = (
            get("first_name", ""),
            last_name,
            get("email"),
            get("job_title"),
            get("role"),
            tier,
            get("segment"),
            lang if lang and lang.isalpha() else None,
            ext,
            status,
            lost_at,
            reason,
        )
        return _Row(line, contact, company, parsed, account_lost)

    def _care(
        self, values: dict[str, str], line: int, report: ImportReport
    ) -> tuple[str, datetime | None, str | None] | None:
        """The line's care status, loss date and reason, or None when rejected (the reason reported)."""
        raw_status = values.get("care_status", "")
        status = CARE_STATUSES.get(raw_status.lower())
        if status is None:
            report.rejected.append((line, f"status {raw_status!r}: expected actif/active or perdu/lost"))
            return None
        date_text, reason = values.get("lost_at"), values.get("loss_reason")
        if status != "lost":
            if date_text or reason:
                report.rejected.append((line, "loss date or reason given for a customer who is not lost"))
                return None
            return status, None, None
        if not reason:
            report.rejected.append((line, "loss reason: a lost customer needs one"))
            return None
        if len(reason) > MAX_LOSS_REASON:
            report.rejected.append((line, f"loss reason: longer than {MAX_LOSS_REASON} characters"))
            return None
        try:
            lost_at = loss_date(date_text, self.zone, self._now) if date_text else self._now
        except ValueError as exc:
            report.rejected.append((line, f"loss date {exc}"))
            return None
        return status, lost_at, reason

    async def _write(self, batch: list[_Row], report: ImportReport) -> None:
        if not batch:
            return
        if self._tombstones is None:
            self._tombstones = await tombstones.load(
                self.db, self._tombstone_key or get_settings().tombstone_key()
            )
        if self._tombstones:
            batch = self._not_erased(batch, report)
        ext_ids = [r.contact[_EXTERNAL_ID] for r in batch if r.contact[_EXTERNAL_ID] is not None]
        if ext_ids:
            taken = set(
                await self.db.scalars(select(Contact.external_id).where(Contact.external_id.in_(ext_ids)))
            )
            if taken:
                keep = []
                for r in batch:
                    if r.contact[_EXTERNAL_ID] in taken:
                        report.rejected.append(
                            (r.line, f"identifier {r.contact[_EXTERNAL_ID]!r} already exists")
                        )
                    else:
                        keep.append(r)
                batch = keep
        await self._resolve_accounts({r.company for r in batch if r.company}, report)
        if not report.dry_run:
            await self._mark_accounts_lost([r for r in batch if r.account_lost is not None])
        report.imported += len(batch)
        report.numbers += sum(len(r.numbers) for r in batch)
        if report.dry_run or not batch:
            return
        now, accounts = utcnow(), self._accounts
        if self.db.bind.dialect.name == "postgresql":
            await self._copy(batch, now)
            return
        ids = list(
            await self.db.scalars(
                insert(Contact).returning(Contact.id, sort_by_parameter_order=True),
                [
                    dict(zip(CONTACT_COLUMNS, r.contact, strict=True))
                    | {
                        "account_id": accounts.get(r.company) if r.company else None,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for r in batch
                ],
            )
        )
        await self.db.execute(
            insert(PhoneNumber),
            [
                dict(zip(NUMBER_COLUMNS, n, strict=True)) | {"contact_id": cid}
                for r, cid in zip(batch, ids, strict=True)
                for n in r.numbers
            ],
        )
        if self.import_id is not None:
            await self._commit(batch, ids)

    def _not_erased(self, batch: list[_Row], report: ImportReport) -> list[_Row]:
        """Lines of a person whose data was erased (a number or the e-mail is a tombstone) are skipped and
        reported without the value."""
        assert self._tombstones is not None
        keep = []
        for r in batch:
            if self._tombstones.email(r.contact[_EMAIL]) or any(
                self._tombstones.number(n[1]) for n in r.numbers
            ):
                report.rejected.append((r.line, ERASED_REASON))
            else:
                keep.append(r)
        return keep

    async def _copy(self, batch: list[_Row], now: datetime) -> None:
        """PostgreSQL COPY on the session's own connection, so it stays inside the import's transaction: the
        contacts' ids drawn from their sequence in one query, then one COPY per table (binary, no statement
        per row)."""
        if self._sequence is None:
            self._sequence = await self.db.scalar(text("SELECT pg_get_serial_sequence('contacts', 'id')"))
        # The sequence named once, as a constant: pg_get_serial_sequence per row costs 6x the nextval.
        ids: list[int] = await self.db.scalar(
            text("SELECT array_agg(nextval(CAST(:seq AS regclass))) FROM generate_series(1, :n)"),
            {"seq": self._sequence, "n": len(batch)},
        )
        pg = (await (await self.db.connection()).get_raw_connection()).driver_connection
        accounts = self._accounts
        await pg.copy_records_to_table(
            "contacts",
            columns=["id", "account_id", *CONTACT_COLUMNS, "created_at", "updated_at"],
            records=[
                (cid, accounts.get(r.company) if r.company else None, *r.contact, now, now)
                for r, cid in zip(batch, ids, strict=True)
            ],
        )
        await pg.copy_records_to_table(
            "phone_numbers",
            columns=["contact_id", *NUMBER_COLUMNS],
            records=[(cid, *n) for r, cid in zip(batch, ids, strict=True) for n in r.numbers],
        )

    async def _mark_accounts_lost(self, rows: list[_Row]) -> None:
        """The accounts these lines mark lost (a later line of the file wins over an earlier one)."""
        losses = {self._accounts[r.company]: r.account_lost for r in rows if r.company and r.account_lost}
        if not losses:
            return
        table = Account.__table__
        await self.db.execute(
            table.update()
            .where(table.c.id == bindparam("b_id"))
            .values(
                care_status="lost",
                lost_at=bindparam("b_at", type_=table.c.lost_at.type),
                loss_reason=bindparam("b_reason"),
            ),
            [{"b_id": i, "b_at": at, "b_reason": why} for i, (at, why) in losses.items()],
        )

    async def _resolve_accounts(self, names: set[str], report: ImportReport) -> None:
        missing = [n for n in names if n not in self._accounts]
        if not missing:
            return
        if self.db.bind.dialect.name == "postgresql":
            found = await self.db.execute(_EXISTING_ACCOUNTS_PG, {"names": missing})
        else:
            found = await self.db.execute(select(Account.id, Account.name).where(Account.name.in_(missing)))
        for acc_id, name in found:
            self._accounts.setdefault(name, acc_id)
        new = [n for n in missing if n not in self._accounts]
        report.accounts_created += len(new)
        if not new:
            return
        if report.dry_run:
            self._accounts.update(dict.fromkeys(new, 0))
            return
        now = utcnow()
        ids = list(
            await self.db.scalars(
                insert(Account).returning(Account.id, sort_by_parameter_order=True),
                [{"name": n, "tier": Tier.standard, "created_at": now, "updated_at": now} for n in new],
            )
        )
        self._accounts.update(zip(new, ids, strict=True))
        self._new_accounts += ids


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


TARGET = "customer_import"  # the audit entries of one import share this target type and its id
STARTED, BATCH_WRITTEN = "customers_import_started", "customers_import_batch"
IMPORTED, FAILED = "customers_imported", "customers_import_failed"
INTERRUPTED = "interrupted: the process importing the file stopped; nothing was imported, import it again"


async def undo_import(session: AsyncSession, import_id: str, error: str) -> int:
    """Delete what the import's committed batches wrote (a transaction per batch: SQLite's write lock is
    let go between two), then write it failed. Returns how many contacts were deleted. Cut short, it is
    done again by the next recovery, which still sees the import without an end."""
    entries = await session.scalars(
        select(AuditLog.detail)
        .where(
            AuditLog.action == BATCH_WRITTEN, AuditLog.target_type == TARGET, AuditLog.target_id == import_id
        )
        .order_by(AuditLog.id)
    )
    removed = 0
    accounts: list[int] = []
    for detail in list(entries):
        first, last = detail["contacts"]
        # their numbers go with them (ON DELETE CASCADE)
        removed += (await session.execute(delete(Contact).where(Contact.id.between(first, last)))).rowcount
        accounts += detail.get("accounts") or []
        await session.commit()
    for chunk in (accounts[i : i + BATCH] for i in range(0, len(accounts), BATCH)):
        unused = select(Contact.id).where(Contact.account_id == Account.id).exists()
        await session.execute(delete(Account).where(Account.id.in_(chunk), ~unused))
        await session.commit()
    audit(
        session,
        FAILED,
        user_id=None,
        target_type=TARGET,
        target_id=import_id,
        detail={"error": error, "contacts_deleted": removed},
    )
    await session.commit()
    return removed


async def recover_interrupted(session: AsyncSession) -> list[str]:
    """The customer imports whose process died mid-way: their batches deleted, each written failed."""
    ended = select(AuditLog.target_id).where(
        AuditLog.action.in_((IMPORTED, FAILED)), AuditLog.target_type == TARGET
    )
    started = await session.execute(
        select(AuditLog.target_id, AuditLog.detail).where(
            AuditLog.action == STARTED, AuditLog.target_type == TARGET, AuditLog.target_id.not_in(ended)
        )
    )
    recovered = []
    for import_id, detail in list(started):
        if import_id is not None and runner_gone((detail or {}).get("runner") or {}):
            await undo_import(session, import_id, INTERRUPTED)
            recovered.append(import_id)
    return recovered


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
