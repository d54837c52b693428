"""In the browser: an admin sets opening hours at /admin/hours (the server's errors shown next to their
fields, nothing typed lost, the fix saved), and a team lead manages an agent of their own team from "My
team" while another team's agent stays out of reach. The module runs its own server: it changes users."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.app.browser.conftest import LiveServer, seeded_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = seeded_server(tmp_path_factory.mktemp("hours-team"))
    live.start()
    yield live
    live.stop()


def test_given_an_admin_when_setting_opening_hours_with_mistakes_then_errors_show_inline_and_the_fix_is_saved(
    server: LiveServer, open_page: Callable[..., Page]
) -> None:
    admin = open_page(server.url, "demo-admin")  # in English
    admin.goto("/admin")
    admin.get_by_role("link", name="Opening hours").click()
    form = admin.locator("#new-hours")
    form.get_by_label("Name", exact=True).fill("accueil")
    form.get_by_label("Time zone").fill("Europe/Lutece")
    form.get_by_label("Monday").fill("08:30-12:00, 11:00-14:00")
    form.get_by_label("Closed days and special hours").fill("2026-12-24; 08:30-12:00; Christmas Eve")
    form.get_by_role("button", name="Create the schedule").click()
    expect(form.locator("#new-hours-timezone-error")).to_contain_text("unknown time zone")
    expect(form.locator("#new-hours-weekly-error")).to_contain_text("overlap")
    expect(form.get_by_label("Time zone")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_label("Monday")).to_have_value("08:30-12:00, 11:00-14:00")  # nothing typed is lost
    assert admin.request.get("/api/v1/hours").json() == []

    form.get_by_label("Time zone").fill("Europe/Paris")
    form.get_by_label("Monday").fill("08:30-12:00, 14:00-18:00")
    form.get_by_role("button", name="Create the schedule").click()
    saved = admin.locator("form[data-method=PUT]")
    expect(saved.get_by_label("Monday")).to_have_value("08:30-12:00, 14:00-18:00")
    (row,) = admin.request.get("/api/v1/hours").json()
    assert row["name"] == "accueil" and row["weekly"] == {"mon": ["08:30-12:00", "14:00-18:00"]}
    assert row["exceptions"] == [{"date": "2026-12-24", "hours": ["08:30-12:00"], "reason": "Christmas Eve"}]


def test_given_a_team_lead_when_managing_agents_then_their_own_team_only(
    server: LiveServer, open_page: Callable[..., Page]
) -> None:
    admin = open_page(server.url, "demo-admin")
    ids = {u["username"]: u["id"] for u in admin.request.get("/api/v1/users").json()}

    lead = open_page(server.url, "demo-supervisor")  # Support client: agent1 and agent2; agent3 is in Ventes
    lead.get_by_role("link", name="Mon équipe").click()
    agents = lead.locator("#team-agents")
    expect(agents).to_contain_text("agent1")
    expect(agents).not_to_contain_text("agent3")
    agents.get_by_role("link", name="agent2").click()
    lead.locator("#edit-user-display_name").fill("Karim Benali-Durand")
    expect(lead.locator("#edit-user-role")).to_have_count(0)  # roles stay with admins
    lead.locator("#edit-user").get_by_role("button", name="Enregistrer").click()
    expect(lead.locator("#edit-user [role=status]")).to_have_text("Enregistré.")
    names = {u["username"]: u["display_name"] for u in admin.request.get("/api/v1/users").json()}
    assert names["agent2"] == "Karim Benali-Durand"

    other = lead.goto(f"/admin/users/{ids['agent3']}")
    assert other is not None and other.status == 403
    refused = lead.request.patch(f"/api/v1/users/{ids['agent3']}", data={"display_name": "X"},
                                 headers={"X-CSRF-Token": _csrf(lead)})  # fmt: skip
    assert refused.status == 403


def _csrf(page: Page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "plateau_csrf")
