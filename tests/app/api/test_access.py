"""Authorisation edges: supervisors oversee their own team only (spy, live agent states over /ws), the last
admin stays an admin, and a call out of one's scope answers like a call that does not exist."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from app.cti_wiring import build_cti
from app.security import hash_password
from core.bus import Principal
from core.models import Call, CallDirection, Contact, Role, User
from cti.events import AgentStateChanged
from tests.app.api.conftest import PASSWORD, Api
from tests.cti.transcripts import raw, replay


async def _user(api: Api, name: str, role: Role, team: int | None, endpoint: str | None) -> User:
    async with api.db.session() as s:
        u = User(
            username=name,
            display_name=name,
            password_hash=hash_password(PASSWORD),
            role=role,
            team_id=team,
            sip_endpoint=endpoint,
        )
        s.add(u)
        await s.commit()
        return u


@pytest.mark.parametrize(
    ("supervisor_team", "status"),
    [
        ("none", 403),  # no team: nobody's supervisor
        ("other", 403),
        ("same", 404),  # allowed past the check; then "not on a call": no PBX in this test
    ],
)
async def test_given_a_supervisor_when_spying_on_an_agent_then_only_their_own_teams(
    api: Api, supervisor_team: str, status: int
) -> None:
    agent = api.users["agent"]
    team = {"none": None, "other": api.users["agent2"].team_id, "same": agent.team_id}[supervisor_team]
    await _user(api, "sup", Role.supervisor, team, "ep-sup")
    api.app.state.cti = build_cti(api.app.state.settings, api.db, api.app.state.hub)  # AMI disabled
    c = await api.login("sup")
    r = await c.post("/api/v1/supervisor/spy", json={"agent": f"PJSIP/{agent.sip_endpoint}"})
    await c.aclose()
    assert r.status_code == status, r.text


async def test_given_supervisors_of_several_teams_when_agents_change_state_then_each_sees_their_team(
    api: Api,
) -> None:
    """Over /ws as over REST: the snapshot and the live deltas of agent states go to the agent's own
    team's supervisors (and managers, admins), not to every supervisor."""
    team_a, team_b = api.users["agent"].team_id, api.users["agent2"].team_id
    await _user(api, "phone1", Role.agent, team_a, "agent1")  # the agent of the recorded call
    service = build_cti(api.app.state.settings, api.db, api.app.state.hub)
    await service.directory.load()
    _, events = replay(raw("answered_queue_call"), service.tracker)
    who = {
        "sup_a": Principal(101, "sup_a", "supervisor", team_a),
        "sup_b": Principal(102, "sup_b", "supervisor", team_b),
        "sup_none": Principal(103, "sup_none", "supervisor", None),
        "manager": Principal(104, "manager", "manager", None),
    }
    sees = {}
    for name, p in who.items():
        sees[name] = any(i["type"] == "agent_state_changed" for i in await service.snapshot(p))
    assert sees == {"sup_a": True, "sup_b": False, "sup_none": False, "manager": True}

    hub = api.app.state.hub
    conns = {name: hub.attach(p) for name, p in who.items()}
    states = [e for e in events if isinstance(e, AgentStateChanged)]
    assert states
    for e in states:
        service._to_browsers(e)
    hub.flush()
    got = {name: not c.outbox.empty() for name, c in conns.items()}
    assert got == {"sup_a": True, "sup_b": False, "sup_none": False, "manager": True}
    frame = json.loads(hub._frame(conns["sup_a"]))
    assert {i["type"] for i in frame.get("items", [frame])} == {"agent_state_changed"}


@pytest.mark.parametrize("change", [{"role": "manager"}, {"active": False}])
async def test_given_the_last_active_admin_when_demoting_or_deactivating_themselves_then_409(
    api: Api, change: dict[str, object]
) -> None:
    admin = await api.login("admin")
    me = api.users["admin"].id
    r = await admin.patch(f"/api/v1/users/{me}", json=change)
    assert r.status_code == 409 and "last active admin" in r.text
    assert (await admin.get("/api/v1/auth/me")).json()["role"] == "admin"
    await _user(api, "admin2", Role.admin, None, None)  # with another admin, it is allowed
    assert (await admin.patch(f"/api/v1/users/{me}", json=change)).status_code == 200
    await admin.aclose()


@pytest.mark.parametrize("path", ["timeline", "complaints"])
async def test_given_a_call_of_another_agent_when_an_agent_refers_to_it_then_404_like_no_call(
    api: Api, path: str
) -> None:
    async with api.db.session() as s:
        contact = Contact(last_name="Durand")
        theirs = Call(
            linkedid="l-other",
            direction=CallDirection.inbound,
            offered_at=datetime.now(UTC),
            agent_id=api.users["agent2"].id,
            outcome="answered",
        )
        s.add_all([contact, theirs])
        await s.commit()
    c = await api.bearer("agent")
    url, body = (
        (f"/api/v1/contacts/{contact.id}/timeline", {"body": "note"})
        if path == "timeline"
        else ("/api/v1/complaints", {"contact_id": contact.id, "category": "billing", "description": "x"})
    )
    answers = [(await c.post(url, json={**body, "call_id": cid})) for cid in (theirs.id, theirs.id + 1000)]
    assert [r.status_code for r in answers] == [404, 404]
    assert answers[0].json() == answers[1].json()
    manager = await api.bearer("manager")  # in the manager's scope, the same call is accepted
    assert (await manager.post(url, json={**body, "call_id": theirs.id})).status_code == 201
    await c.aclose()
    await manager.aclose()
