"""Interval reports, agent state time and KPI windows over real call rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from core.models import AgentStateLog, Call, CallDirection, Queue, User, utcnow
from tests.app.api.conftest import Api

pytestmark = pytest.mark.db
DAY = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)  # 09:00 in Paris
PERIOD = {"since": "2026-03-10T00:00:00+01:00", "until": "2026-03-11T00:00:00+01:00"}


async def _calls(api: Api, rows: list[tuple[int, float, bool, str | None]], queue: str = "support") -> None:
    """(minute after DAY, wait, answered, agent username)."""
    async with api.db.session() as s:
        for i, (minute, wait, answered, agent) in enumerate(rows):
            offered = DAY + timedelta(minutes=minute)
            s.add(
                Call(
                    linkedid=f"{queue}.{i}",
                    direction=CallDirection.inbound,
                    queue=queue,
                    agent_id=api.users[agent].id if agent else None,
                    offered_at=offered,
                    answered_at=offered + timedelta(seconds=wait) if answered else None,
                    ended_at=offered + timedelta(seconds=wait + 200),
                    wait_s=wait,
                    talk_s=150 if answered else None,
                    hold_s=20 if answered else None,
                    wrap_s=30 if answered else None,
                    outcome="answered" if answered else "abandoned",
                )
            )
        await s.commit()


async def test_given_calls_in_two_half_hours_when_reported_by_queue_then_each_interval_has_its_kpis(
    api: Api,
) -> None:
    async with api.db.session() as s:
        s.add(Queue(name="support", display_name="Support", service_level_s=20, sl_variant="offered"))
        await s.commit()
    await _calls(
        api, [(1, 10, True, "agent"), (5, 30, True, "agent"), (20, 3, False, None), (35, 8, True, "agent2")]
    )
    c = await api.bearer("supervisor")
    r = await c.get("/api/v1/reports/intervals", params={**PERIOD, "interval": "30"})
    assert r.status_code == 200, r.text
    rows = r.json()
    assert [(x["start"], x["offered"], x["answered"], x["abandoned"]) for x in rows] == [
        ("2026-03-10T08:00:00Z", 3, 2, 1),
        ("2026-03-10T08:30:00Z", 1, 1, 0),
    ]
    first = rows[0]
    assert first["sl_variant"] == "offered" and first["service_level"] == pytest.approx(
        1 / 3
    )  # the queue's formula
    assert first["asa_s"] == 20 and first["aht_s"] == 200 and first["short_abandoned"] == 1


async def test_given_calls_when_reported_by_agent_then_each_agent_has_handled_calls_and_aht(api: Api) -> None:
    await _calls(
        api, [(1, 10, True, "agent"), (5, 30, True, "agent"), (20, 3, False, None), (35, 8, True, "agent2")]
    )
    c = await api.bearer("manager")
    rows = (
        await c.get("/api/v1/reports/intervals", params={**PERIOD, "interval": "60", "by": "agent"})
    ).json()
    assert [(x["agent"], x["answered"], x["aht_s"]) for x in rows] == [
        ("Agent", 2, 200.0),
        ("Agent2", 1, 200.0),
    ]


async def test_given_a_hostile_agent_name_when_exported_as_csv_then_the_cell_is_neutralised(api: Api) -> None:
    async with api.db.session() as s:
        user = await s.get(User, api.users["agent"].id)
        assert user is not None
        user.display_name = '=HYPERLINK("http://evil")'
        await s.commit()
    await _calls(api, [(1, 10, True, "agent")])
    c = await api.bearer("manager")  # language fr: ';' and decimal comma
    r = await c.get("/api/v1/reports/intervals", params={**PERIOD, "by": "agent", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == [
        "agent_id",
        "agent",
        "start",
        "answered",
        "handled",
        "talk_s",
        "hold_s",
        "wrap_s",
        "aht_s",
    ]
    assert rows[1][1] == '\'=HYPERLINK("http://evil")'


async def test_given_state_periods_when_reported_then_time_per_state_and_reason_is_clipped_to_the_period(
    api: Api,
) -> None:
    uid = api.users["agent"].id
    t = DAY
    async with api.db.session() as s:
        for state, minutes, reason in [
            ("ready", 30, None),
            ("talk", 45, None),
            ("pause", 15, "dejeuner"),
            ("wrap", 10, None),
        ]:
            s.add(
                AgentStateLog(
                    user_id=uid,
                    state=state,
                    reason=reason,
                    started_at=t,
                    ended_at=t + timedelta(minutes=minutes),
                )
            )
            t += timedelta(minutes=minutes)
        s.add(
            AgentStateLog(
                user_id=uid,
                state="ready",
                started_at=DAY - timedelta(days=2),
                ended_at=DAY - timedelta(days=1),
            )
        )
        await s.commit()
    c = await api.bearer("supervisor")
    rows = (await c.get("/api/v1/reports/agent-states", params=PERIOD)).json()
    assert len(rows) == 1
    row = rows[0]
    assert (row["ready_s"], row["talk_s"], row["wrap_s"], row["pause_s"]) == (1800, 2700, 600, 900)
    assert row["pause_by_reason"] == {"dejeuner": 900} and row["logged_in_s"] == 6000
    assert row["occupancy"] == pytest.approx(3300 / 5100)


async def test_given_recent_calls_when_kpi_windows_are_asked_then_each_window_counts_its_own_calls(
    api: Api,
) -> None:
    now = utcnow()
    async with api.db.session() as s:
        for i, minutes_ago in enumerate([5, 20, 50]):
            offered = now - timedelta(minutes=minutes_ago)
            s.add(Call(linkedid=f"k{i}", direction=CallDirection.inbound, queue="support", offered_at=offered,
                       answered_at=offered + timedelta(seconds=5), ended_at=offered + timedelta(seconds=65),
                       wait_s=5, talk_s=60, outcome="answered"))  # fmt: skip
        await s.commit()
    c = await api.bearer("supervisor")
    windows = {w["window"]: w for w in (await c.get("/api/v1/reports/kpi")).json()}
    assert set(windows) == {"today", "15", "30", "60"}
    assert [windows[w]["queues"][0]["offered"] for w in ("15", "30", "60")] == [1, 2, 3]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-03-10T00:00:00Z", "until": "2026-03-09T00:00:00Z"}, "until"),
        ({"since": "2026-01-01T00:00:00Z", "until": "2026-03-09T00:00:00Z"}, "until"),
        ({"interval": "20"}, "interval"),
        ({"by": "team"}, "by"),
        ({"format": "xlsx"}, "format"),
    ],
)
async def test_given_a_bad_report_query_when_asked_then_a_422_names_the_field(
    api: Api, params: dict[str, str], field: str
) -> None:
    c = await api.bearer("manager")
    r = await c.get("/api/v1/reports/intervals", params=params)
    assert r.status_code == 422
    assert field in {str(x) for e in r.json()["detail"] for x in e["loc"]}


async def test_given_an_agent_when_asking_for_reports_then_it_is_refused(api: Api) -> None:
    c = await api.bearer("agent")
    assert (await c.get("/api/v1/reports/intervals")).status_code == 403


async def test_given_an_admin_when_changing_a_queues_sl_formula_then_reports_use_the_new_one(
    api: Api,
) -> None:
    admin = await api.bearer("admin")
    r = await admin.post("/api/v1/queues", json={"name": "support", "display_name": "Support"})
    assert r.status_code == 201 and r.json()["sl_variant"] == "short_abandons_excluded"
    assert r.json()["short_abandon_s"] == 5 and r.json()["sl_target_pct"] == 80
    qid = r.json()["id"]
    bad = await admin.patch(f"/api/v1/queues/{qid}", json={"sl_variant": "made_up"})
    assert bad.status_code == 422 and "sl_variant" in bad.text
    r = await admin.patch(f"/api/v1/queues/{qid}", json={"sl_variant": "answered", "service_level_s": 10})
    assert r.status_code == 200 and r.json()["sl_variant"] == "answered"
    await _calls(api, [(1, 5, True, "agent"), (2, 15, True, "agent"), (3, 2, False, None)])
    rows = (await admin.get("/api/v1/reports/intervals", params={**PERIOD, "interval": "60"})).json()
    assert (rows[0]["sl_variant"], rows[0]["sl_threshold_s"], rows[0]["service_level"]) == (
        "answered",
        10,
        0.5,
    )
