"""IVR history on SQLite and PostgreSQL: rows keyed by Linkedid, the pop summary, the exit report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.screenpop import ScreenPop
from core.bus import Message
from core.db import Database
from cti.events import AgentRinging, CallerId
from cti.ivr import history
from cti.ivr.interpreter import Exit
from tests.conftest import wait_for

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
MENU_2 = [
    {"node": "hours", "type": "hours", "result": "open"},
    {
        "node": "menu",
        "type": "menu",
        "label": "menu principal",
        "digits": "2",
        "choice": "2",
        "choice_label": "facturation",
    },
    {"node": "facturation", "type": "queue", "label": "facturation", "result": "queued"},
]


@pytest.mark.parametrize(
    ("path", "exit_", "language", "text"),
    [
        (
            MENU_2,
            {"kind": "queue", "queue": "support", "priority": 0},
            "fr",
            "a choisi 2 — facturation ; → file support",
        ),
        (
            MENU_2,
            {"kind": "queue", "queue": "support", "priority": 0},
            "en",
            "chose 2 — facturation; → queue support",
        ),
        (
            [
                {"node": "lookup", "type": "lookup", "result": "known", "tier": "vip"},
                {"node": "vip", "type": "queue", "result": "queued"},
            ],
            {"kind": "queue", "queue": "support", "priority": 10},
            "fr",
            "client reconnu VIP ; → file support (prioritaire)",
        ),
        (
            [{"node": "hours", "type": "hours", "result": "holiday", "reason": "Noël"}],
            {"kind": "voicemail"},
            "fr",
            "jour férié (Noël) ; a laissé un message",
        ),
        (
            [{"node": "menu", "type": "menu", "label": "menu principal", "result": "caller_hangup"}],
            {"kind": "caller_hangup", "node": "menu"},
            "fr",
            "a raccroché dans le SVI (menu principal)",
        ),
        (
            [
                {"node": "m", "type": "menu", "digits": "9", "result": "invalid"},
                {"node": "m", "type": "menu", "result": "failed"},
            ],
            {"kind": "queue", "queue": "hotline", "priority": 0},
            "fr",
            "aucun choix valide ; → file hotline",
        ),
        (
            [{"node": "cb", "type": "callback", "result": "scheduled", "number": "+33612345678"}],
            {"kind": "hangup"},
            "fr",
            "rappel demandé au +33612345678",
        ),
        ([{"node": "x", "type": "play"}], {"kind": "error"}, "fr", "incident SVI, file de secours"),
        ([], {"kind": "transfer", "number": "+441632960000"}, "en", "→ transferred to +441632960000"),
    ],
)
def test_given_an_ivr_path_when_described_then_one_readable_line_comes_out(
    path: list[dict[str, Any]], exit_: dict[str, Any], language: str, text: str
) -> None:
    assert history.describe(path, exit_, language) == text


async def pass_(
    db: Database, linkedid: str, flow: str, path: list[dict[str, Any]], exit_: Exit | None, at: datetime
) -> int:
    async with db.session() as s:
        row_id = await history.record_start(
            s, linkedid=linkedid, uniqueid=linkedid, flow=flow, did="5551000", caller="0612345678"
        )
    async with db.session() as s:
        row = await s.get(history.IvrSession, row_id)
        assert row is not None
        row.started_at = at
        await s.commit()
        if exit_ is not None:
            await history.record_end(s, row_id, path=path, exit_=exit_, ended_at=at + timedelta(seconds=12.5))
    return row_id


@pytest.mark.db
async def test_given_a_call_through_the_ivr_when_summarised_then_the_pop_gets_path_choice_and_exit(
    db: Database,
) -> None:
    await pass_(
        db, "1795.1", "accueil", MENU_2, Exit("queue", "facturation", queue="support", max_wait_s=600), T0
    )
    async with db.session() as s:
        summary = await history.ivr_summary(s, "1795.1")
        assert await history.ivr_summary(s, "no-such-call") is None
    assert summary is not None
    assert summary["summary"] == "a choisi 2 — facturation ; → file support"
    assert summary["choices"] == [{"key": "2", "label": "facturation"}]
    assert summary["digits"] == "2" and summary["duration_s"] == 12.5
    assert summary["exit"] == {
        "kind": "queue",
        "node": "facturation",
        "queue": "support",
        "priority": 0,
        "max_wait_s": 600,
    }
    assert [p["node"] for p in summary["path"]] == ["hours", "menu", "facturation"]
    assert summary["in_ivr"] is False


@pytest.mark.db
async def test_given_two_passes_of_one_call_when_summarised_then_both_paths_join_in_order(
    db: Database,
) -> None:
    await pass_(
        db,
        "1795.2",
        "accueil",
        MENU_2,
        Exit("queue", "facturation", queue="support", on_timeout="rappel"),
        T0,
    )
    callback = [
        {"node": "rappel", "type": "callback", "result": "scheduled", "number": "+33612345678", "digits": "1"}
    ]
    await pass_(db, "1795.2", "accueil", callback, Exit("hangup", "rappel-ok"), T0 + timedelta(minutes=10))
    async with db.session() as s:
        summary = await history.ivr_summary(s, "1795.2")
    assert summary is not None
    assert summary["summary"] == "a choisi 2 — facturation ; rappel demandé au +33612345678"
    assert summary["digits"] == "21" and summary["duration_s"] == 25.0
    assert summary["exit"]["kind"] == "hangup"


@pytest.mark.db
async def test_given_a_caller_still_in_the_ivr_when_summarised_then_it_says_so(db: Database) -> None:
    await pass_(db, "1795.3", "accueil", [], None, T0)
    async with db.session() as s:
        summary = await history.ivr_summary(s, "1795.3")
    assert summary is not None and summary["in_ivr"] is True and summary["exit"] is None


@pytest.mark.db
async def test_given_passes_when_the_exit_report_runs_then_each_exit_is_counted_per_flow(
    db: Database,
) -> None:
    queue = Exit("queue", "facturation", queue="support")
    for i in range(3):
        await pass_(db, f"r.{i}", "accueil", MENU_2, queue, T0 + timedelta(minutes=i))
    await pass_(db, "r.3", "accueil", [], Exit("caller_hangup", "menu"), T0)
    await pass_(db, "r.4", "main-en", [], Exit("transfer", "partner", number="+441632960000"), T0)
    await pass_(
        db, "r.5", "accueil", [], Exit("caller_hangup", "menu"), T0 - timedelta(days=2)
    )  # out of range
    async with db.session() as s:
        report = await history.ivr_exit_report(
            s, since=T0 - timedelta(hours=1), until=T0 + timedelta(hours=1)
        )
        only = await history.ivr_exit_report(
            s, since=T0 - timedelta(hours=1), until=T0 + timedelta(hours=1), flow="main-en"
        )
    assert [(r["flow"], r["exit_node"], r["exit_kind"], r["count"], r["share"]) for r in report] == [
        ("accueil", "facturation", "queue", 3, 0.75),
        ("accueil", "menu", "caller_hangup", 1, 0.25),
        ("main-en", "partner", "transfer", 1, 1.0),
    ]
    assert report[0]["avg_duration_s"] == 12.5
    assert [r["flow"] for r in only] == ["main-en"]


@pytest.mark.db
async def test_given_hostile_caller_id_when_recorded_then_it_is_stored_truncated_not_rejected(
    db: Database,
) -> None:
    async with db.session() as s:
        row_id = await history.record_start(
            s,
            linkedid="x" * 80,
            uniqueid="u",
            flow="accueil",
            did="5551000",
            caller="06\r\nEvent: Forged" * 5,
        )
        row = await s.get(history.IvrSession, row_id)
    assert row is not None and len(row.linkedid) == 64 and row.caller is not None and len(row.caller) == 32


@pytest.mark.db
async def test_given_menu_choices_when_the_choice_report_runs_then_keys_are_counted_per_menu(
    db: Database,
) -> None:
    sales = [{"node": "menu", "type": "menu", "digits": "1", "choice": "1", "choice_label": "ventes"}]
    for i in range(2):
        await pass_(db, f"c.{i}", "accueil", MENU_2, Exit("queue", "facturation", queue="support"), T0)
    await pass_(db, "c.2", "accueil", sales, Exit("queue", "ventes", queue="sales"), T0)
    await pass_(db, "c.3", "accueil", [], Exit("caller_hangup", "menu"), T0)
    async with db.session() as s:
        report = await history.ivr_choice_report(
            s, since=T0 - timedelta(hours=1), until=T0 + timedelta(hours=1)
        )
    assert report == [
        {"flow": "accueil", "node": "menu", "key": "2", "label": "facturation", "count": 2},
        {"flow": "accueil", "node": "menu", "key": "1", "label": "ventes", "count": 1},
    ]


async def _full_pop(db: Database, linkedid: str, summary: Any) -> dict[str, Any]:
    sent: list[Message] = []
    pop = ScreenPop(db, sent.append, "FR", ivr_summary=summary, lookup_timeout_s=5)
    try:
        ring = AgentRinging(
            linkedid,
            "PJSIP/agent1",
            "leg-1",
            "support",
            CallerId("0612345678", None, False),
            "5551000",
            T0.timestamp(),
        )
        pop.on_event(ring)
        await wait_for(lambda: any(not m.payload["partial"] for m in sent), 10, what="the full pop")
    finally:
        await pop.close()
    return next(m.payload for m in sent if not m.payload["partial"])


@pytest.mark.db
async def test_given_a_call_through_the_ivr_when_it_rings_an_agent_then_the_pop_carries_the_ivr_path(
    db: Database,
) -> None:
    await pass_(db, "1795.7", "accueil", MENU_2, Exit("queue", "facturation", queue="support"), T0)
    got = await _full_pop(db, "1795.7", history.ivr_summary)
    assert got["ivr"]["summary"] == "a choisi 2 — facturation ; → file support"
    assert got["matches"] == [] and got["new_contact"]["number"] == "+33612345678"


@pytest.mark.db
async def test_given_the_ivr_summary_fails_when_the_call_rings_then_the_pop_goes_out_without_it(
    db: Database,
) -> None:
    async def broken(_session: Any, _linkedid: str) -> None:  # a fault the real store cannot make on demand
        raise RuntimeError("ivr table unreadable")

    got = await _full_pop(db, "1795.8", broken)
    assert got["ivr"] is None and "error" not in got
