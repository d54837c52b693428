"""A team lead (a supervisor with a team) manages the agents of their own team, and nothing else, through
the same API routes and pages as an admin (both engines). One table: who does what to whom, and the answer."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from app.team_scope import Person, member_refusal, user_refusal
from core.models import AuditLog, Queue, QueueMember, Role, Team, User
from tests.app.api.conftest import Api

pytestmark = pytest.mark.db
HTML = {"accept": "text/html"}

# (method, path with {agent} {agent2} {admin} {manager} {supervisor} {team_b}, body, status for the lead)
LEAD_RULES: list[tuple[str, str, dict[str, Any] | None, int]] = [
    ("PATCH", "/api/v1/users/{agent}", {"display_name": "Agent Renamed"}, 200),  # edit
    ("PATCH", "/api/v1/users/{agent}", {"language": "en"}, 200),
    ("PATCH", "/api/v1/users/{agent}", {"password": "a fresh password"}, 200),  # reset the password
    ("PATCH", "/api/v1/users/{agent}", {"active": False}, 200),  # deactivate
    ("POST", "/api/v1/users/{agent}/unlock", None, 200),  # unlock
    # what the admin's form sends, unchanged, is no change
    ("PATCH", "/api/v1/users/{agent}", {"display_name": "X", "role": "agent", "team_id": "{team_a}"}, 200),
    ("PATCH", "/api/v1/users/{agent}", {"role": "supervisor"}, 403),  # promote
    ("PATCH", "/api/v1/users/{agent}", {"team_id": "{team_b}"}, 403),  # move to another team
    ("PATCH", "/api/v1/users/{agent}", {"sip_endpoint": "ep-new"}, 403),  # phones stay with admins
    ("POST", "/api/v1/users/{agent}/phone-password", None, 403),
    ("PATCH", "/api/v1/users/{agent2}", {"display_name": "X"}, 403),  # another team's agent
    ("POST", "/api/v1/users/{agent2}/unlock", None, 403),
    ("PATCH", "/api/v1/users/{admin}", {"password": "a fresh password"}, 403),  # an admin
    ("PATCH", "/api/v1/users/{manager}", {"active": False}, 403),  # a manager
    ("PATCH", "/api/v1/users/{supervisor}", {"display_name": "Me"}, 403),  # themselves: /account is theirs
    (
        "POST",
        "/api/v1/users",
        {"username": "new", "display_name": "N", "password": "0123456789", "role": "agent"},
        403,
    ),
    ("POST", "/api/v1/teams", {"name": "Équipe C"}, 403),  # global settings
    ("PATCH", "/api/v1/queues/{open_queue}", {"display_name": "X"}, 403),
    ("POST", "/api/v1/hours", {"name": "x"}, 403),
    ("POST", "/api/v1/pause-reasons", {"code": "x", "label": "X"}, 403),
    ("POST", "/api/v1/queues/{open_queue}/members", {"user_id": "{agent}", "skill": 2}, 201),  # own agent
    ("PUT", "/api/v1/queues/{open_queue}/members/{agent}", {"skill": 3}, 200),
    ("POST", "/api/v1/queues/{team_queue}/members", {"user_id": "{agent}", "skill": 2}, 201),  # own team's
    ("POST", "/api/v1/queues/{open_queue}/members", {"user_id": "{agent2}", "skill": 2}, 403),  # not theirs
    ("POST", "/api/v1/queues/{b_queue}/members", {"user_id": "{agent}", "skill": 2}, 403),  # B's queue
    ("DELETE", "/api/v1/queues/{open_queue}/members/{agent2}", None, 403),
    ("DELETE", "/api/v1/queues/{open_queue}/members/{agent}", None, 204),
]


async def _world(api: Api) -> dict[str, int]:
    """Three queues (no team, team A's, team B's) with agent and agent2 in the open one."""
    async with api.db.session() as s:
        teams = {t.name: t.id for t in await s.scalars(select(Team))}
        a, b = teams["Équipe A"], teams["Équipe B"]
        queues = [Queue(name="open", display_name="Open"), Queue(name="qa", display_name="A", team_id=a),
                  Queue(name="qb", display_name="B", team_id=b)]  # fmt: skip
        s.add_all(queues)
        await s.flush()
        s.add(QueueMember(queue_id=queues[0].id, user_id=api.users["agent2"].id, penalty=0))
        await s.commit()
        ids = {name: u.id for name, u in api.users.items()}
        return ids | {"team_a": a, "team_b": b, "open_queue": queues[0].id, "team_queue": queues[1].id,
                      "b_queue": queues[2].id}  # fmt: skip


def _fill(value: Any, ids: dict[str, int]) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
        return ids[value[1:-1]]
    return value


@pytest.mark.parametrize(("method", "path", "body", "status"), LEAD_RULES)
async def test_given_a_team_lead_when_acting_on_a_user_or_member_then_only_their_own_agents_are_theirs(
    api: Api, method: str, path: str, body: dict[str, Any] | None, status: int
) -> None:
    ids = await _world(api)
    c = await api.login("supervisor")
    if method in ("PUT", "DELETE") and "members/{agent}" in path:  # the agent must be a member first
        assert (await c.post(f"/api/v1/queues/{ids['open_queue']}/members",
                             json={"user_id": ids["agent"], "skill": 1})).status_code == 201  # fmt: skip
    r = await c.request(method, path.format(**ids), json=_fill(body, ids))
    assert r.status_code == status, r.text


async def test_given_a_lead_change_when_made_then_it_is_audited_under_the_lead(api: Api) -> None:
    c = await api.login("supervisor")
    r = await c.patch(f"/api/v1/users/{api.users['agent'].id}", json={"display_name": "Renamed"})
    assert r.status_code == 200, r.text
    async with api.db.session() as s:
        row = await s.scalar(select(AuditLog).where(AuditLog.action == "user_updated"))
    assert row is not None and row.user_id == api.users["supervisor"].id


@pytest.mark.parametrize("role", ["agent", "manager"])
async def test_given_a_role_that_leads_no_team_when_editing_an_agent_then_403(api: Api, role: str) -> None:
    c = await api.login(role)
    r = await c.patch(f"/api/v1/users/{api.users['agent'].id}", json={"display_name": "X"})
    assert r.status_code == 403


async def test_given_a_supervisor_in_no_team_when_editing_an_agent_then_403(api: Api) -> None:
    async with api.db.session() as s:
        (await s.get(User, api.users["supervisor"].id)).team_id = None  # type: ignore[union-attr]
        await s.commit()
    async with api.db.session() as s:
        (await s.get(User, api.users["agent2"].id)).team_id = None  # type: ignore[union-attr]
        await s.commit()
    c = await api.login("supervisor")
    r = await c.patch(f"/api/v1/users/{api.users['agent'].id}", json={"display_name": "X"})
    assert r.status_code == 403
    assert (await c.get("/api/v1/users")).json() == []  # not the agents of no team either


async def test_given_a_team_lead_when_listing_then_they_see_their_agents_and_members_only(api: Api) -> None:
    ids = await _world(api)
    c = await api.login("supervisor")
    assert [u["username"] for u in (await c.get("/api/v1/users")).json()] == ["agent"]
    assert (await c.get(f"/api/v1/queues/{ids['open_queue']}/members")).json() == []  # agent2 is B's
    admin = await api.login("admin")
    assert [
        m["username"] for m in (await admin.get(f"/api/v1/queues/{ids['open_queue']}/members")).json()
    ] == ["agent2"]


async def test_given_a_team_lead_when_opening_pages_then_their_team_and_agents_only(api: Api) -> None:
    ids = await _world(api)
    c = await api.login("supervisor")
    team = await c.get("/admin/team", headers=HTML)
    assert team.status_code == 200
    assert f'href="/admin/users/{ids["agent"]}"' in team.text
    assert f'href="/admin/users/{ids["agent2"]}"' not in team.text
    assert 'data-api="/api/v1/queues/{}/members"'.format(ids["b_queue"]) not in team.text
    own = await c.get(f"/admin/users/{ids['agent']}", headers=HTML)
    assert own.status_code == 200 and 'name="role"' not in own.text and 'name="display_name"' in own.text
    for path in (f"/admin/users/{ids['agent2']}", f"/admin/users/{ids['admin']}", "/admin", "/admin/hours"):
        assert (await c.get(path, headers=HTML)).status_code == 403, path
    admin = await api.login("admin")
    page = await admin.get(f"/admin/users/{ids['agent']}", headers=HTML)
    assert 'name="role"' in page.text


A, B = 1, 2
LEAD = Person(Role.supervisor, A)


@pytest.mark.parametrize(
    ("actor", "target", "changes", "allowed"),
    [
        (Person(Role.admin, None), Person(Role.admin, None), {"role": "agent"}, True),
        (LEAD, Person(Role.agent, A), {"display_name": "x", "active": False}, True),
        (LEAD, Person(Role.agent, A), {"role": "agent"}, True),  # unchanged
        (LEAD, Person(Role.agent, A), {"role": "manager"}, False),
        (LEAD, Person(Role.agent, B), {}, False),
        (LEAD, Person(Role.agent, None), {}, False),
        (LEAD, Person(Role.supervisor, A), {}, False),
        (Person(Role.supervisor, None), Person(Role.agent, None), {}, False),
        (Person(Role.manager, A), Person(Role.agent, A), {}, False),
    ],
)
def test_given_the_user_rule_when_asked_then_it_answers_like_the_table(
    actor: Person, target: Person, changes: dict[str, Any], allowed: bool
) -> None:
    current = {"role": target.role.value, "team_id": target.team_id}
    assert (user_refusal(actor, target, changes, current) is None) is allowed


@pytest.mark.parametrize(("queue_team", "allowed"), [(None, True), (A, True), (B, False)])
def test_given_the_member_rule_when_the_queue_is_of_a_team_then_only_none_or_the_leads_own(
    queue_team: int | None, allowed: bool
) -> None:
    assert (member_refusal(LEAD, Person(Role.agent, A), queue_team) is None) is allowed
    assert member_refusal(Person(Role.admin, None), Person(Role.agent, B), B) is None
