"""Complaints through the API: deadlines at creation, transitions, reopen, SLA filters, ownership."""

from __future__ import annotations

from core.models import Contact
from tests.app.api.conftest import Api


async def _contact(api: Api) -> int:
    async with api.db.session() as s:
        c = Contact(last_name="Durand")
        s.add(c)
        await s.commit()
        return c.id


async def test_given_a_new_complaint_when_created_then_deadlines_are_set_and_timeline_shows_it(
    api: Api,
) -> None:
    cid = await _contact(api)
    c = await api.bearer("agent")
    r = await c.post(
        "/api/v1/complaints",
        json={
            "contact_id": cid,
            "category": "facturation",
            "description": "Double prélèvement",
            "received_at": "2026-11-20T10:00:00+01:00",
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "open" and body["ack_due_at"].startswith("2026-12-04")
    assert body["answer_due_at"].startswith("2027-01-20")
    timeline = (await c.get(f"/api/v1/contacts/{cid}/timeline")).json()["items"]
    assert [i["kind"] for i in timeline] == ["complaint"]
    await c.aclose()


async def test_given_a_complaint_when_resolved_closed_and_reopened_then_each_step_is_recorded(
    api: Api,
) -> None:
    cid = await _contact(api)
    c = await api.bearer("supervisor")
    comp = (
        await c.post("/api/v1/complaints", json={"contact_id": cid, "category": "retard", "description": "x"})
    ).json()
    url = f"/api/v1/complaints/{comp['id']}/transition"
    assert (await c.post(url, json={"to": "closed"})).status_code == 409
    r = await c.post(url, json={"to": "in_progress"})
    assert r.json()["acknowledged_at"] is not None
    r = await c.post(url, json={"to": "resolved", "note": "Remboursé"})
    assert r.json()["resolution"] == "Remboursé" and r.json()["sla_state"] == "met"
    assert (await c.post(url, json={"to": "closed"})).json()["closed_at"] is not None
    r = await c.post(url, json={"to": "in_progress"})
    assert r.json()["reopen_count"] == 1 and r.json()["closed_at"] is None and r.json()["resolved_at"] is None
    events = [i["data"] for i in (await c.get(f"/api/v1/contacts/{cid}/timeline")).json()["items"]]
    assert [e["event"] for e in events] == ["transition"] * 4 + ["opened"]
    await c.aclose()


async def test_given_an_overdue_complaint_when_listing_late_ones_then_it_is_there(api: Api) -> None:
    cid = await _contact(api)
    c = await api.bearer("manager")
    old = (
        await c.post(
            "/api/v1/complaints",
            json={
                "contact_id": cid,
                "category": "a",
                "description": "x",
                "received_at": "2024-01-02T10:00:00+01:00",
            },
        )
    ).json()
    new = (
        await c.post("/api/v1/complaints", json={"contact_id": cid, "category": "b", "description": "y"})
    ).json()
    late = (await c.get("/api/v1/complaints", params={"sla": "late"})).json()
    on_time = (await c.get("/api/v1/complaints", params={"sla": "on_time"})).json()
    assert [x["id"] for x in late] == [old["id"]] and [x["id"] for x in on_time] == [new["id"]]
    await c.aclose()


async def test_given_another_agents_complaint_when_an_agent_transitions_it_then_403(api: Api) -> None:
    cid = await _contact(api)
    owner = await api.bearer("agent2")
    comp = (
        await owner.post("/api/v1/complaints", json={"contact_id": cid, "category": "a", "description": "x"})
    ).json()
    other = await api.bearer("agent")
    r = await other.post(f"/api/v1/complaints/{comp['id']}/transition", json={"to": "in_progress"})
    assert r.status_code == 403
    assert (
        await owner.post(f"/api/v1/complaints/{comp['id']}/transition", json={"to": "in_progress"})
    ).status_code == 200
    await owner.aclose(), await other.aclose()
