"""The reasons taxonomy through the API: categories and sub-categories, bilingual labels, retiring, and
complaints opened with a reason (and filtered by it)."""

from __future__ import annotations

import pytest

from core.models import Contact
from tests.app.api.conftest import Api


async def _contact(api: Api) -> int:
    async with api.db.session() as s:
        c = Contact(last_name="Durand")
        s.add(c)
        await s.commit()
        return c.id


async def _taxonomy(api: Api) -> tuple[int, int]:
    m = await api.bearer("manager")
    top = {"code": "billing", "label_fr": "Facturation", "label_en": "Billing"}
    billing = await m.post("/api/v1/complaint-reasons", json=top)
    assert billing.status_code == 201, billing.text
    double = await m.post(
        "/api/v1/complaint-reasons",
        json={
            "code": "billing_double",
            "parent_id": billing.json()["id"],
            "label_fr": "Double prélèvement",
            "label_en": "Charged twice",
        },
    )
    assert double.status_code == 201, double.text
    await m.aclose()
    return billing.json()["id"], double.json()["id"]


async def test_given_a_taxonomy_when_an_agent_opens_a_complaint_with_a_sub_category_then_it_carries_it(
    api: Api,
) -> None:
    billing, double = await _taxonomy(api)
    cid = await _contact(api)
    a = await api.bearer("agent")
    listed = (await a.get("/api/v1/complaint-reasons?active=true")).json()
    assert [(r["code"], r["parent_id"]) for r in listed] == [("billing", None), ("billing_double", billing)]
    r = await a.post(
        "/api/v1/complaints", json={"contact_id": cid, "reason_id": double, "description": "Deux fois"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["reason_id"] == double and r.json()["category"] == "billing_double"
    other = await a.post(
        "/api/v1/complaints", json={"contact_id": cid, "category": "accueil", "description": "x"}
    )
    assert other.status_code == 201 and other.json()["reason_id"] is None  # free text still accepted
    by_category = (await a.get(f"/api/v1/complaints?reason_id={billing}")).json()
    assert [c["id"] for c in by_category] == [r.json()["id"]]  # a category finds its children's complaints
    await a.aclose()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"contact_id": 0, "description": "x"}, "contact_id"),
        ({"description": "x"}, "reason_id"),  # neither a reason nor a category
        ({"reason_id": 999_999, "description": "x"}, "reason_id"),
    ],
)
async def test_given_a_complaint_without_a_usable_reason_when_posted_then_422_names_the_field(
    api: Api, body: dict[str, object], field: str
) -> None:
    cid = await _contact(api)
    a = await api.bearer("agent")
    r = await a.post("/api/v1/complaints", json={"contact_id": cid, **body})
    assert r.status_code == 422 and field in r.text, r.text
    await a.aclose()


async def test_given_a_retired_category_when_chosen_then_refused_and_no_longer_offered(api: Api) -> None:
    billing, double = await _taxonomy(api)
    cid = await _contact(api)
    m = await api.bearer("manager")
    r = await m.patch(f"/api/v1/complaint-reasons/{billing}", json={"active": False, "label_en": "Invoices"})
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["label_en"] == "Invoices"
    assert (await m.get("/api/v1/complaint-reasons?active=true")).json() == []
    assert len((await m.get("/api/v1/complaint-reasons")).json()) == 2  # kept, retired
    r = await m.post("/api/v1/complaints", json={"contact_id": cid, "reason_id": double, "description": "x"})
    assert r.status_code == 422 and "retired" in r.text
    await m.aclose()


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({"code": "Bad Code", "label_fr": "a", "label_en": "a"}, 422, "code"),
        ({"code": "billing", "label_fr": "a", "label_en": "a"}, 422, "already used"),
        ({"code": "deep", "parent_id": -1, "label_fr": "a", "label_en": "a"}, 422, "parent_id"),
        ({"code": "deep", "parent_id": "SUB", "label_fr": "a", "label_en": "a"}, 422, "two levels"),
        ({"code": "x", "label_fr": "", "label_en": "a"}, 422, "label_fr"),
    ],
)
async def test_given_a_bad_reason_when_created_then_422_names_the_problem(
    api: Api, body: dict[str, object], status: int, text: str
) -> None:
    _, double = await _taxonomy(api)
    if body.get("parent_id") == "SUB":
        body = {**body, "parent_id": double}
    m = await api.bearer("manager")
    r = await m.post("/api/v1/complaint-reasons", json=body)
    assert r.status_code == status and text in r.text, r.text
    await m.aclose()


async def test_given_an_agent_when_changing_the_taxonomy_then_403(api: Api) -> None:
    a = await api.bearer("agent")
    r = await a.post("/api/v1/complaint-reasons", json={"code": "x", "label_fr": "a", "label_en": "a"})
    assert r.status_code == 403
    await a.aclose()


async def test_given_a_taxonomy_when_the_pages_are_shown_then_the_desk_offers_it_and_complaints_filter_by_it(
    api: Api,
) -> None:
    billing, double = await _taxonomy(api)
    cid = await _contact(api)
    a = await api.login("agent")
    desk = (await a.get("/desk", headers={"accept": "text/html"})).text
    assert 'name="reason_id"' in desk and "Facturation › Double prélèvement" in desk
    for body in ({"reason_id": double}, {"category": "accueil"}):
        r = await a.post(
            "/api/v1/complaints",
            json={"contact_id": cid, "description": "x", **body},
            headers={"X-CSRF-Token": a.headers["X-CSRF-Token"]},
        )
        assert r.status_code == 201, r.text
    page = (await a.get(f"/complaints?reason={billing}", headers={"accept": "text/html"})).text
    rows = page.split('id="complaints-table"')[1]
    assert "Facturation › Double prélèvement" in rows and "accueil" not in rows
    everything = (await a.get("/complaints?reason=nope", headers={"accept": "text/html"})).text
    assert "accueil" in everything.split('id="complaints-table"')[1]  # a bad filter is ignored
    await a.aclose()


async def test_given_a_disposition_when_it_names_a_reason_then_the_timeline_carries_it(api: Api) -> None:
    billing, _ = await _taxonomy(api)
    cid = await _contact(api)
    a = await api.bearer("agent")
    url = f"/api/v1/contacts/{cid}/timeline"
    r = await a.post(url, json={"body": "Mécontent de sa facture", "reason_id": billing})
    assert r.status_code == 201 and r.json()["reason_id"] == billing, r.text
    assert (await a.get(url)).json()["items"][0]["reason_id"] == billing
    bad = await a.post(url, json={"body": "x", "reason_id": 999_999})
    assert bad.status_code == 422 and "reason_id" in bad.text
    await a.aclose()
