"""The customer-care report and the customer's care status through the API, over real rows on SQLite and
PostgreSQL: the README's worked example, per queue and per reason, CSV, and the refusals."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from core.models import Account, Call, CallDirection, Complaint, ComplaintReason, Contact
from tests.app.api.conftest import Api

pytestmark = pytest.mark.db
DAY = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)  # 09:00 in Paris
PERIOD = {"since": "2026-03-10T00:00:00+01:00", "until": "2026-03-11T00:00:00+01:00"}
D = timedelta(days=1)


async def _seed(api: Api) -> dict[str, int]:
    """On 10 March: 4 calls handled in support (Durand twice), 1 in sales, 1 unanswered; Durand complains
    about billing from a support call, acknowledged the next day; one account lost that day, of 4 customers
    at its start (2 accounts, 2 contacts without one; Durand is Acme's)."""
    async with api.db.session() as s:
        acme, other = (
            Account(name="Acme", created_at=DAY - 30 * D),
            Account(name="Bis", created_at=DAY - 30 * D),
        )
        s.add_all([acme, other])
        await s.flush()
        durand = Contact(last_name="Durand", account_id=acme.id, created_at=DAY - 30 * D)
        solo = Contact(last_name="Solo", created_at=DAY - 30 * D)
        solo2 = Contact(last_name="Solo2", created_at=DAY - 30 * D)
        late = Contact(last_name="Late", created_at=DAY + D)  # not a customer at the start
        billing = ComplaintReason(code="billing", label_fr="Facturation", label_en="Billing")
        s.add_all([durand, solo, solo2, late, billing])
        await s.flush()
        calls = []
        for i, (minutes, queue, contact, number, answered) in enumerate(
            [
                (0, "support", durand.id, "+33611111111", True),
                (60, "support", durand.id, "+33611111111", True),  # a repeat within 7 days
                (90, "support", solo.id, "+33622222222", True),
                (120, "support", None, "+33633333333", True),
                (150, "sales", solo2.id, "+33644444444", True),
                (180, "sales", None, "+33655555555", False),
            ]
        ):
            at = DAY + timedelta(minutes=minutes)
            calls.append(
                Call(
                    linkedid=f"care.{i}",
                    direction=CallDirection.inbound,
                    queue=queue,
                    contact_id=contact,
                    caller_number=number,
                    offered_at=at,
                    answered_at=at + timedelta(seconds=5) if answered else None,
                    ended_at=at + timedelta(seconds=100),
                    outcome="answered" if answered else "abandoned",
                )
            )
        s.add_all(calls)
        await s.flush()
        s.add(
            Complaint(
                contact_id=durand.id,
                call_id=calls[1].id,
                category="billing",
                reason_id=billing.id,
                description="x",
                received_at=DAY + timedelta(hours=1),
                ack_due_at=DAY + 14 * D,
                answer_due_at=DAY + 60 * D,
                acknowledged_at=DAY + D,
            )
        )
        other.care_status, other.lost_at, other.loss_reason = "lost", DAY + timedelta(hours=3), "competitor"
        await s.commit()
        return {"billing": billing.id, "durand": durand.id, "solo": solo.id, "acme": acme.id}


async def test_given_a_day_of_calls_when_the_care_report_is_asked_then_the_worked_example_comes_out(
    api: Api,
) -> None:
    await _seed(api)
    c = await api.bearer("manager")
    r = await c.get("/api/v1/reports/care", params=PERIOD)
    assert r.status_code == 200, r.text
    (row,) = r.json()
    assert row["period_start"] == "2026-03-09T23:00:00Z" and row["key"] == "total"
    assert (row["contacts_handled"], row["complaints"]) == (5, 1)
    assert row["complaint_rate"] == pytest.approx(0.2) and row["complaints_per_1000"] == pytest.approx(200)
    # acknowledged within 14 days; never answered, and its two months are over by now: missed
    assert row["ack_within_deadline"] == 1.0 and row["answer_within_deadline"] == 0.0
    assert row["median_resolve_s"] is None
    # FCR: Durand's first call was followed by another within 7 days; the 4 others were not (their 7 days
    # are over by now): 4 / 5. Repeats: Durand's second call: 1 / 5.
    assert row["fcr"] == pytest.approx(0.8) and row["repeat_rate"] == pytest.approx(0.2)
    assert (row["lost"], row["customers_at_start"]) == (1, 4)
    assert row["loss_rate"] == pytest.approx(0.25) and row["retention_rate"] == pytest.approx(0.75)

    by_queue = (await c.get("/api/v1/reports/care", params={**PERIOD, "by": "queue"})).json()
    assert [(x["key"], x["contacts_handled"], x["complaints"], x["complaint_rate"]) for x in by_queue] == [
        ("sales", 1, 0, 0.0),
        ("support", 4, 1, 0.25),
    ]
    assert all(x["loss_rate"] is None for x in by_queue)  # the centre's figure only
    by_reason = (await c.get("/api/v1/reports/care", params={**PERIOD, "by": "reason"})).json()
    assert [(x["label"], x["complaints"], x["complaint_rate"]) for x in by_reason] == [
        ("Facturation", 1, 0.2)
    ]

    r = await c.get("/api/v1/reports/care", params={**PERIOD, "by": "queue", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert lines[0][:4] == ["period_start", "by", "key", "label"] and len(lines) == 3
    await c.aclose()


async def test_given_no_calls_when_the_care_report_is_asked_then_the_ratios_are_empty_not_zero(
    api: Api,
) -> None:
    c = await api.bearer("manager")
    (row,) = (await c.get("/api/v1/reports/care", params=PERIOD)).json()
    assert row["contacts_handled"] == 0 and row["complaint_rate"] is None and row["fcr"] is None
    assert row["customers_at_start"] == 0 and row["loss_rate"] is None and row["retention_rate"] is None
    assert (await c.get("/api/v1/reports/care", params={**PERIOD, "by": "queue"})).json() == []
    await c.aclose()


@pytest.mark.parametrize(
    ("params", "field"),
    [({"by": "planet"}, "by"), ({"period": "year"}, "period"), ({"fcr_days": "0"}, "fcr_days"),
     ({"since": "2026-01-01T00:00:00+01:00", "until": "2026-03-01T00:00:00+01:00"}, "until")],
)  # fmt: skip
async def test_given_bad_parameters_when_the_care_report_is_asked_then_422_names_them(
    api: Api, params: dict[str, str], field: str
) -> None:
    c = await api.bearer("manager")
    r = await c.get("/api/v1/reports/care", params=params)
    assert r.status_code == 422 and field in r.text, r.text
    await c.aclose()


async def test_given_an_agent_when_asking_the_care_report_then_403(api: Api) -> None:
    c = await api.bearer("agent")
    assert (await c.get("/api/v1/reports/care")).status_code == 403
    await c.aclose()


async def test_given_a_customer_when_marked_lost_then_active_again_then_the_status_follows(api: Api) -> None:
    ids = await _seed(api)
    c = await api.bearer("agent")
    url = f"/api/v1/contacts/{ids['solo']}/care-status"
    r = await c.put(url, json={"status": "lost", "reason": "moved abroad", "at": "2026-03-10T12:00:00+01:00"})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "customer": "contact",
        "id": ids["solo"],
        "status": "lost",
        "lost_at": "2026-03-10T11:00:00Z",
        "loss_reason": "moved abroad",
    }
    m = await api.bearer("manager")
    (row,) = (await m.get("/api/v1/reports/care", params=PERIOD)).json()
    assert (row["lost"], row["customers_at_start"]) == (2, 4)
    r = await c.put(url, json={"status": "active"})
    assert r.json()["status"] == "active" and r.json()["lost_at"] is None and r.json()["loss_reason"] is None
    await c.aclose()
    await m.aclose()


@pytest.mark.parametrize(
    ("target", "body", "status", "text"),
    [
        ("contact:solo", {"status": "lost"}, 422, "loss reason"),
        ("contact:solo", {"status": "gone", "reason": "x"}, 422, "status"),
        ("contact:solo", {"status": "lost", "reason": "x", "at": "2026-03-10T12:00:00"}, 422, "time zone"),
        ("contact:solo", {"status": "lost", "reason": "x", "at": "2999-01-01T00:00:00+00:00"}, 422, "future"),
        ("contact:durand", {"status": "lost", "reason": "x"}, 409, "account"),
        ("contact:missing", {"status": "lost", "reason": "x"}, 404, "no such contact"),
        ("account:acme", {"status": "lost", "reason": "x"}, 200, "lost"),
    ],
)
async def test_given_a_care_status_change_when_invalid_then_refused_with_the_reason(
    api: Api, target: str, body: dict[str, str], status: int, text: str
) -> None:
    ids = await _seed(api)
    kind, name = target.split(":")
    url = f"/api/v1/{kind}s/{ids.get(name, 999_999)}/care-status"
    c = await api.bearer("agent")
    r = await c.put(url, json=body)
    assert r.status_code == status and text in r.text, r.text
    await c.aclose()
