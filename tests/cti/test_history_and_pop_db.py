"""History writer and screen-pop on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import event, func, select

from app.call_history import CallHistoryWriter
from app.schemas import ComplaintOut, InteractionOut
from app.screenpop import ScreenPop
from core.bus import Message
from core.db import Database
from core.directory import AgentDirectory
from core.models import Account, Call, Complaint, Contact, Interaction, PhoneNumber, Role, Tier, User
from cti.events import AgentRinging, CallEnded, CallerId, CallOffered, CallRecord, Direction
from cti.numbers import parse
from tests.conftest import wait_for

pytestmark = pytest.mark.db
T0 = 1_795_415_613.0


def _record(linkedid: str, number: str | None = "0612345678", outcome: str = "answered") -> CallRecord:
    return CallRecord(
        linkedid=linkedid,
        direction=Direction.inbound,
        caller=CallerId(number, "Ana", False),
        called_number="5551000",
        queue="support",
        agent="PJSIP/agent1",
        offered_at=T0,
        answered_at=T0 + 5 if outcome == "answered" else None,
        ended_at=T0 + 65,
        wait_s=5.0,
        talk_s=60.0 if outcome == "answered" else None,
        hold_s=0.0,
        outcome=outcome,
        hangup_cause=16,
    )


async def _seed(db: Database) -> dict[str, int]:
    async with db.session() as s:
        acme = Account(name="Acme", tier=Tier.gold)
        s.add(acme)
        await s.flush()
        ana = Contact(first_name="Ana", last_name="Lopes", account_id=acme.id, tier=Tier.vip)
        s.add(ana)
        await s.flush()
        p = parse("0612345678", "FR")
        s.add(PhoneNumber(contact_id=ana.id, e164=p.e164, suffix_key=p.suffix_key))
        agent = User(
            username="agent1",
            display_name="Agent 1",
            password_hash="x",
            role=Role.agent,
            sip_endpoint="agent1",
        )
        s.add(agent)
        from datetime import UTC, datetime, timedelta

        now = datetime.now(UTC)
        s.add(
            Complaint(
                contact_id=ana.id,
                category="billing",
                description="<b>double</b> charge",
                ack_due_at=now + timedelta(days=3),
                answer_due_at=now + timedelta(days=1),
            )
        )
        await s.commit()
        return {"contact": ana.id, "agent": agent.id}


async def test_given_the_same_calls_written_twice_when_replayed_then_each_call_has_one_row_and_one_entry(db):
    ids = await _seed(db)
    directory = AgentDirectory(db)
    writer = CallHistoryWriter(db, directory, "FR")
    records = [_record("p-1.1"), _record("p-1.2", outcome="abandoned"), _record("p-1.3", number=None)]
    assert await writer.write(records) == 3
    assert await writer.write(records) == 0  # a resync or a retried batch changes nothing
    async with db.session() as s:
        calls = (await s.scalars(select(Call).order_by(Call.linkedid))).all()
        entries = await s.scalar(select(func.count()).select_from(Interaction))
    assert [(c.linkedid, c.outcome, c.contact_id, c.agent_id) for c in calls] == [
        ("p-1.1", "answered", ids["contact"], ids["agent"]),
        ("p-1.2", "abandoned", ids["contact"], ids["agent"]),
        ("p-1.3", "answered", None, ids["agent"]),
    ]
    assert entries == 2


async def test_given_a_stream_of_ended_calls_when_batched_then_every_one_lands_once(db):
    await _seed(db)
    writer = CallHistoryWriter(db, AgentDirectory(db), "FR", flush_s=0.05)
    writer.start()
    for n in range(120):
        writer.on_event(CallEnded(_record(f"p-2.{n}"), ("PJSIP/agent1",)))
    writer.on_event(CallEnded(_record("p-2.7"), ("PJSIP/agent1",)))  # a duplicate in the stream
    await writer.drain(20)
    await writer.stop()
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Call)) == 120


def _ring(linkedid: str, number: str | None, withheld: bool = False) -> AgentRinging:
    return AgentRinging(
        linkedid, "PJSIP/agent1", "leg-1", "support", CallerId(number, "Ana", withheld), "5551000", T0
    )


async def _pops(db: Database, event: Any, timeout_s: float = 1.0) -> list[dict[str, Any]]:
    sent: list[Message] = []
    pop = ScreenPop(db, sent.append, "FR", lookup_timeout_s=timeout_s)
    try:
        pop.on_event(event)
        await wait_for(lambda: any(not m.payload["partial"] for m in sent), 10, what="the full pop")
    finally:
        await pop.close()
    assert {m.audience.interface for m in sent} == {"PJSIP/agent1"}
    return [m.payload for m in sent]


async def _full_pop(pop: ScreenPop, sent: list[Message], event: AgentRinging) -> dict[str, Any]:
    pop.on_event(event)
    pop_id = f"{event.linkedid}:{event.agent}"
    await wait_for(
        lambda: any(m.payload["pop_id"] == pop_id and not m.payload["partial"] for m in sent),
        10,
        what="the full pop",
    )
    return next(m.payload for m in sent if m.payload["pop_id"] == pop_id and not m.payload["partial"])


class Checkouts:
    """Connections taken from and given back to the engine's pool, seen through SQLAlchemy's pool events:
    how many the pop has taken, how many it holds now, and the most it held at once."""

    def __init__(self, db: Database) -> None:
        self.taken = self.held = self.most = 0
        self._pool = db.engine.sync_engine
        event.listen(self._pool, "checkout", self._out)
        event.listen(self._pool, "checkin", self._in)

    def _out(self, *_: object) -> None:
        self.taken += 1
        self.held += 1
        self.most = max(self.most, self.held)

    def _in(self, *_: object) -> None:
        self.held -= 1

    def close(self) -> None:
        event.remove(self._pool, "checkout", self._out)
        event.remove(self._pool, "checkin", self._in)


class Statements:
    """The SQL statements the engine runs, with their parameters (SQLAlchemy's cursor events)."""

    def __init__(self, db: Database) -> None:
        self.seen: list[str] = []
        self._engine = db.engine.sync_engine
        event.listen(self._engine, "before_cursor_execute", self._note)

    def _note(self, _conn: object, _cursor: object, statement: str, parameters: object, *_: object) -> None:
        self.seen.append(f"{statement} {parameters!r}")

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._note)


