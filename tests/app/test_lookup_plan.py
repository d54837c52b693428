"""Caller lookup never scans: the plan uses the suffix_key index (exact matches rank first), both engines."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, text

from app.customers import lookup_statement
from core.db import Database
from core.models import Contact, NumberKind, PhoneNumber

ROWS = 20_000


async def _fill(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(
            insert(Contact),
            [
                {"id": i, "last_name": f"N{i}", "first_name": "", "tier": "standard"}
                for i in range(1, ROWS + 1)
            ],
        )
        await conn.execute(
            insert(PhoneNumber),
            [
                {
                    "contact_id": i,
                    "e164": f"+336{i:08d}",
                    "suffix_key": f"6{i:08d}",
                    "kind": NumberKind.mobile,
                }
                for i in range(1, ROWS + 1)
            ],
        )
        await conn.execute(text("ANALYZE"))


async def _plan(db: Database, stmt) -> str:  # type: ignore[no-untyped-def]
    async with db.engine.connect() as conn:
        sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        prefix = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
        rows = (await conn.execute(text(prefix + sql))).all()
    return "\n".join(str(r[-1]) for r in rows)


@pytest.mark.parametrize(
    "keys",
    [
        {"e164": "+33600001234", "suffix": "600001234"},  # a caller ID that parses
        {"e164": None, "suffix": "600001234"},  # one that does not: its last digits only
    ],
)
async def test_given_many_numbers_when_looking_up_then_the_plan_uses_the_index_not_a_scan(
    db: Database, keys: dict[str, str | None]
) -> None:
    await _fill(db)
    plan = await _plan(db, lookup_statement(**keys))  # type: ignore[arg-type]
    assert "ix_phone_numbers_suffix_key" in plan, plan
    for table in ("phone_numbers", "own", "contacts"):  # the hit numbers, their contacts' numbers, contacts
        assert f"SCAN {table}" not in plan and f"Seq Scan on {table}" not in plan, plan
