"""The users admin pages with several Asterisk servers (PLATEAU_PBX_SERVERS): a PBX server field on the
new-user and edit forms, the server in the users table, and saving through the API path the form names
(the browser's api_form.js sends the select's value, or null for the empty choice on the edit form)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from core.models import User
from core.settings import PbxServer
from tests.app.api.conftest import Api

pytestmark = pytest.mark.db
HTML = {"accept": "text/html"}


def _servers(api: Api, *names: str) -> None:
    api.app.state.settings = api.app.state.settings.model_copy(
        update={"pbx_servers": [PbxServer(name=name) for name in names]}
    )


def _form(page: str, form_id: str) -> str:
    match = re.search(rf'<form id="{form_id}"[^>]*>.*?</form>', page, re.S)
    assert match, f"no form {form_id}"
    return match.group(0)


COLUMNS = 7  # of the users table with one server


def _users_table(page: str) -> str:
    match = re.search(r'<table class="data" id="users-table">.*?</table>', page, re.S)
    assert match, "no users table"
    return match.group(0)


def _pbx_select(form: str) -> tuple[list[str], str | None, str]:
    """The pbx select's option values, the selected one and its attributes (data-empty)."""
    match = re.search(r'<select id="[^"]+-pbx" name="pbx"([^>]*)>(.*?)</select>', form, re.S)
    assert match, "no pbx field"
    options = re.findall(r'<option value="([^"]*)"( selected)?>', match.group(2))
    return [v for v, _ in options], next((v for v, sel in options if sel), None), match.group(1)


async def _pbx_of(api: Api, username: str) -> str | None:
    async with api.db.session() as s:
        return await s.scalar(select(User.pbx).where(User.username == username))


async def test_given_several_servers_when_an_admin_creates_a_user_with_the_form_then_users_pbx_is_set(
    api: Api,
) -> None:
    _servers(api, "paris", "lyon")
    admin = await api.login("admin")
    page = (await admin.get("/admin", headers=HTML)).text
    form = _form(page, "new-user")
    values, selected, _attrs = _pbx_select(form)
    assert values == ["", "paris", "lyon"] and selected == ""
    path = re.search(r'data-api="([^"]+)" data-method="POST"', form)
    assert path and path.group(1) == "/api/v1/users"
    body = {
        "username": "on-lyon",
        "display_name": "L",
        "password": "0123456789",
        "role": "agent",
        "pbx": "lyon",
    }
    assert (await admin.post(path.group(1), json=body)).status_code == 201
    assert await _pbx_of(api, "on-lyon") == "lyon"
    table = _users_table((await admin.get("/admin", headers=HTML)).text)
    assert table.count("<th ") == COLUMNS + 1
    row = re.search(r"on-lyon</a>.*?</tr>", table, re.S)
    assert row and '<td class="mono">lyon</td>' in row.group(0)
    agent_row = re.search(r">agent</a>.*?</tr>", table, re.S)  # no pbx: the first server
    assert agent_row and '<td class="mono">paris</td>' in agent_row.group(0)
    body = {"username": "no-phone", "display_name": "N", "password": "0123456789", "role": "agent"}
    assert (await admin.post(path.group(1), json=body)).status_code == 201
    table = _users_table((await admin.get("/admin", headers=HTML)).text)
    row = re.search(r"no-phone</a>.*?</tr>", table, re.S)  # neither a server nor a phone: no server to show
    assert row and '<td class="mono">—</td><td class="mono">—</td>' in row.group(0)


async def test_given_a_user_on_a_server_when_the_admin_picks_the_empty_choice_then_pbx_is_cleared(
    api: Api,
) -> None:
    _servers(api, "paris", "lyon")
    admin = await api.login("admin")
    uid = api.users["agent"].id
    form = _form((await admin.get(f"/admin/users/{uid}", headers=HTML)).text, "edit-user")
    assert _pbx_select(form)[1] == ""
    assert (await admin.patch(f"/api/v1/users/{uid}", json={"pbx": "lyon"})).status_code == 200
    form = _form((await admin.get(f"/admin/users/{uid}", headers=HTML)).text, "edit-user")
    values, selected, attrs = _pbx_select(form)
    assert values == ["", "paris", "lyon"] and selected == "lyon" and 'data-empty="null"' in attrs
    assert f'data-api="/api/v1/users/{uid}" data-method="PATCH"' in form
    assert (await admin.patch(f"/api/v1/users/{uid}", json={"pbx": None})).status_code == 200
    assert await _pbx_of(api, "agent") is None


async def test_given_a_user_on_a_server_since_removed_when_the_edit_page_opens_then_it_stays_selected(
    api: Api,
) -> None:
    async with api.db.session() as s:
        agent = await s.get(User, api.users["agent"].id)
        assert agent is not None
        agent.pbx = "marseille"
        await s.commit()
    _servers(api, "paris", "lyon")
    admin = await api.login("admin")
    form = _form((await admin.get(f"/admin/users/{api.users['agent'].id}", headers=HTML)).text, "edit-user")
    values, selected, _attrs = _pbx_select(form)
    assert values == ["", "paris", "lyon", "marseille"] and selected == "marseille"
    row = re.search(r">agent</a>.*?</tr>", _users_table((await admin.get("/admin", headers=HTML)).text), re.S)
    assert row and '<td class="mono">marseille (non configuré)</td>' in row.group(0)


@pytest.mark.parametrize("names", [(), ("solo",)])
async def test_given_one_server_when_the_admin_opens_the_user_pages_then_no_pbx_field_or_column(
    api: Api, names: tuple[str, ...]
) -> None:
    _servers(api, *names)
    admin = await api.login("admin")
    users_page = (await admin.get("/admin", headers=HTML)).text
    assert 'name="pbx"' not in users_page and _users_table(users_page).count("<th ") == COLUMNS
    user_page = (await admin.get(f"/admin/users/{api.users['agent'].id}", headers=HTML)).text
    assert 'id="edit-user"' in user_page and 'name="pbx"' not in user_page


async def test_given_an_agent_on_a_server_when_their_team_lead_clears_it_then_403_and_it_is_kept(
    api: Api,
) -> None:
    _servers(api, "paris", "lyon")
    admin = await api.login("admin")
    uid = api.users["agent"].id
    assert (await admin.patch(f"/api/v1/users/{uid}", json={"pbx": "lyon"})).status_code == 200
    r = await (await api.login("supervisor")).patch(f"/api/v1/users/{uid}", json={"pbx": None})
    assert r.status_code == 403
    assert await _pbx_of(api, "agent") == "lyon"
