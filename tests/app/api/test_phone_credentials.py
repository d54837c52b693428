"""Each phone's own SIP password: generated, returned once, kept only as PJSIP's md5_cred; admins only."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.models import User
from cti.phones import Provisioner, ha1
from tests.app.api.conftest import Api

pytestmark = pytest.mark.db


async def test_given_an_admin_when_resetting_a_users_phone_password_then_it_is_shown_once_and_stored_hashed(
    api: Api, tmp_path: Path
) -> None:
    reloads: list[str] = []
    api.app.state.phones = Provisioner(tmp_path, reloads.append)
    c = await api.login("admin")
    agent = api.users["agent"].id
    r = await c.post(f"/api/v1/users/{agent}/phone-password", json={"kind": "sip"})
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["username"] == "ep-agent" and out["realm"] == "plateau" and out["applied"] is True
    assert r.headers["cache-control"] == "no-store"
    password = out["password"]
    assert len(password) >= 20
    async with api.db.session() as s:
        user = await s.get(User, agent)
        assert user is not None and user.sip_ha1 == ha1("ep-agent", password) and user.sip_kind == "sip"
    include = (tmp_path / "pjsip_phones.conf").read_text()
    assert f"md5_cred = {ha1('ep-agent', password)}" in include and password not in include
    assert reloads == ["module reload res_pjsip.so"]
    listed = {u["username"]: u for u in (await c.get("/api/v1/users")).json()}
    assert listed["agent"]["sip_password_set_at"] and "password" not in str(listed["agent"]).lower().replace(
        "password_set_at", ""
    )
    again = (await c.post(f"/api/v1/users/{agent}/phone-password")).json()["password"]
    assert again != password  # the old one stops working
    async with api.db.session() as s:
        assert (await s.get(User, agent)).sip_ha1 == ha1("ep-agent", again)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("who", "target", "body", "code", "says"),
    [
        ("agent", "agent", None, 403, ""),
        ("admin", "nobody", None, 404, "no such user"),
        ("admin", "no-phone", None, 409, "sip_endpoint"),
        ("admin", "agent", {"kind": "fax"}, 422, "kind"),
    ],
)
async def test_given_a_bad_phone_password_request_when_sent_then_a_clear_error_and_nothing_changes(
    api: Api, who: str, target: str, body: dict[str, str] | None, code: int, says: str
) -> None:
    async with api.db.session() as s:
        bare = User(
            username="no-phone", display_name="No phone", password_hash="x", role=api.users["agent"].role
        )
        s.add(bare)
        await s.commit()
        ids = {"agent": api.users["agent"].id, "no-phone": bare.id, "nobody": 999_999}
    c = await api.login(who)
    r = await c.post(f"/api/v1/users/{ids[target]}/phone-password", json=body)
    assert r.status_code == code, r.text
    assert says in r.text
    async with api.db.session() as s:
        assert (await s.get(User, api.users["agent"].id)).sip_ha1 is None  # type: ignore[union-attr]


async def test_given_a_phone_with_a_password_when_its_endpoint_is_renamed_then_the_old_digest_is_dropped(
    api: Api,
) -> None:
    c = await api.login("admin")
    agent = api.users["agent"].id
    assert (await c.post(f"/api/v1/users/{agent}/phone-password")).status_code == 201
    r = await c.patch(f"/api/v1/users/{agent}", json={"sip_endpoint": "ep-renamed"})
    assert r.status_code == 200, r.text
    async with api.db.session() as s:
        assert (await s.get(User, agent)).sip_ha1 is None  # type: ignore[union-attr]
