"""The IVR data dip on SQLite and PostgreSQL: tier, open complaint, last agent for agent-only callbacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.customers import find_callers
from core.db import Database
from core.models import (
    Account,
    Call,
    CallDirection,
    Complaint,
    ComplaintStatus,
    Contact,
    PhoneNumber,
    Role,
    Tier,
    User,
)
from cti.ivr.agi import caller_variables, last_agent
from cti.numbers import parse

pytestmark = pytest.mark.db
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def contact(first: str, number: str, tier: Tier = Tier.standard, account: Account | None = None) -> Contact:
    parsed = parse(number, "FR")
    c = Contact(first_name=first, last_name="Test", tier=tier, account=account)
    c.numbers.append(PhoneNumber(e164=parsed.e164, suffix_key=parsed.suffix_key, raw=number))
    return c


async def dip(db: Database, caller: str) -> dict:
    async with db.session() as s:
        matches = await find_callers(s, caller, "FR")
        return await caller_variables(s, [m.contact for m in matches]) if matches else {"known": False}


@pytest.mark.parametrize(
    ("contact_tier", "account_tier", "expected"),
    [
        (Tier.standard, None, "standard"),
        (Tier.gold, None, "gold"),
        (Tier.standard, Tier.vip, "vip"),  # the company's tier lifts its people
        (Tier.vip, Tier.low, "vip"),
    ],
)
async def test_given_a_known_caller_when_dipped_then_the_best_of_contact_and_account_tier_is_used(
    db: Database, contact_tier: Tier, account_tier: Tier | None, expected: str
) -> None:
    account = Account(name="Atlas", tier=account_tier) if account_tier else None
    async with db.session() as s:
        c = contact("Nadia", "0522123456", contact_tier, account)
        s.add(c)
        await s.commit()
        contact_id = c.id
    found = await dip(db, "+212522123456")
    assert found == {
        "known": True,
        "tier": expected,
        "open_complaint": False,
        "customer_name": "Nadia Test",
        "contact_id": str(contact_id),
    }


@pytest.mark.parametrize(
    ("status", "open_"), [(ComplaintStatus.in_progress, True), (ComplaintStatus.closed, False)]
)
async def test_given_a_complaint_when_dipped_then_only_an_unresolved_one_counts(
    db: Database, status: ComplaintStatus, open_: bool
) -> None:
    async with db.session() as s:
        c = contact("Pierre", "0478123456")
        s.add(c)
        await s.flush()
        s.add(
            Complaint(
                contact_id=c.id,
                category="facturation",
                description="double prélèvement",
                status=status,
                ack_due_at=T0 + timedelta(days=10),
                answer_due_at=T0 + timedelta(days=60),
            )
        )
        await s.commit()
    assert (await dip(db, "04 78 12 34 56"))["open_complaint"] is open_


async def test_given_a_shared_number_when_dipped_then_no_single_name_is_guessed(db: Database) -> None:
    async with db.session() as s:
        s.add_all([contact("Hélène", "0145678910"), contact("Jérôme", "0145678910", Tier.gold)])
        await s.commit()
    found = await dip(db, "0145678910")
    assert (found["known"], found["tier"], found["customer_name"], found["contact_id"]) == (
        True,
        "gold",
        "",
        "",
    )


async def test_given_past_calls_when_an_agent_only_callback_is_asked_then_the_last_answering_agent_is_chosen(
    db: Database,
) -> None:
    async with db.session() as s:
        agents = [
            User(username=f"a{i}", display_name=f"A{i}", password_hash="x", role=Role.agent) for i in (1, 2)
        ]
        c = contact("Karim", "0698765432")
        s.add_all([*agents, c])
        await s.flush()
        for n, (agent, days) in enumerate([(agents[0], 3), (agents[1], 1), (None, 0)]):
            s.add(
                Call(
                    linkedid=f"dip.{n}",
                    direction=CallDirection.inbound,
                    contact_id=c.id,
                    agent_id=agent.id if agent else None,
                    offered_at=T0 - timedelta(days=days),
                    outcome="answered" if agent else "abandoned",
                )
            )
        await s.commit()
        assert await last_agent(s, c.id) == agents[1].id
        assert await last_agent(s, c.id + 1000) is None
