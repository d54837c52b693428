"""The unhappy-customers file through the API on SQLite and PostgreSQL: who is in it and why, filters,
CSV, the rules, and the call list made of it through the normal import path."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from core.models import (
    Account,
    Call,
    CallDirection,
    Complaint,
    Contact,
    NumberKind,
    PhoneNumber,
    utcnow,
)
from tests.app.api.conftest import Api
from tests.conftest import wait_for

pytestmark = pytest.mark.db


async def _seed(api: Api) -> dict[str, int]:
    """Durand (Acme's) has an open complaint; Martin called 3 times this week; an unknown number abandoned
    twice today; Bis (an account) was lost last week; Calme called once: not in the file."""
    now = utcnow()
    async with api.db.session() as s:
        acme, bis = Account(name="Acme"), Account(name="Bis")
        s.add_all([acme, bis])
        await s.flush()
        durand = Contact(first_name="Jean", last_name="Durand", account_id=acme.id)
        martin = Contact(first_name="Léa", last_name="Martin")
        calme = Contact(first_name="Paul", last_name="Calme")
        s.add_all([durand, martin, calme])
        await s.flush()
        for c, e164 in ((durand, "+33611111111"), (martin, "+33622222222"), (calme, "+33633333333")):
            s.add(PhoneNumber(contact_id=c.id, e164=e164, suffix_key=e164[-9:], kind=NumberKind.mobile))
        s.add(
            Complaint(
                contact_id=durand.id,
                category="billing",
                description="x",
                received_at=now - timedelta(days=3),
                ack_due_at=now + timedelta(days=7),
                answer_due_at=now + timedelta(days=50),
            )
        )
        calls = [(martin.id, None, timedelta(days=d), "answered") for d in (0.1, 2, 5)]
        calls += [(None, "0644444444", timedelta(hours=h), "abandoned") for h in (1, 3)]
        calls += [(calme.id, None, timedelta(days=1), "answered")]
        for i, (contact_id, number, ago, outcome) in enumerate(calls):
            s.add(
                Call(
                    linkedid=f"u.{i}",
                    direction=CallDirection.inbound,
                    queue="support",
                    contact_id=contact_id,
                    caller_number=number,
                    offered_at=now - ago,
                    outcome=outcome,
                )
            )
        bis.care_status, bis.lost_at, bis.loss_reason = "lost", now - timedelta(days=7), "competitor"
        await s.commit()
        return {"acme": acme.id, "bis": bis.id, "martin": martin.id, "durand": durand.id}


async def test_given_customers_when_the_file_is_read_then_each_member_comes_with_their_reasons(
    api: Api,
) -> None:
    ids = await _seed(api)
    c = await api.bearer("supervisor")
    r = await c.get("/api/v1/unhappy")
    assert r.status_code == 200, r.text
    got = {m["ref"]: [(x["code"], x["count"]) for x in m["reasons"]] for m in r.json()}
    assert got == {
        f"account-{ids['acme']}": [("open_complaint", 1)],
        f"contact-{ids['martin']}": [("repeat_calls", 3)],
        "number-0644444444": [("abandoned_calls", 2)],
        f"account-{ids['bis']}": [("lost", 1)],
    }
    acme = next(m for m in r.json() if m["ref"] == f"account-{ids['acme']}")
    assert (acme["name"], acme["number"]) == ("Acme", "+33611111111")  # an account: its contact's number

    only = (await c.get("/api/v1/unhappy", params={"reason": "repeat_calls"})).json()
    assert [m["ref"] for m in only] == [f"contact-{ids['martin']}"]
    accounts = (await c.get("/api/v1/unhappy", params={"kind": "account"})).json()
    assert {m["ref"] for m in accounts} == {f"account-{ids['acme']}", f"account-{ids['bis']}"}
    bad = await c.get("/api/v1/unhappy", params={"reason": "grumpy"})
    assert bad.status_code == 422 and "reason" in bad.text

    r = await c.get("/api/v1/unhappy", params={"format": "csv", "kind": "contact"})
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["ref", "kind", "name", "company", "tier", "number", "reasons"]
    assert rows[1][0] == f"contact-{ids['martin']}" and rows[1][-1] == "repeat_calls×3"
    await c.aclose()


async def test_given_rules_an_admin_sets_when_the_file_is_read_then_they_apply(api: Api) -> None:
    await _seed(api)
    admin = await api.bearer("admin")
    rules = (await admin.get("/api/v1/unhappy/rules")).json()
    assert [r["code"] for r in rules] == [
        "open_complaint",
        "low_csat",
        "repeat_calls",
        "abandoned_calls",
        "lost",
    ]
    r = await admin.put("/api/v1/unhappy/rules", json=[{"code": "repeat_calls", "count": 4, "days": 7}])
    assert r.status_code == 200, r.text
    assert (await admin.get("/api/v1/unhappy")).json() == []  # nobody called 4 times; other rules off
    r = await admin.put("/api/v1/unhappy/rules", json=[])  # back to the defaults
    assert len((await admin.get("/api/v1/unhappy")).json()) == 4
    await admin.aclose()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([{"code": "lost", "days": 0}], "days"),
        ([{"code": "low_csat", "days": 30}], "threshold"),
        ([{"code": "lost", "days": 9}, {"code": "lost", "days": 9}], "given twice"),
        ([{"code": "moody"}], "code"),
    ],
)
async def test_given_bad_rules_when_put_then_422_names_the_field_and_nothing_changes(
    api: Api, body: list[dict[str, object]], field: str
) -> None:
    admin = await api.bearer("admin")
    r = await admin.put("/api/v1/unhappy/rules", json=body)
    assert r.status_code == 422 and field in r.text, r.text
    assert len((await admin.get("/api/v1/unhappy/rules")).json()) == 5
    await admin.aclose()


async def test_given_a_supervisor_when_changing_the_rules_or_making_a_list_then_403(api: Api) -> None:
    c = await api.bearer("supervisor")
    assert (await c.put("/api/v1/unhappy/rules", json=[])).status_code == 403
    assert (await c.post("/api/v1/unhappy/call-list", json={"name": "x"})).status_code == 403
    a = await api.bearer("agent")
    assert (await a.get("/api/v1/unhappy")).status_code == 403
    await c.aclose()
    await a.aclose()


async def test_given_the_file_when_a_manager_makes_a_call_list_then_its_import_matches_the_segment(
    api: Api,
) -> None:
    await _seed(api)
    m = await api.bearer("manager")
    r = await m.post("/api/v1/unhappy/call-list", json={"name": "Reconquête mars", "kind": "account"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["members"] == 2
    job_id = body["import"]["id"]
    state: dict[str, object] = {}

    async def done() -> bool:
        state.update((await m.get(f"/api/v1/imports/{job_id}")).json())
        return state["status"] != "running"

    await wait_for(done, timeout=30, what="the call list's import")
    # Acme has a number; Bis has no contact to call: rejected with its reason in the import report
    assert (state["status"], state["rows"], state["accepted"], state["invalid"]) == ("done", 2, 1, 1)
    assert (await m.get(f"/api/v1/lists/{body['list_id']}")).json()["lead_count"] == 1
    again = await m.post("/api/v1/unhappy/call-list", json={"name": "Reconquête mars"})
    assert again.status_code == 409  # the normal path's rule: list names are unique
    none = await m.post("/api/v1/unhappy/call-list", json={"name": "Vide", "reason": "low_csat"})
    assert none.status_code == 422 and "nobody" in none.text
    await m.aclose()


async def test_given_the_file_when_its_page_is_shown_then_it_lists_and_filters_and_links_the_csv(
    api: Api,
) -> None:
    ids = await _seed(api)
    s = await api.login("supervisor")
    page = (await s.get("/unhappy", headers={"accept": "text/html"})).text
    assert page.count('<tr data-ref="') == 4 and "Réclamation ouverte" in page
    assert 'href="/unhappy"' in page  # in the navigation
    assert "uh-list-form" not in page  # making a call list is a manager's
    page = (await s.get("/unhappy?reason=lost&kind=nonsense", headers={"accept": "text/html"})).text
    assert page.count('<tr data-ref="') == 1 and f'data-ref="account-{ids["bis"]}"' in page
    assert "/api/v1/unhappy?format=csv&amp;reason=lost" in page
    m = await api.login("manager")
    assert "uh-list-form" in (await m.get("/unhappy", headers={"accept": "text/html"})).text
    a = await api.login("agent")
    assert (await a.get("/unhappy", headers={"accept": "text/html"})).status_code == 403
    for c in (s, m, a):
        await c.aclose()
