"""Writing a batch of customer lines: erased persons and known identifiers left out, accounts found or
created, contacts and numbers inserted (COPY on PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, insert, select, text

from app.customer_import.columns import (
    _EMAIL,
    _EXTERNAL_ID,
    CONTACT_COLUMNS,
    NUMBER_COLUMNS,
    ImportReport,
    _Row,
)
from core import tombstones
from core.models import Account, Contact, PhoneNumber, Tier, utcnow
from core.settings import get_settings
from core.tombstones import ERASED_REASON

# The accounts named in a batch, one index probe per name. `name IN (…)` has no statistics to go by for
# the accounts this import created (uncommitted, never analysed): PostgreSQL scanned the whole table for
# every batch, comparing each row with every name, so the import slowed as its accounts grew.
_EXISTING_ACCOUNTS_PG = text(
    "SELECT a.id, a.name FROM unnest(CAST(:names AS text[])) AS n(name) "
    "CROSS JOIN LATERAL (SELECT id, name FROM accounts WHERE accounts.name = n.name OFFSET 0) AS a"
)  # OFFSET 0: the subquery is not flattened into a join the planner would hash over a full scan


class BatchWrites:
    """A batch of rows written to contacts, phone numbers and accounts."""

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
