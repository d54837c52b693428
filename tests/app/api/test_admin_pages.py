"""The administration pages and the API routes their forms write through (both engines): a lockout lifted
by an admin, the audit log's filters, the phone kind, field errors, and who may open which page."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.models import AuditLog, User
from tests.app.api.conftest import PASSWORD, Api

pytestmark = pytest.mark.db
HTML = {"accept": "text/html"}


async def test_given_a_user_locked_out_when_an_admin_unlocks_them_then_they_sign_in_and_it_is_audited(
    api: Api,
) -> None:
    async with api.client() as c:
        for _ in range(3):  # the fixture's limit
            await c.post("/api/v1/auth/login", json={"username": "agent", "password": "wrong password"})
        locked = await c.post("/api/v1/auth/login", json={"username": "agent", "password": PASSWORD})
        assert locked.status_code == 429
        admin = await api.login("admin")
        page = await admin.get(f"/admin/users/{api.users['agent'].id}", headers=HTML)
        assert "Unlock sign-in" in page.text or "Déverrouiller" in page.text
        r = await admin.post(f"/api/v1/users/{api.users['agent'].id}/unlock")
        assert r.status_code == 200 and r.json()["locks_lifted"] == 1
        again = await c.post("/api/v1/auth/login", json={"username": "agent", "password": PASSWORD})
        assert again.status_code == 200
    async with api.db.session() as s:
        row = await s.scalar(select(AuditLog).where(AuditLog.action == "user_unlocked"))
    assert row is not None and row.target_id == str(api.users["agent"].id)
    assert row.user_id == api.users["admin"].id


BAD_USERS = [  # (body, the field the 422 names)
    ({"username": "a b", "display_name": "X", "password": "0123456789", "role": "agent"}, "username"),
    ({"username": "ok", "display_name": "X", "password": "short", "role": "agent"}, "password"),
    ({"username": "ok", "display_name": "X", "password": "0123456789", "role": "boss"}, "role"),
    ({"username": "ok", "display_name": "X", "password": "0123456789", "role": "agent", "sip_kind": "fax"},
     "sip_kind"),
    ({"username": "ok", "display_name": "X", "password": "0123456789", "role": "agent", "team_id": 999999},
     "team_id"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "field"), BAD_USERS)
async def test_given_bad_input_when_creating_a_user_then_a_422_names_the_field_and_nothing_is_written(
    api: Api, body: dict[str, object], field: str
) -> None:
    admin = await api.login("admin")
    r = await admin.post("/api/v1/users", json=body)
    assert r.status_code == 422
    assert field in {d["loc"][1] for d in r.json()["detail"]}
    async with api.db.session() as s:
        assert await s.scalar(select(User).where(User.username == "ok")) is None


async def test_given_a_user_when_the_admin_sets_the_phone_kind_then_it_is_kept_and_shown(api: Api) -> None:
    admin = await api.login("admin")
    uid = api.users["agent"].id
    r = await admin.patch(f"/api/v1/users/{uid}", json={"sip_kind": "webrtc"})
    assert r.status_code == 200 and r.json()["sip_kind"] == "webrtc"
    page = await admin.get(f"/admin/users/{uid}", headers=HTML)
    assert '<option value="webrtc" selected>' in page.text


async def test_given_audit_entries_when_filtering_then_only_matching_rows_come_back(api: Api) -> None:
    admin = await api.login("admin")
    await admin.post("/api/v1/teams", json={"name": "Recouvrement"})
    await admin.patch(f"/api/v1/users/{api.users['agent'].id}", json={"language": "en"})
    users = (await admin.get("/api/v1/audit", params={"action": "user_"})).json()
    assert {r["action"] for r in users} == {"user_updated"}
    teams = (await admin.get("/api/v1/audit", params={"target_type": "team"})).json()
    assert [r["action"] for r in teams] == ["team_created"]
    by_admin = (await admin.get("/api/v1/audit", params={"user_id": api.users["admin"].id})).json()
    assert {"user_updated", "team_created"} <= {r["action"] for r in by_admin}
    future = (await admin.get("/api/v1/audit", params={"since": "2999-01-01T00:00:00Z"})).json()
    assert future == []
    wildcard = await admin.get("/api/v1/audit", params={"action": "%"})
    assert wildcard.status_code == 422  # no LIKE wildcard gets through
    page = await admin.get("/admin/audit", params={"action": "team_"}, headers=HTML)
    assert page.status_code == 200 and "team_created" in page.text and "user_updated" not in page.text


async def test_given_codes_when_the_admin_retires_and_renames_then_the_change_applies(api: Api) -> None:
    admin = await api.login("admin")
    created = await admin.post("/api/v1/pause-reasons", json={"code": "formation", "label": "Formation"})
    assert created.status_code == 201
    rid = created.json()["id"]
    r = await admin.patch(
        f"/api/v1/pause-reasons/{rid}", json={"active": False, "label": "Formation interne"}
    )
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["label"] == "Formation interne"
    bad = await admin.patch(f"/api/v1/pause-reasons/{rid}", json={"label": ""})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][1] == "label"
    team = (await admin.post("/api/v1/teams", json={"name": "Ventes"})).json()
    renamed = await admin.patch(f"/api/v1/teams/{team['id']}", json={"name": "Ventes directes"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Ventes directes"


PAGE_ACCESS = {  # user → {path: status}
    "agent": {"/admin/audit": 403, "/admin/complaint-reasons": 403, "/admin/users/1": 403},
    "manager": {"/admin/audit": 403, "/admin/complaint-reasons": 200},
    "admin": {"/admin": 200, "/admin/audit": 200, "/admin/complaint-reasons": 200, "/admin/users/x": 404,
              "/admin/users/999999": 404, "/admin/audit?since=2026-13-45&user=%00": 200},
}  # fmt: skip


async def test_given_each_role_when_opening_the_admin_pages_then_access_follows_the_role(api: Api) -> None:
    for user, pages in PAGE_ACCESS.items():
        c = await api.login(user)
        got = {path: (await c.get(path, headers=HTML)).status_code for path in pages}
        assert got == pages, user
