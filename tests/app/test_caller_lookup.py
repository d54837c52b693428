"""Caller matching against the customer store, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from app.customers import find_callers, find_contact_ids, matched_contact_ids
from core.db import Database
from core.models import Account, Contact, NumberKind, PhoneNumber
from cti.numbers import lookup_keys, parse


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


async def test_given_an_exact_and_a_foreign_number_with_the_same_last_digits_when_called_then_only_exact(
    db: Database,
) -> None:
    french = await _contact(db, "Martin", "06 12 34 56 78", "01 40 00 00 01")
    await _contact(db, "Bennani", "+212 6 12 34 56 78")
    async with db.session() as s:
        matches = await find_callers(s, "+33 6 12 34 56 78", "FR")
    assert [(m.contact.id, m.how, m.number.e164) for m in matches] == [(french, "exact", "+33612345678")]
    assert [n.e164 for n in matches[0].contact.numbers] == ["+33612345678", "+33140000001"]


async def test_given_no_exact_match_when_last_digits_are_shared_then_every_contact_matches_once(
    db: Database,
) -> None:
    a = await _contact(db, "Martin", "06 12 34 56 78", "+41 6 12 34 56 78")  # two numbers, same last digits
    b = await _contact(db, "Bennani", "+212 6 12 34 56 78")
    async with db.session() as s:
        matches = await find_callers(s, "+44 7612 345678", "FR")  # not a valid number: last digits only
    assert [(m.contact.id, m.how, m.number.e164) for m in matches] == [
        (a, "suffix", "+33612345678"),
        (b, "suffix", "+212612345678"),
    ]


@pytest.mark.parametrize("caller_id", ["+33 6 12 34 56 78", "+44 7612 345678", "0712345678", "anonymous"])
async def test_given_a_batch_when_looked_up_by_ids_then_it_agrees_with_the_single_lookup(
    db: Database, caller_id: str
) -> None:
    await _contact(db, "Martin", "06 12 34 56 78", "+41 6 12 34 56 78")
    await _contact(db, "Bennani", "+212 6 12 34 56 78")
    async with db.session() as s:
        single = [m.contact.id for m in await find_callers(s, caller_id, "FR")]
        batch = await find_contact_ids(s, [caller_id, "+33 1 40 00 00 00"], "FR")
    assert batch.get(caller_id, []) == single


@pytest.mark.parametrize(
    "caller_id, limit",
    [
        ("+33 6 12 34 56 78", 10),  # exact matches only, the foreign same-digits contact left out
        ("+44 7612 345678", 10),  # suffix matches only: every contact
        ("+44 7612 345678", 3),  # capped: the first ones, in match order
        ("0712345678", 10),  # nothing
        ("anonymous", 10),  # no keys at all
    ],
)
async def test_given_the_pops_subquery_when_run_on_the_callers_keys_then_it_names_the_matched_contacts(
    db: Database, caller_id: str, limit: int
) -> None:
    for i in range(6):
        await _contact(db, f"Martin{i}", "06 12 34 56 78", "+41 6 12 34 56 78")
    await _contact(db, "Bennani", "+212 6 12 34 56 78")
    e164, suffix = lookup_keys(caller_id, "FR")
    async with db.session() as s:
        single = [m.contact.id for m in await find_callers(s, caller_id, "FR")]
        ids = list(await s.scalars(matched_contact_ids(limit), {"e164": e164, "suffix": suffix}))
    assert ids == single[:limit]