async def test_given_a_warmed_pop_when_calls_ring_one_after_another_then_its_own_connections_serve_them(db):
    ids = await _seed(db)
    sent: list[Message] = []
    pop = ScreenPop(db, sent.append, "FR", connections=2)
    pool = Checkouts(db)
    try:
        await pop.warm()
        assert (pool.taken, pool.held) == (2, 2)  # its own two, kept
        for n in range(5):
            got = await _full_pop(pop, sent, _ring(f"p-5.{n}", "0612345678"))
            assert [m["id"] for m in got["matches"]] == [ids["contact"]]
        assert (pool.taken, pool.held) == (2, 2)  # none taken since the warm-up
    finally:
        pool.close()
        await pop.close()


@pytest.mark.parametrize(
    ("number_at_ring", "same_lookup"),
    [("0612345678", True), ("+33 6 12 34 56 78", False), ("0698765432", False)],
    ids=["same-number", "same-person-other-spelling", "another-number"],
)
async def test_given_an_inbound_call_when_it_arrives_then_the_caller_is_looked_up_before_the_ring(
    db, number_at_ring, same_lookup
):
    ids = await _seed(db)
    sent: list[Message] = []
    pop = ScreenPop(db, sent.append, "FR")
    try:
        caller = CallerId("0612345678", "Ana", False)
        pop.on_event(CallOffered("p-9.1", Direction.inbound, caller, "5551000", T0))
        # done before any ring: the caller's name is known and the match noted for the history writer
        await wait_for(lambda: pop.contact_name("p-9.1") == "Ana Lopes", 10, what="the lookup on arrival")
        assert pop.matches["p-9.1"] == [ids["contact"]]
        statements = Statements(db)

        got = await _full_pop(pop, sent, _ring("p-9.1", number_at_ring))

        statements.close()
        assert (statements.seen == []) == same_lookup  # the ring reused the arrival's lookup, or looked up
        expected = [] if number_at_ring == "0698765432" else [ids["contact"]]
        assert [m["id"] for m in got["matches"]] == expected  # what the ring's number matches
    finally:
        await pop.close()


