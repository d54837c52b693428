"""The PBX server of a user in the browser, with two Asterisk servers configured (PLATEAU_PBX_SERVERS; AMI
off, so none is dialled): an admin creates a user on the second server through the new-user form, sees it in
the users table, then puts them back on the first with the edit form's empty choice."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.app.browser.conftest import LiveServer, seeded_server

pytestmark = pytest.mark.browser
SERVERS = [{"name": "paris", "ami_port": 5038}, {"name": "lyon", "ami_port": 5039}]


@pytest.fixture(scope="module")
def pbx_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = seeded_server(tmp_path_factory.mktemp("admin-pbx"), PLATEAU_PBX_SERVERS=json.dumps(SERVERS))
    server.start()
    yield server
    server.stop()


def _pbx_of(admin: Page, username: str) -> str | None:
    users = admin.request.get("/api/v1/users").json()
    pbx: str | None = next(u["pbx"] for u in users if u["username"] == username)
    return pbx


def test_given_two_servers_when_an_admin_creates_then_edits_a_user_then_their_pbx_follows_the_form(
    pbx_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    admin = open_page(pbx_server.url, "demo-admin")  # works in English
    admin.goto("/admin")
    form = admin.locator("#new-user")
    server = form.get_by_label("PBX server")
    expect(server.locator("option")).to_have_text(["The first one (paris)", "paris", "lyon"])
    form.get_by_label("Username").fill("lyonnais")
    form.get_by_label("Full name").fill("Agent Lyonnais")
    form.get_by_label("Initial password").fill("un-mot-de-passe-solide")
    server.select_option("lyon")
    form.get_by_role("button", name="Create the user").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("User lyonnais")
    assert _pbx_of(admin, "lyonnais") == "lyon"
    edit = admin.locator("#edit-user")
    expect(edit.get_by_label("PBX server")).to_have_value("lyon")

    edit.get_by_label("PBX server").select_option("")  # back to the first server
    edit.get_by_role("button", name="Save").click()
    expect(edit.get_by_role("status")).to_have_text("Saved.")
    assert _pbx_of(admin, "lyonnais") is None

    admin.goto("/admin")
    table = admin.locator("#users-table")
    expect(table.get_by_role("columnheader", name="PBX server")).to_be_visible()
    # no phone and the first server by default: no server to show (a phone would register on paris)
    pbx_cell = table.get_by_role("row").filter(has_text="lyonnais").get_by_role("cell").nth(5)
    expect(pbx_cell).to_have_text("—")
