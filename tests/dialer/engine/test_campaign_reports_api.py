"""Campaign reports and wallboard tiles on SQLite and PostgreSQL: passes counted over the lead's whole
history, lists, agents, the CSV export (formula cells neutralised), roles, the period checks; the
campaign feed publishing a tile to a supervisor's connection, and only when it changed."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.ws_hub import Hub
from core.bus import Principal
from core.dialer_tables import CallList, Campaign, CampaignList, CampaignState, Lead, LeadAttempt
from core.models import User
from dialer.campaign_feed import CampaignFeed
from dialer.engine import DialerService
from tests.app.api.conftest import Api, api  # noqa: F401

pytestmark = pytest.mark.db

DAY = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)  # 10:00 in Paris
PERIOD = {"since": "2026-11-10T00:00:00+01:00", "until": "2026-11-11T00:00:00+01:00"}
EVIL = "=cmd|' /C calc'!A0"


async def seed(
    api: Api,  # noqa: F811
) -> dict[str, Any]:
    """Campaign A dials lists L1 (4 leads) and L2 (2 leads); campaign B (a hostile name) dialled b1 first."""
    async with api.db.session() as s:
        l1, l2 = CallList(name="L1", lead_count=4), CallList(name="L2", lead_count=2)
        s.add_all([l1, l2])
        await s.flush()
        leads = {n: Lead(list_id=l1.id, status="retry") for n in ("a1", "a2", "a3", "a4")}
        leads |= {n: Lead(list_id=l2.id, status="retry") for n in ("b1", "b2")}
        s.add_all(leads.values())
        a = Campaign(name="A", rule_set="FR-2023", state=CampaignState.running)
        b = Campaign(name=EVIL, rule_set="US-TCPA", state=CampaignState.stopped)
        s.add_all([a, b])
        await s.flush()
        s.add_all(
            [CampaignList(campaign_id=a.id, list_id=l1.id), CampaignList(campaign_id=a.id, list_id=l2.id)]
        )
        x, y = api.users["agent"].id, api.users["agent2"].id

        def at(
            lead: str,
            hours: float,
            result: str,
            *,
            campaign: Campaign = a,
            answer: bool = False,
            agent_s: float | None = None,
            agent: int | None = None,
            amd: bool = False,
        ) -> LeadAttempt:
            start = DAY + timedelta(hours=hours)
            answered = start + timedelta(seconds=5) if answer else None
            return LeadAttempt(
                lead_id=leads[lead].id,
                campaign_id=campaign.id,
                e164="+33611000000",
                started_at=start,
                answered_at=answered,
                agent_connected_at=answered + timedelta(seconds=agent_s) if answered and agent_s else None,
                result=result,
                amd_machine=amd,
                agent_id=agent,
            )

        s.add_all(
            [
                at("a1", -24, "no_answer"),  # the day before: pass 1, outside the period
                at("a1", 0, "busy"),  # pass 2
                at("a2", 0.1, "success", answer=True, agent_s=1, agent=x),
                at("a3", 0.2, "dropped", answer=True),  # abandoned
                at("b1", -0.5, "no_answer", campaign=b),  # another campaign's dial counts for the pass
                at("b1", 1, "contact", answer=True, agent_s=0.5, agent=y),  # pass 2
                at("b2", 2, "machine", answer=True, amd=True),
                at("a4", 20, "busy"),  # the next day in Paris: outside the period
            ]
        )
        await s.commit()
        return {"a": a.id, "b": b.id, "l1": l1.id, "l2": l2.id, "x": x, "y": y}


async def get(
    api: Api,  # noqa: F811
    who: str,
    path: str,
    **params: Any,
) -> Any:
    async with await api.bearer(who) as http:
        return await http.get(path, params={**PERIOD, **params})


async def test_given_a_days_dials_when_the_campaigns_are_reported_then_each_has_its_figures(
    api: Api,  # noqa: F811
) -> None:
    ids = await seed(api)
    r = await get(api, "supervisor", "/api/v1/campaign-reports")
    assert r.status_code == 200, r.text
    rows = {row["campaign_id"]: row for row in r.json()}
    a = rows[ids["a"]]
    assert (a["attempts"], a["leads"], a["leads_dialled"]) == (5, 6, 5)
    assert a["penetration"] == pytest.approx(5 / 6)
    assert (a["contacts"], a["connected"], a["conversions"], a["answered"], a["abandons"]) == (3, 2, 1, 4, 1)
    assert a["contact_rate"] == pytest.approx(3 / 5)
    assert a["conversion_rate"] == pytest.approx(1 / 3)
    assert (a["abandon_definition"], a["abandon_limit"]) == ("live_answered", 0.03)
    assert a["abandon_rate"] == a["abandon_rate_live_answered"] == pytest.approx(1 / 3)
    assert a["abandon_rate_all_answered"] == pytest.approx(1 / 4)
    assert a["results"] == {"busy": 1, "contact": 1, "dropped": 1, "machine": 1, "success": 1}
    assert rows[ids["b"]]["attempts"] == 1  # B dialled in the period too


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("pass", {1: (3, 1), 2: (2, 0), 3: (0, 0), 4: (0, 0), 5: (0, 0)}),  # (attempts, conversions)
        ("list", {"L1": (3, 1), "L2": (2, 0)}),
        ("agent", {"Agent": (1, 1), "Agent2": (1, 0), None: (3, 0)}),
    ],
)
async def test_given_a_days_dials_when_one_campaign_is_broken_down_then_the_rows_follow(
    api: Api,  # noqa: F811
    by: str,
    expected: dict[Any, tuple[int, int]],
) -> None:
    ids = await seed(api)
    r = await get(api, "manager", f"/api/v1/campaign-reports/{ids['a']}", by=by)
    assert r.status_code == 200, r.text
    key = {"pass": "pass_no", "list": "list", "agent": "agent"}[by]
    assert {row[key]: (row["attempts"], row["conversions"]) for row in r.json()} == expected


async def test_given_the_lists_when_broken_down_then_penetration_is_against_each_lists_size(
    api: Api,  # noqa: F811
) -> None:
    ids = await seed(api)
    rows = (await get(api, "manager", f"/api/v1/campaign-reports/{ids['a']}", by="list")).json()
    assert {row["list"]: (row["leads"], row["leads_dialled"], row["penetration"]) for row in rows} == {
        "L1": (4, 3, 0.75),  # a1, a2, a3
        "L2": (2, 2, 1.0),
    }


async def test_given_a_hostile_campaign_name_when_exported_as_csv_then_the_cell_is_neutralised(
    api: Api,  # noqa: F811
) -> None:
    ids = await seed(api)
    r = await get(api, "manager", "/api/v1/campaign-reports", format="csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))  # fr: ';'
    by_id = {int(row["campaign_id"]): row for row in table}
    assert by_id[ids["b"]]["campaign"] == "'" + EVIL
    a = by_id[ids["a"]]
    assert (a["attempts"], a["results_success"], a["results_dropped"], a["results_refused"]) == (
        "5",
        "1",
        "1",
        "0",
    )
    assert a["abandon_rate"] == "0,333"  # a decimal comma in French


async def test_given_a_pass_breakdown_when_exported_as_csv_then_five_rows_come_out(
    api: Api,  # noqa: F811
) -> None:
    ids = await seed(api)
    r = await get(api, "supervisor", f"/api/v1/campaign-reports/{ids['a']}", by="pass", format="csv")
    table = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert [row["pass_no"] for row in table] == ["1", "2", "3", "4", "5"]
    assert "attachment" in r.headers["content-disposition"]


@pytest.mark.parametrize(
    ("who", "status"), [("agent", 403), ("supervisor", 200), ("manager", 200), ("admin", 200)]
)
async def test_given_a_role_when_it_reads_a_report_then_only_supervision_may(
    api: Api,  # noqa: F811
    who: str,
    status: int,
) -> None:
    ids = await seed(api)
    assert (await get(api, who, "/api/v1/campaign-reports")).status_code == status
    assert (await get(api, who, f"/api/v1/campaign-reports/{ids['a']}", by="agent")).status_code == status


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-11-10T00:00:00+01:00", "until": "2026-11-09T00:00:00+01:00"}, "until"),
        ({"since": "2026-01-01T00:00:00+01:00", "until": "2026-11-09T00:00:00+01:00"}, "until"),  # > 31 days
        ({"since": "not a date"}, "since"),
        ({"by": "team"}, "by"),
        ({"format": "xlsx"}, "format"),
    ],
)
async def test_given_a_bad_query_when_a_report_is_asked_then_422_names_the_field(
    api: Api,  # noqa: F811
    params: dict[str, str],
    field: str,
) -> None:
    ids = await seed(api)
    r = await get(api, "manager", f"/api/v1/campaign-reports/{ids['a']}", **params)
    assert r.status_code == 422, r.text
    assert field in str(r.json()["detail"])


async def test_given_no_such_campaign_when_reported_then_404(
    api: Api,  # noqa: F811
) -> None:
    assert (await get(api, "manager", "/api/v1/campaign-reports/999999")).status_code == 404


async def test_given_a_running_campaign_when_the_feed_ticks_then_supervisors_get_its_tile_once(
    api: Api,  # noqa: F811
) -> None:
    ids = await seed(api)
    hub = Hub()
    sup = api.users["supervisor"]
    conn = hub.attach(Principal(sup.id, sup.username, "supervisor"))
    agent: User = api.users["agent"]
    agent_conn = hub.attach(Principal(agent.id, agent.username, "agent", sip_endpoint="ep-agent"))
    dialer = DialerService(None, api.db, clock=lambda: DAY + timedelta(hours=3))  # not started: no PBX
    feed = CampaignFeed(dialer, hub, api.db)

    assert await feed.tick() == 1
    tile = next(t for t in feed.current() if t["campaign_id"] == ids["a"])
    assert (tile["name"], tile["state"], tile["running"], tile["calls_in_flight"]) == (
        "A",
        "running",
        False,
        0,
    )
    assert tile["abandon_today"]["rate_percent"] == pytest.approx(100 / 3, abs=1e-3)  # 1 drop of 3 live
    assert tile["abandon_limit_percent"] == 3.0
    hub.flush()  # wallboard updates wait for the hub's tick
    assert conn.outbox.qsize() == 1 and agent_conn.outbox.qsize() == 0  # supervisors only
    assert await feed.tick() == 0  # nothing changed: nothing sent

    async with api.db.session() as s:
        c = await s.get(Campaign, ids["a"])
        assert c is not None
        c.state = CampaignState.paused
        await s.commit()
    assert await feed.tick() == 1
    assert feed.current() == []
    hub.flush()
    assert '"gone": true' in conn.outbox.get_nowait() + conn.outbox.get_nowait()

    async with await api.bearer("supervisor") as http:
        api.app.state.campaign_feed = feed
        assert (await http.get("/api/v1/campaign-tiles")).json() == []


@pytest.mark.parametrize(
    ("who", "status", "buttons"), [("agent", 403, 0), ("supervisor", 200, 0), ("manager", 200, 3)]
)
async def test_given_a_role_when_it_opens_the_monitor_page_then_it_sees_the_reports_and_managers_the_buttons(
    api: Api,  # noqa: F811
    who: str,
    status: int,
    buttons: int,
) -> None:
    ids = await seed(api)
    c = await api.login(who)
    r = await c.get(
        f"/campaigns/{ids['a']}/monitor",
        params={"start": "2026-11-10", "end": "2026-11-10"},
        headers={"accept": "text/html"},
    )
    assert r.status_code == status
    if status != 200:
        return
    html = r.text
    assert html.count('data-to="') == buttons
    assert "Résultats par passage" in html  # French by default
    assert f"/api/v1/campaign-reports/{ids['a']}?since=2026-11-10T00" in html  # the CSV links of the period
    assert "33,3" in html  # the live-answered abandon rate, 1 of 3, in the campaign table


async def test_given_no_such_campaign_when_its_monitor_page_is_opened_then_404(
    api: Api,  # noqa: F811
) -> None:
    c = await api.login("manager")
    assert (await c.get("/campaigns/999999/monitor", headers={"accept": "text/html"})).status_code == 404


async def test_given_an_english_speaking_manager_when_the_monitor_page_opens_then_its_labels_are_english(
    api: Api,  # noqa: F811
) -> None:
    ids = await seed(api)
    async with api.db.session() as s:
        u = await s.get(User, api.users["manager"].id)
        assert u is not None
        u.language = "en"
        await s.commit()
    c = await api.login("manager")
    html = (await c.get(f"/campaigns/{ids['a']}/monitor", headers={"accept": "text/html"})).text
    assert '<html lang="en">' in html
    assert "Results by pass" in html and "Résultats par passage" not in html
    assert "abandons / calls a person answered" in html  # FR-2023's definition, named


async def test_given_an_open_monitor_when_it_polls_then_the_attempts_are_read_again_only_after_a_write(
    api: Api,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.routes import campaign_monitor as monitor_api

    monkeypatch.setattr(monitor_api, "FIGURES_MIN_AGE_S", 0.0)
    ids = await seed(api)
    dialer = DialerService(None, api.db, clock=lambda: DAY + timedelta(hours=3))
    api.app.state.dialer = dialer
    async with await api.bearer("supervisor") as http:

        async def attempts_today() -> int:
            r = await http.get(f"/api/v1/campaigns/{ids['a']}/monitor")
            assert r.status_code == 200, r.text
            return int(r.json()["attempts_today"])

        assert await attempts_today() == 5
        async with api.db.session() as s:
            lead = await s.scalar(select(Lead.id).where(Lead.list_id == ids["l1"]).limit(1))
            s.add(
                LeadAttempt(
                    lead_id=lead,
                    campaign_id=ids["a"],
                    e164="+33611000000",
                    started_at=DAY + timedelta(hours=2),
                    result="busy",
                )
            )
            await s.commit()
        assert await attempts_today() == 5  # the poll a second later: the figures already read
        dialer.attempts_written += 1  # what the engine does once it wrote an attempt
        assert await attempts_today() == 6