async def test_given_an_outbound_call_when_it_starts_then_nothing_is_looked_up_before_an_agent_has_it(db):
    await _seed(db)
    pop = ScreenPop(db, [].append, "FR", connections=1)
    statements = Statements(db)
    try:
        pop.on_event(CallOffered("p-9.2", Direction.outbound, CallerId("0698765432", "Bo", False), None, T0))
        # an inbound call offered after it, on the pop's one connection: once its lookup is done, one the
        # outbound call had started would be done too
        pop.on_event(CallOffered("p-9.5", Direction.inbound, CallerId("0612345678", "Ana", False), None, T0))
        await wait_for(lambda: pop.contact_name("p-9.5") == "Ana Lopes", 10, what="the inbound lookup")
    finally:
        statements.close()
        await pop.close()
    assert statements.seen and not any("98765432" in s for s in statements.seen)
    assert pop.contact_name("p-9.2") is None and "p-9.2" not in pop.matches


async def test_given_a_call_that_ends_before_its_lookup_lands_when_it_lands_then_no_match_is_left_behind(db):
    ids = await _seed(db)
    pop = ScreenPop(db, [].append, "FR", connections=1)
    try:
        caller = CallerId("0612345678", "Ana", False)
        pop.on_event(CallOffered("p-9.3", Direction.inbound, caller, "5551000", T0))
        pop.on_event(CallEnded(_record("p-9.3"), ()))  # the caller hung up at once
        # the next caller's lookup queues behind p-9.3's on the pop's one connection: once it is done,
        # p-9.3's has landed
        pop.on_event(CallOffered("p-9.4", Direction.inbound, caller, "5551000", T0))

        await wait_for(lambda: pop.contact_name("p-9.4") == "Ana Lopes", 10, what="the next lookup")

        assert pop.matches == {
            "p-9.4": [ids["contact"]]
        }  # p-9.3's: none left; the history writer finds its own
    finally:
        await pop.close()


async def test_given_more_rings_at_once_than_pop_connections_when_looked_up_then_each_waits_its_turn(db):
    ids = await _seed(db)
    sent: list[Message] = []
    pop = ScreenPop(db, sent.append, "FR", connections=2)
    pool = Checkouts(db)
    try:
        for n in range(6):
            pop.on_event(dataclasses.replace(_ring(f"p-8.{n}", "0612345678"), agent=f"PJSIP/agent{n}"))
        await wait_for(lambda: sum(not m.payload["partial"] for m in sent) == 6, 10, what="six full pops")
        assert (pool.taken, pool.most) == (2, 2)  # never more than its own connections, kept for the next
        assert all(m.payload["matches"][0]["id"] == ids["contact"] for m in sent if not m.payload["partial"])
    finally:
        pool.close()
        await pop.close()


async def test_given_the_pop_connection_killed_by_the_server_when_a_call_rings_then_the_full_pop_comes(db):
    if db.url.startswith("sqlite"):
        pytest.skip("an embedded SQLite connection cannot be cut from the server side")
    ids = await _seed(db)
    sent: list[Message] = []
    pop = ScreenPop(db, sent.append, "FR", connections=1)
    try:
        await pop.warm()
        async with (
            db.engine.connect() as admin
        ):  # every other connection to the database, the pop's among them
            killed = await admin.exec_driver_sql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            assert killed.scalar() >= 1
        got = await _full_pop(pop, sent, _ring("p-6.1", "0612345678"))
        assert [m["id"] for m in got["matches"]] == [ids["contact"]] and "error" not in got
    finally:
        await pop.close()


