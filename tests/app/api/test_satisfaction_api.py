"""The satisfaction report through the API over real rows on SQLite and PostgreSQL: the README's worked
example, per agent and per reason, the CSV, the empty day, and the contact page's customer-status card."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from core.models import (
    Call,
    CallDirection,
    ComplaintReason,
    Contact,
    Interaction,
    InteractionKind,
    SurveyAnswer,
)
from tests.app.api.conftest import Api

pytestmark = pytest.mark.db
DAY = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
PERIOD = {"since": "2026-03-10T00:00:00+01:00", "until": "2026-03-11T00:00:00+01:00"}
# the README's worked example: (CSAT, NPS) of 10 calls handled in support; the last two not answered
ANSWERS = [(5, 10), (5, 9), (4, 9), (4, 8), (3, 7), (2, 6), (1, 2), (4, None), None, None]


async def _seed(api: Api) -> None:
    """The worked example's calls, the first seven by `agent`, the rest by `agent2`; the call answered 1/5
    has a wrap-up naming the "délai" reason; one unanswered call (not handled) and a survey of another day."""
    async with api.db.session() as s:
        reason = ComplaintReason(code="delai", label_fr="Délai", label_en="Delay")
        s.add(reason)
        await s.flush()
        for i, answer in enumerate([*ANSWERS, "unanswered"]):
            at = DAY + timedelta(minutes=10 * i)
            agent = api.users["agent" if i < 7 else "agent2"].id
            call = Call(
                linkedid=f"sat.{i}",
                direction=CallDirection.inbound,
                queue="support",
                agent_id=agent if answer != "unanswered" else None,
                offered_at=at,
                answered_at=at + timedelta(seconds=5) if answer != "unanswered" else None,
                ended_at=at + timedelta(minutes=3),
                outcome="answered" if answer != "unanswered" else "abandoned",
            )
            s.add(call)
            await s.flush()
            if isinstance(answer, tuple):
                # the survey row names no agent (answered before the call's row existed): the call's counts
                s.add(SurveyAnswer(linkedid=call.linkedid, flow="satisfaction", csat=answer[0], nps=answer[1],
                                   answered_at=at + timedelta(minutes=4)))  # fmt: skip
            if answer == (1, 2):
                s.add(
                    Interaction(kind=InteractionKind.disposition, call_id=call.id, reason_id=reason.id, at=at)
                )
        s.add(
            SurveyAnswer(
                linkedid="other-day", flow="satisfaction", csat=1, nps=0, answered_at=DAY - timedelta(days=2)
            )
        )
        await s.commit()


async def test_given_the_worked_example_when_the_satisfaction_report_is_asked_then_its_figures_come_out(
    api: Api,
) -> None:
    await _seed(api)
    c = await api.bearer("manager")
    r = await c.get("/api/v1/reports/satisfaction", params=PERIOD)
    assert r.status_code == 200, r.text
    (row,) = r.json()
    assert (row["handled"], row["answered"], row["csat_answers"], row["nps_answers"]) == (10, 8, 8, 7)
    assert row["response_rate"] == pytest.approx(0.8)
    assert row["csat_mean"] == pytest.approx(3.5) and row["csat_satisfied"] == pytest.approx(0.625)
    assert (row["promoters"], row["passives"], row["detractors"]) == (3, 2, 2)
    assert row["nps"] == pytest.approx(100 / 7)
    assert row["csat_counts"] == {"1": 1, "2": 1, "3": 1, "4": 3, "5": 2}
    assert row["nps_counts"]["9"] == 2 and sum(row["nps_counts"].values()) == 7

    by_agent = (await c.get("/api/v1/reports/satisfaction", params={**PERIOD, "by": "agent"})).json()
    assert [(x["label"], x["handled"], x["answered"], x["csat_mean"]) for x in by_agent] == [
        ("Agent", 7, 7, pytest.approx(24 / 7)),
        ("Agent2", 3, 1, 4.0),
    ]
    by_reason = (await c.get("/api/v1/reports/satisfaction", params={**PERIOD, "by": "reason"})).json()
    assert [(x["label"], x["handled"], x["csat_mean"], x["nps"]) for x in by_reason] == [
        ("Délai", 1, 1.0, -100.0),
        ("—", 9, pytest.approx(27 / 7), pytest.approx(100 * (3 - 1) / 6)),
    ]
    assert {x["label"]: x["handled"] for x in by_reason} == {"Délai": 1, "—": 9}

    r = await c.get("/api/v1/reports/satisfaction", params={**PERIOD, "by": "queue", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert lines[0][:4] == ["by", "key", "label", "handled"] and [x[1] for x in lines[1:]] == ["support"]
    await c.aclose()


async def test_given_no_call_when_the_satisfaction_report_is_asked_then_every_figure_is_empty_not_zero(
    api: Api,
) -> None:
    c = await api.bearer("manager")
    (row,) = (await c.get("/api/v1/reports/satisfaction", params=PERIOD)).json()
    assert (row["handled"], row["response_rate"], row["csat_mean"], row["nps"]) == (0, None, None, None)
    assert (await c.get("/api/v1/reports/satisfaction", params={**PERIOD, "by": "agent"})).json() == []
    await c.aclose()


@pytest.mark.parametrize(("params", "field"), [({"by": "planet"}, "by"), ({"since": "yesterday"}, "since")])
async def test_given_bad_parameters_when_the_satisfaction_report_is_asked_then_422_names_them(
    api: Api, params: dict[str, str], field: str
) -> None:
    c = await api.bearer("manager")
    r = await c.get("/api/v1/reports/satisfaction", params=params)
    assert r.status_code == 422 and field in r.text
    assert (await (await api.bearer("agent")).get("/api/v1/reports/satisfaction")).status_code == 403
    await c.aclose()


async def test_given_a_contact_marked_lost_from_the_desk_when_its_page_opens_then_the_card_says_lost_and_why(
    api: Api,
) -> None:
    async with api.db.session() as s:
        solo = Contact(last_name="Solo")
        s.add(solo)
        await s.commit()
    c = await api.login("agent")  # the page's own session, as the card's script uses it
    page = (await c.get(f"/contacts/{solo.id}")).text
    assert 'data-status="active"' in page and f'data-url="/api/v1/contacts/{solo.id}/care-status"' in page
    reason = '<img src=x onerror="alert(1)">'
    r = await c.put(f"/api/v1/contacts/{solo.id}/care-status", json={"status": "lost", "reason": reason})
    assert r.status_code == 200, r.text
    page = (await c.get(f"/contacts/{solo.id}")).text
    assert 'data-status="lost"' in page and "&lt;img src=x" in page and reason not in page
    r = await c.put(f"/api/v1/contacts/{solo.id}/care-status", json={"status": "lost"})
    assert r.status_code == 422 and "reason" in r.text
    await c.aclose()


async def test_given_the_worked_example_when_the_reports_page_opens_then_charts_figures_and_csv_links_show(
    api: Api,
) -> None:
    await _seed(api)
    c = await api.login("manager")
    r = await c.get("/reports", params={"start": "2026-03-10", "end": "2026-03-10"})
    assert r.status_code == 200, r.text
    sat = r.text[r.text.index('id="satisfaction"') :]
    assert 'id="csat-chart"' in sat and 'id="nps-chart"' in sat
    assert "3.50" in sat and "+14" in sat  # CSAT mean and NPS of the worked example
    assert sat.count("<rect") == 5 + 6  # a bar per score answered: CSAT 1 to 5; NPS 2, 6, 7, 8, 9, 10
    assert "/api/v1/reports/satisfaction?" in sat and "by=reason" in sat
    empty = (await c.get("/reports", params={"start": "2026-03-12", "end": "2026-03-12"})).text
    assert 'id="csat-chart"' not in empty and 'id="satisfaction-totals"' in empty
    await c.aclose()


async def test_given_an_admin_when_a_queue_offers_the_survey_then_it_says_so_and_bad_values_are_refused(
    api: Api,
) -> None:
    admin = await api.bearer("admin")
    r = await admin.post("/api/v1/queues", json={"name": "support", "display_name": "Support"})
    assert r.status_code == 201 and r.json()["survey"] is False
    qid = r.json()["id"]
    bad = await admin.patch(f"/api/v1/queues/{qid}", json={"survey": "maybe"})
    assert bad.status_code == 422 and "survey" in bad.text
    r = await admin.patch(f"/api/v1/queues/{qid}", json={"survey": True})
    assert r.status_code == 200 and r.json()["survey"] is True
    await admin.aclose()
