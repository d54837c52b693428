"""Caller matching against the customer store, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from app.customers import find_callers
from app.db import Database
from app.models import Account, Contact, NumberKind, PhoneNumber
from cti.numbers import parse


async def _contact(db: Database, last: str, *numbers: str, account: str | None = None) -> int:
    async with db.session() as s:
        acc = Account(name=account) if account else None
        c = Contact(last_name=last, first_name="", account=acc)
        for raw in numbers:
            p = parse(raw)
            c.numbers.append(
                PhoneNumber(e164=p.e164, suffix_key=p.suffix_key, kind=NumberKind.mobile, raw=raw)
            )
        s.add(c)
        await s.commit()
        return c.id


async def test_given_two_contacts_sharing_a_switchboard_when_it_calls_then_both_match(db: Database) -> None:
    a = await _contact(db, "Martin", "01 40 00 00 00", account="ACME")
    b = await _contact(db, "Durand", "+33 1 40 00 00 00", account="ACME")
    await _contact(db, "Other", "06 12 34 56 78")
    async with db.session() as s:
        matches = await find_callers(s, "0033140000000", "FR")
    assert sorted(m.contact.id for m in matches) == sorted([a, b])
    assert {m.how for m in matches} == {"exact"}
    assert {m.contact.account.name for m in matches if m.contact.account} == {"ACME"}


async def test_given_no_exact_match_when_trunk_sends_odd_prefix_then_suffix_matches(db: Database) -> None:
    a = await _contact(db, "Bennani", "+212 6 61 23 45 67")
    async with db.session() as s:
        # A trunk that prepends an outside-line 0 and drops the country code: not a valid number, same digits.
        matches = await find_callers(s, "00661234567", "FR")
    assert [(m.contact.id, m.how) for m in matches] == [(a, "suffix")]


@pytest.mark.parametrize("caller_id", ["", "anonymous", "Restricted", "<unknown>", "12", "abc\r\nEvent: x"])
async def test_given_withheld_or_junk_caller_id_when_looked_up_then_no_match_and_no_error(
    db: Database, caller_id: str
) -> None:
    await _contact(db, "Martin", "06 12 34 56 78")
    async with db.session() as s:
        assert await find_callers(s, caller_id, "FR") == []