async def test_given_a_known_caller_when_ringing_then_the_pop_has_contact_account_history_and_complaints(db):
    ids = await _seed(db)
    (pop,) = await _pops(db, _ring("p-3.1", "+33 6 12 34 56 78"))
    got = [(m["id"], m["account"]["name"], m["tier"]) for m in pop["matches"]]
    assert got == [(ids["contact"], "Acme", "vip")]
    assert [(c["category"], c["sla_state"]) for c in pop["complaints"]] == [("billing", "due_soon")]
    assert pop["complaints"][0]["description"] == "<b>double</b> charge"  # data, rendered as text by the desk
    assert pop["new_contact"] is None and pop["phase"] == "ringing"


async def test_given_a_known_caller_when_popped_then_history_and_complaints_read_as_the_api_shows_them(db):
    ids = await _seed(db)
    writer = CallHistoryWriter(db, AgentDirectory(db), "FR")
    await writer.write([_record("p-7.1")])  # one timeline entry for the contact
    (pop,) = await _pops(db, _ring("p-7.2", "0612345678"))
    async with db.session() as s:
        entries = (await s.scalars(select(Interaction).where(Interaction.contact_id == ids["contact"]))).all()
        complaints = (await s.scalars(select(Complaint))).all()
    assert pop["history"] == [InteractionOut.model_validate(e).model_dump(mode="json") for e in entries]
    assert [{**c, "sla_state": ""} for c in pop["complaints"]] == [
        ComplaintOut.model_validate(c).model_dump(mode="json") for c in complaints
    ]


async def test_given_a_slow_store_when_ringing_then_a_partial_pop_goes_at_once_and_the_full_one_follows(db):
    await _seed(db)
    pops = await _pops(db, _ring("p-3.2", "0612345678"), timeout_s=0.000_001)
    assert [p["partial"] for p in pops] == [True, False]
    assert pops[0]["caller"]["e164"] == "+33612345678" and pops[0]["matches"] == []
    assert pops[1]["pop_id"] == pops[0]["pop_id"] and len(pops[1]["matches"]) == 1


@pytest.mark.parametrize(
    ("number", "withheld", "expected_form"),
    [
        ("0698765432", False, {"number": "+33698765432", "first_name": "Ana", "last_name": ""}),
        (None, True, None),
        (None, False, None),
    ],
    ids=["unknown", "withheld", "garbage"],
)
async def test_given_an_unknown_or_hidden_caller_when_ringing_then_the_pop_offers_what_it_can(
    db, number, withheld, expected_form
):
    await _seed(db)
    (pop,) = await _pops(db, _ring("p-3.3", number, withheld))
    assert pop["matches"] == [] and pop["new_contact"] == expected_form
    assert pop["caller"]["withheld"] is withheld


async def test_given_a_record_that_the_database_refuses_when_written_then_it_is_kept_in_the_dead_letter_file(
    db, tmp_path
):
    if db.url.startswith("sqlite"):
        pytest.skip("SQLite does not enforce VARCHAR lengths: nothing to refuse")
    writer = CallHistoryWriter(
        db, AgentDirectory(db), "FR", flush_s=0.05, dead_letter=tmp_path / "dead.jsonl"
    )
    writer.retry_base_s = 0
    too_long = dataclasses.replace(_record("p-4.1"), linkedid="p-4.1" + "x" * 100)  # over the column
    writer.start()
    try:  # both end in one batch, which the database refuses whole
        writer.on_event(CallEnded(too_long, ("PJSIP/agent1",)))
        writer.on_event(CallEnded(_record("p-4.2"), ("PJSIP/agent1",)))
        await writer.drain(20)
    finally:
        await writer.stop()
    assert writer.failed_batches >= 5, writer.failed_batches
    assert "p-4.1xxx" in (tmp_path / "dead.jsonl").read_text()
    async with db.session() as s:
        assert (await s.scalars(select(Call.linkedid))).all() == ["p-4.2"]
