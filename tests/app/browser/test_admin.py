"""Administration in the browser: an admin creates and edits a user (field errors inline on bad input),
resets a password (the user's open session and WebSocket end), deactivates and unlocks; audit rows follow.
The module runs its own server with a sign-in limit of 3, so that a lockout here touches no other test."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.app.browser.conftest import PASSWORD, LiveServer, login, seeded_server

pytestmark = pytest.mark.browser
# Records the close code of every WebSocket the page opens (the server ends a session with 4401).
RECORD_WS_CLOSES = """
window.__wsCloses = [];
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener("close", (ev) => window.__wsCloses.push(ev.code));
  }
};
"""
NEW_PASSWORD = "un-nouveau-mot-de-passe"


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = seeded_server(
        tmp_path_factory.mktemp("admin"), PLATEAU_LOGIN_RATE_LIMIT="3", PLATEAU_LOGIN_IP_RATE_LIMIT="1000"
    )
    server.start()
    yield server
    server.stop()


def _user_id(admin: Page, username: str) -> int:
    return next(u["id"] for u in admin.request.get("/api/v1/users").json() if u["username"] == username)


def test_given_an_admin_when_creating_a_user_with_bad_input_then_errors_show_inline_and_the_fix_goes_through(
    admin_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    admin = open_page(admin_server.url, "demo-admin")  # works in English
    admin.goto("/admin")
    form = admin.locator("#new-user")
    form.get_by_label("Username").fill("jean dupont")
    form.get_by_label("Full name").fill("Jean Dupont")
    form.get_by_label("Initial password").fill("court")
    form.get_by_label("Role").select_option("agent")
    form.get_by_role("button", name="Create the user").click()
    expect(form.locator("#new-user-username-error")).to_contain_text("pattern")
    expect(form.locator("#new-user-password-error")).to_contain_text("10 characters")
    expect(form.get_by_label("Username")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_label("Full name")).to_have_value("Jean Dupont")  # nothing typed is lost
    assert admin.request.get("/api/v1/users").json()[-1]["username"] != "jean dupont"

    form.get_by_label("Username").fill("jdupont")
    form.get_by_label("Initial password").fill("un-mot-de-passe-solide")
    form.get_by_role("button", name="Create the user").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("User jdupont")
    expect(admin.get_by_label("Full name")).to_have_value("Jean Dupont")

    edit = admin.locator("#edit-user")
    edit.get_by_label("Phone (SIP user)").fill("poste 12!")
    edit.get_by_role("button", name="Save").click()
    expect(edit.locator("#edit-user-sip_endpoint-error")).to_be_visible()
    edit.get_by_label("Phone (SIP user)").fill("jdupont")
    edit.get_by_label("Role").select_option("supervisor")
    edit.get_by_label("Team").select_option(label="Support client")
    edit.get_by_label("Language").select_option("en")
    edit.get_by_label("Phone kind").select_option("sip")
    edit.get_by_role("button", name="Save").click()
    expect(edit.get_by_role("status")).to_have_text("Saved.")
    admin.reload()
    expect(edit.get_by_label("Role")).to_have_value("supervisor")
    expect(edit.get_by_label("Team")).to_have_value(str(_team_id(admin, "Support client")))
    expect(edit.get_by_label("Phone (SIP user)")).to_have_value("jdupont")

    admin.goto("/admin/audit?action=user_")
    rows = admin.locator("#audit-table tbody tr")
    expect(rows.filter(has_text="user_created")).to_have_count(1)
    expect(rows.filter(has_text="user_updated")).to_have_count(1)  # the refused edit wrote nothing
    expect(rows.first).to_contain_text("demo-admin")


def _team_id(admin: Page, name: str) -> int:
    return next(t["id"] for t in admin.request.get("/api/v1/teams").json() if t["name"] == name)


def test_given_a_signed_in_agent_when_the_admin_resets_their_password_then_session_and_socket_end(
    admin_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    agent = open_page(admin_server.url)
    agent.context.add_init_script(RECORD_WS_CLOSES)
    login(agent, "agent3")
    agent.goto("/desk")
    agent.wait_for_function(
        # a function, not an expression: Playwright polls an expression with eval, which the CSP refuses
        "() => window.plateauLive && window.plateauLive.ws && window.plateauLive.ws.readyState === 1"
    )

    admin = open_page(admin_server.url, "demo-admin")
    admin.goto(f"/admin/users/{_user_id(admin, 'agent3')}")
    reset = admin.locator("#reset-password")
    reset.get_by_label("New password").fill("short")
    reset.get_by_role("button", name="Reset the password").click()
    expect(reset.locator("#reset-password-password-error")).to_be_visible()
    reset.get_by_label("New password").fill(NEW_PASSWORD)
    reset.get_by_role("button", name="Reset the password").click()
    expect(reset.get_by_role("status")).to_have_text("Password reset; the user was signed out everywhere.")

    agent.wait_for_function("() => window.__wsCloses.includes(4401)")
    agent.reload()
    expect(agent).to_have_url(re.compile(r"/login"))
    login(agent, "agent3", NEW_PASSWORD)
    expect(agent).to_have_url(re.compile(r"/desk"))


def test_given_a_locked_out_agent_when_the_admin_unlocks_then_deactivates_then_each_applies_and_is_audited(
    admin_server: LiveServer, open_page: Callable[..., Page]
) -> None:
    agent = open_page(admin_server.url)
    for _ in range(3):
        r = agent.request.post("/api/v1/auth/login", data={"username": "agent2", "password": "pas le bon"})
        assert r.status == 401
    assert (
        agent.request.post("/api/v1/auth/login", data={"username": "agent2", "password": PASSWORD}).status
        == 429
    )

    admin = open_page(admin_server.url, "demo-admin")
    admin.goto("/admin")
    row = admin.locator("#users-table tr", has_text="agent2")
    expect(row).to_contain_text("Locked out")
    row.get_by_role("link", name="agent2").click()
    admin.get_by_role("button", name="Unlock sign-in").click()
    expect(admin.get_by_role("button", name="Unlock sign-in")).to_have_count(0)
    login(agent, "agent2")
    agent.goto("/desk")
    expect(agent.get_by_role("heading", level=1)).to_be_visible()

    admin.get_by_role("button", name="Deactivate the user").click()
    expect(admin.get_by_role("button", name="Reactivate the user")).to_be_visible()
    expect(admin.locator(".page-head")).to_contain_text("Deactivated")
    agent.reload()
    expect(agent).to_have_url(re.compile(r"/login"))
    r = agent.request.post("/api/v1/auth/login", data={"username": "agent2", "password": PASSWORD})
    assert r.status == 401

    admin.goto("/admin/audit?target_type=user")
    rows = admin.locator("#audit-table tbody tr")
    expect(rows.filter(has_text="user_unlocked")).to_have_count(1)
    expect(rows.filter(has_text='"active"')).to_have_count(1)
