"""Contacts, numbers, search and lookup through the API."""

from __future__ import annotations

import pytest

from tests.app.api.conftest import Api


async def _contact(c, last: str, *numbers: str, account_id: int | None = None) -> dict:
    r = await c.post(
        "/api/v1/contacts",
        json={
            "last_name": last,
            "account_id": account_id,
            "numbers": [{"number": n, "kind": "mobile"} for n in numbers],
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_given_a_contact_when_created_read_updated_deleted_then_each_step_shows(api: Api) -> None:
    c = await api.bearer("manager")
    acc = (await c.post("/api/v1/accounts", json={"name": "Société Générale", "tier": "vip"})).json()
    created = await _contact(c, "Lefèvre", "06 12 34 56 78", account_id=acc["id"])
    assert created["numbers"][0]["e164"] == "+33612345678" and created["account"]["tier"] == "vip"
    r = await c.patch(f"/api/v1/contacts/{created['id']}", json={"first_name": "Hélène", "tier": "gold"})
    assert r.json()["first_name"] == "Hélène" and r.json()["tier"] == "gold"
    assert (await c.delete(f"/api/v1/contacts/{created['id']}")).status_code == 204
    assert (await c.get(f"/api/v1/contacts/{created['id']}")).status_code == 404
    await c.aclose()


@pytest.mark.parametrize(
    "query", ["06 12 34 56 78", "+33612345678", "0033 6 12 34 56 78", "+33 (0)6.12.34.56.78"]
)
async def test_given_a_number_in_any_format_when_searching_then_the_contact_is_found(
    api: Api, query: str
) -> None:
    c = await api.bearer("agent")
    created = await _contact(c, "Benali", "0612345678")
    await _contact(c, "Autre", "0699999999")
    found = (await c.get("/api/v1/contacts", params={"q": query})).json()
    assert [x["id"] for x in found] == [created["id"]]
    await c.aclose()


async def test_given_name_or_company_when_searching_then_prefix_matches_case_insensitively(api: Api) -> None:
    c = await api.bearer("agent")
    acc = (await c.post("/api/v1/accounts", json={"name": "Atlas Télécom"})).json()
    a = await _contact(c, "Zerrouki", account_id=acc["id"])
    b = await _contact(c, "Durand")
    assert [x["id"] for x in (await c.get("/api/v1/contacts", params={"q": "zerr"})).json()] == [a["id"]]
    assert [x["id"] for x in (await c.get("/api/v1/contacts", params={"q": "atlas"})).json()] == [a["id"]]
    assert [x["id"] for x in (await c.get("/api/v1/contacts", params={"q": "DUR"})).json()] == [b["id"]]
    assert (await c.get("/api/v1/contacts", params={"q": "%"})).json() == []  # LIKE wildcards are literal
    await c.aclose()


async def test_given_a_shared_switchboard_when_looked_up_then_every_contact_is_returned(api: Api) -> None:
    c = await api.bearer("agent")
    a = await _contact(c, "Martin", "01 40 00 00 00")
    b = await _contact(c, "Petit", "+33140000000")
    matches = (await c.get("/api/v1/lookup", params={"number": "0140000000"})).json()
    assert sorted(m["contact"]["id"] for m in matches) == sorted([a["id"], b["id"]])
    await c.aclose()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"last_name": "X", "numbers": [{"number": "12"}]}, "numbers"),
        ({"last_name": "X", "numbers": [{"number": "06 12 34\r\nEvent: x"}]}, "numbers"),
        ({"last_name": ""}, "last_name"),
        ({"last_name": "A\x00B"}, "last_name"),
        ({"last_name": "X" * 500}, "last_name"),
        ({"last_name": "X", "account_id": 2**70}, "account_id"),
        ({"last_name": "X", "email": "not-an-email"}, "email"),
    ],
)
async def test_given_bad_input_when_creating_a_contact_then_422_names_the_field(
    api: Api, body: dict, field: str
) -> None:
    c = await api.bearer("agent")
    r = await c.post("/api/v1/contacts", json=body)
    assert r.status_code == 422, r.text
    assert field in str(r.json()["detail"])
    assert (await c.get("/api/v1/contacts")).json() == []  # nothing half-written
    await c.aclose()


async def test_given_a_contact_when_changed_then_the_audit_log_says_who_and_what(api: Api) -> None:
    agent = await api.bearer("agent")
    created = await _contact(agent, "Durand")
    await agent.patch(f"/api/v1/contacts/{created['id']}", json={"email": "d@example.fr"})
    await agent.aclose()
    admin = await api.bearer("admin")
    entries = [e for e in (await admin.get("/api/v1/audit")).json() if e["target_id"] == str(created["id"])]
    assert {e["action"] for e in entries} == {"contact_created", "contact_updated"}
    assert {e["user_id"] for e in entries} == {api.users["agent"].id}
    await admin.aclose()
