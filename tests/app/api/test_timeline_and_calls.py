"""Timelines page stably while rows are added; calls are scoped by role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.models import Call, CallDirection, Contact, Interaction, InteractionKind
from tests.app.api.conftest import Api


async def test_given_a_long_timeline_when_paging_while_rows_arrive_then_no_duplicates_or_gaps(
    api: Api,
) -> None:
    base = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    async with api.db.session() as s:
        contact = Contact(last_name="Durand")
        s.add(contact)
        await s.flush()
        # Several rows share a timestamp: the id breaks the tie.
        s.add_all(
            [
                Interaction(
                    contact_id=contact.id,
                    kind=InteractionKind.note,
                    body=f"n{i}",
                    at=base + timedelta(minutes=i // 3),
                )
                for i in range(25)
            ]
        )
        await s.commit()
        cid = contact.id
    c = await api.bearer("agent")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        page = (await c.get(f"/api/v1/contacts/{cid}/timeline", params=params)).json()
        seen += [i["body"] for i in page["items"]]
        if len(seen) == 7:  # a newer note arrives mid-way: it must not shift the pages already cut
            await c.post(f"/api/v1/contacts/{cid}/timeline", json={"body": "late"})
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen, key=lambda b: int(b[1:])) == [f"n{i}" for i in range(25)]
    assert len(seen) == len(set(seen)) == 25
    first = (await c.get(f"/api/v1/contacts/{cid}/timeline", params={"limit": 1})).json()
    assert first["items"][0]["body"] == "late"
    assert (await c.get(f"/api/v1/contacts/{cid}/timeline", params={"cursor": "garbage"})).status_code == 422
    await c.aclose()


async def test_given_calls_of_several_agents_when_listed_then_each_role_sees_its_scope(api: Api) -> None:
    now = datetime.now(UTC)
    async with api.db.session() as s:
        for i, agent in enumerate(["agent", "agent2", "agent"]):
            s.add(
                Call(
                    linkedid=f"l{i}",
                    direction=CallDirection.inbound,
                    offered_at=now - timedelta(minutes=i),
                    agent_id=api.users[agent].id,
                    outcome="answered",
                    queue="support",
                )
            )
        await s.commit()

    async def linkedids(role: str) -> set[str]:
        c = await api.bearer(role)
        items = (await c.get("/api/v1/calls")).json()["items"]
        await c.aclose()
        return {x["linkedid"] for x in items}

    assert await linkedids("agent") == {"l0", "l2"}
    assert await linkedids("agent2") == {"l1"}
    assert await linkedids("supervisor") == {"l0", "l2"}  # same team as "agent" only
    assert await linkedids("manager") == {"l0", "l1", "l2"}


async def test_given_a_note_with_a_disposition_when_unknown_code_then_422_and_nothing_written(
    api: Api,
) -> None:
    async with api.db.session() as s:
        contact = Contact(last_name="Durand")
        s.add(contact)
        await s.commit()
    c = await api.bearer("agent")
    r = await c.post(
        f"/api/v1/contacts/{contact.id}/timeline", json={"body": "x", "disposition_code": "nope"}
    )
    assert r.status_code == 422 and "disposition_code" in r.text
    assert (await c.get(f"/api/v1/contacts/{contact.id}/timeline")).json()["items"] == []
    await c.aclose()
