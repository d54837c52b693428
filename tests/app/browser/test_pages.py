"""The pages as a person uses them, in Debian's Chromium: sign-in, languages, roles, customers, complaints,
reports, keyboard use and the live connection banner."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.app.browser.conftest import EVIL_AGENT, HISTORY_NOTES, LiveServer, login

pytestmark = pytest.mark.browser


def test_given_a_new_visitor_when_the_login_page_opens_then_it_is_in_french(page: Page) -> None:
    page.goto("/desk")
    expect(page).to_have_url(re.compile(r"/login\?next=/desk$"))
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", name="Se connecter")).to_be_visible()
    expect(page.get_by_label("Identifiant")).to_be_focused()


def test_given_a_wrong_password_when_signing_in_then_an_error_is_announced_in_french(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Identifiant").fill("agent1")
    page.get_by_label("Mot de passe").fill("not the password")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("alert")).to_have_text("Identifiant ou mot de passe incorrect.")
    expect(page).to_have_url(re.compile(r"/login$"))


@pytest.mark.parametrize(
    ("username", "path", "heading"),
    [
        ("agent1", "/desk", "Poste agent"),
        ("demo-supervisor", "/wallboard", "Tableau de bord"),
        ("demo-manager", "/reports", "Rapports"),
        ("demo-admin", "/admin", "Administration"),
    ],
)
def test_given_a_role_when_signing_in_then_it_lands_on_its_home_page(
    page: Page, username: str, path: str, heading: str
) -> None:
    login(page, username)
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)


def test_given_an_agent_when_opening_the_wallboard_then_access_is_denied(page: Page) -> None:
    login(page, "agent2")
    expect(page.get_by_role("navigation", name="Navigation principale").get_by_role("link")).to_have_text(
        ["Poste", "Clients", "Réclamations"]
    )
    response = page.goto("/wallboard")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Accès refusé")


def test_given_a_french_user_when_switching_to_english_then_labels_change_and_follow_the_user(
    page: Page, live_server: LiveServer
) -> None:
    login(page, "agent3")
    expect(page.get_by_role("heading", level=1)).to_have_text("Poste agent")
    page.get_by_label("Langue").select_option("en")
    page.get_by_role("button", name="Appliquer").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Agent desk")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    # Saved on the user: a new browser signing in gets English straight away.
    other = page.context.browser.new_context(base_url=live_server.url)  # type: ignore[union-attr]
    try:
        p2 = other.new_page()
        login(p2, "agent3")
        expect(p2.get_by_role("heading", level=1)).to_have_text("Agent desk")
        expect(p2.get_by_role("link", name="Customers")).to_be_visible()
    finally:
        other.close()
    page.get_by_label("Language").select_option("fr")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Poste agent")


def test_given_a_number_typed_in_another_format_when_searching_then_the_contact_is_found(page: Page) -> None:
    login(page, "agent1")
    page.get_by_role("link", name="Clients").click()
    search = page.get_by_role("searchbox", name="Nom, société ou numéro de téléphone")
    search.fill("+33 (0)6.12.34.56.78")  # stored from "06 12 34 56 78"
    search.press("Enter")
    results = page.locator("#contact-results tbody tr")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("Hélène Lefèvre")
    expect(results.first).to_contain_text("Boulangeries Lefèvre")
    results.first.get_by_role("link", name="Hélène Lefèvre").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hélène Lefèvre")


def test_given_a_name_or_company_when_searching_then_contacts_and_companies_are_listed(page: Page) -> None:
    login(page, "agent1")
    page.goto("/customers?q=atlas")
    expect(page.locator("#contact-results tbody tr")).to_have_count(2)  # Youssef El Amrani, Nadia Bensaïd
    expect(page.get_by_role("link", name="Atlas Télécom").first).to_be_visible()


def test_given_a_long_history_when_paging_through_the_timeline_then_every_note_is_reached(page: Page) -> None:
    login(page, "agent1")
    page.goto("/customers?q=06 12 34 56 78")
    page.get_by_role("link", name="Hélène Lefèvre").click()
    timeline = page.locator("ol.timeline > li")
    expect(timeline).to_have_count(25)
    seen: set[str] = set()
    for _ in range(10):
        bodies = page.locator("ol.timeline .body").all_inner_texts()
        seen |= {t for t in bodies if t.startswith("Note de suivi")}
        older = page.get_by_role("link", name="Plus anciens")
        if older.count() == 0:
            break
        older.click()
        expect(page.get_by_role("link", name="Plus récents")).to_be_visible()
    assert seen == {f"Note de suivi n°{i}" for i in range(1, HISTORY_NOTES + 1)}
    page.get_by_role("link", name="Note", exact=True).click()  # the kind filter
    expect(page.locator("ol.timeline > li[data-kind='note']")).to_have_count(25)
    expect(page.locator("ol.timeline > li:not([data-kind='note'])")).to_have_count(0)


def test_given_complaints_when_filtered_by_status_and_deadline_then_only_matching_rows_show(
    page: Page,
) -> None:
    login(page, "demo-supervisor")
    page.goto("/complaints")
    rows = page.locator("#complaints-table tbody tr")
    expect(rows).to_have_count(5)
    page.get_by_label("Statut").select_option("open")
    page.get_by_role("button", name="Filtrer").click()
    expect(rows).to_have_count(2)
    page.get_by_label("Échéance").select_option("late")
    page.get_by_role("button", name="Filtrer").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-status", "open")
    expect(rows.first).to_have_attribute("data-sla", "late")
    expect(rows.first.locator(".badge")).to_have_text("En retard")


def test_given_calls_today_when_the_reports_page_opens_then_charts_show_and_csv_cells_are_neutralised(
    page: Page, tmp_path: Path
) -> None:
    login(page, "demo-manager")
    expect(page.locator("figure.chart[data-queue='support'] svg rect")).not_to_have_count(0)
    expect(page.locator("#state-chart svg rect")).not_to_have_count(0)
    expect(page.locator("#queue-totals")).to_contain_text("Support")
    expect(page.locator("#agent-states")).to_contain_text("Pause : dejeuner")
    expect(page.locator("#agent-intervals tbody tr")).not_to_have_count(0)  # 15/30/60-min rows per agent
    with page.expect_download() as info:
        page.locator("#csv-agents").click()
    target = tmp_path / "agents.csv"
    info.value.save_as(target)
    text = target.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))  # French: ; and decimal comma
    assert rows[0][:3] == ["agent_id", "agent", "start"]
    names = [r[1] for r in rows[1:]]
    assert "'" + EVIL_AGENT in names and EVIL_AGENT not in names
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def _focus_info(page: Page) -> dict[str, object]:
    return page.evaluate(
        """() => {
        const el = document.activeElement;
        const cs = getComputedStyle(el);
        const r = el.getBoundingClientRect();
        return {tag: el.tagName, id: el.id, text: (el.innerText || el.value || '').trim().slice(0, 40),
                outline: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2,
                onscreen: r.width > 0 && r.height > 0 && r.top >= 0 && r.left >= 0};
    }"""
    )


def test_given_only_a_keyboard_when_using_the_desk_then_main_actions_are_reached_with_visible_focus(
    page: Page,
) -> None:
    page.goto("/login")  # the username field has the focus: sign in without a mouse
    page.keyboard.type("agent1")
    page.keyboard.press("Tab")
    page.keyboard.type("plateau-demo")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/desk$"))
    page.keyboard.press("Tab")
    first = _focus_info(page)
    assert first["text"] == "Aller au contenu principal" and first["outline"] and first["onscreen"], first
    reached = []
    for _ in range(30):  # until focus leaves the page
        page.keyboard.press("Tab")
        info = _focus_info(page)
        if info["tag"] == "BODY":
            break
        assert info["outline"], f"no visible focus on {info}"
        reached.append(info["text"] or info["id"])
    for action in ("Poste", "Clients", "Réclamations", "Appliquer", "Se déconnecter", "desk-q", "Rechercher"):
        assert action in reached, (action, reached)
    # The skip link takes keyboard users straight to the page content.
    page.keyboard.press("Shift+Tab")
    page.goto("/desk")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()


def test_given_the_desk_when_the_server_restarts_then_the_banner_shows_and_the_desk_resyncs(
    page: Page, live_server: LiveServer
) -> None:
    login(page, "agent1")
    status, banner = page.locator("#live-status"), page.locator("#conn-banner")
    expect(status).to_have_attribute("data-state", "ok")
    expect(status).to_have_text("En direct : connecté")
    expect(banner).to_be_hidden()
    live_server.stop(crash=True)
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Connexion perdue")
    expect(status).to_have_attribute("data-state", "down")
    live_server.start()
    expect(status).to_have_attribute("data-state", "ok", timeout=20_000)
    expect(banner).to_contain_text("Reconnecté")
    assert page.evaluate("window.plateauLive.store.snapshots") >= 2
    assert page.evaluate("window.plateauLive.store.items.size") >= 1


# WCAG 2.1 contrast (1.4.3), measured on the rendered pages: every visible text against the first opaque
# background behind it; 4.5:1, or 3:1 for large text (≥ 24 px, or ≥ 18.66 px bold).
_CONTRAST_LINES = (Path(__file__).parent / "contrast.js").read_text().splitlines(True)
_CONTRAST_JS = "".join(line for line in _CONTRAST_LINES if not line.startswith("//"))


def test_given_an_admin_when_finding_a_person_then_the_counts_show_and_the_zip_downloads(page: Page) -> None:
    login(page, "demo-admin")  # who reads English: the page follows the user's language
    page.get_by_role("link", name="Data rights").click()
    page.get_by_label("Phone number", exact=True).fill("+33 (0)6.12.34.56.78")
    page.locator("main").get_by_role("button", name="Find").click()
    counts = page.locator("#person-counts")
    expect(counts.locator('tr[data-kind="contacts"] td.num')).to_have_text("1")
    expect(counts.locator('tr[data-kind="ivr_sessions"]')).to_contain_text("IVR sessions")
    with page.expect_download() as download:
        page.locator("#person-export").click()
    with zipfile.ZipFile(download.value.path()) as zf:
        assert json.loads(zf.read("contacts.json"))[0]["last_name"] == "Lefèvre"
        assert json.loads(zf.read("person.json"))["numbers"][0].startswith("+33")


def test_given_the_main_pages_when_rendered_then_every_text_meets_aa_contrast(page: Page) -> None:
    login(page, "demo-admin")  # sees every page
    failures = {}
    pages = ["/desk", "/wallboard", "/customers?q=lef", "/contacts/1", "/complaints", "/reports", "/admin"]
    pages += ["/admin/persons?number=0612345678", "/calls/1"]
    for path in pages:
        shown = page.goto(path)
        assert shown is not None and shown.ok, path
        page.locator("details").evaluate_all("ds => ds.forEach(d => d.open = true)")
        bad = page.evaluate(_CONTRAST_JS)
        assert isinstance(bad, list), bad
        if bad:
            failures[path] = bad
    assert failures == {}


def test_given_the_unhappy_file_when_filtered_exported_and_made_a_call_list_then_all_three_agree(
    page: Page, tmp_path: Path
) -> None:
    login(page, "demo-manager")
    page.get_by_role("link", name="Clients mécontents").click()
    rows = page.locator("#unhappy-table tbody tr")
    expect(rows).not_to_have_count(0)
    # Today's seed: +33 6 12 34 56 78 (nobody matched) called 7 times, 2 abandoned within the hour.
    page.get_by_label("Motif").select_option("abandoned_calls")
    page.get_by_role("button", name="Filtrer").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-ref", "number-+33612345678")
    expect(rows.first.locator('[data-reason="abandoned_calls"]')).to_have_text("Appels abandonnés ×2")
    with page.expect_download() as info:
        page.get_by_role("link", name="Exporter en CSV").click()
    target = tmp_path / "unhappy.csv"
    info.value.save_as(target)
    exported = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8-sig")), delimiter=";"))
    assert [r[0] for r in exported[1:]] == ["number-+33612345678"]
    assert "abandoned_calls×2" in exported[1][-1]

    page.get_by_label("Nom de la liste d'appels").fill("Rappel des abandons")
    page.get_by_role("button", name="Faire la liste d'appels").click()
    result = page.locator("#uh-list-result [data-job-status]")
    expect(result).to_have_attribute("data-job-status", "done", timeout=20_000)
    expect(result).to_contain_text("1 clients")
    expect(result).to_contain_text("1 acceptés, 0 refusés")  # the import report matches the segment


def test_given_complaints_and_calls_when_the_reports_page_covers_weeks_then_care_charts_and_csv_show(
    page: Page, tmp_path: Path
) -> None:
    login(page, "demo-manager")
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    page.goto(f"/reports?start={today - timedelta(days=25)}&end={today}")
    # demo complaints 3 and 20 days ago ("facturation", "délai"); today's calls from the browser seed
    expect(page.locator("#care-rates-chart svg circle.l0")).not_to_have_count(0)  # days with contacts
    expect(page.locator("#care-pareto-chart svg rect")).to_have_count(2)
    expect(page.locator("#care-pareto-chart svg title").first).to_contain_text("Réclamations par motif")
    expect(page.locator("#care-days tbody tr")).to_have_count(26)
    with page.expect_download() as info:
        page.locator("#csv-care-reasons").click()
    target = tmp_path / "care.csv"
    info.value.save_as(target)
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8-sig")), delimiter=";"))
    assert sorted(r[3] for r in rows[1:]) == ["délai", "facturation"]


@pytest.mark.parametrize("pc_zone", ["UTC", "Pacific/Kiritimati"])  # 1-2 h and 13-14 h away from Paris
def test_given_a_pc_in_another_zone_when_the_reports_page_opens_then_intervals_read_on_the_centres_clock(
    browser: Browser, live_server: LiveServer, pc_zone: str
) -> None:
    context = browser.new_context(base_url=live_server.url, timezone_id=pc_zone)
    try:
        pc = context.new_page()
        login(pc, "demo-manager")
        expect(pc.locator("#agent-intervals tbody tr")).not_to_have_count(0)
        shown = pc.locator(
            "#agent-intervals tbody tr td:nth-child(2)"
        ).all_text_contents()  # in a closed <details>
        rows = pc.request.get("/api/v1/reports/intervals?by=agent&interval=30").json()
    finally:
        context.close()
    centre = ZoneInfo("Europe/Paris")  # the live server's PLATEAU_TIMEZONE (the default)
    on_centre_clock = {
        datetime.fromisoformat(r["start"]).astimezone(centre).strftime("%d/%m/%Y %H:%M") for r in rows
    }
    assert shown and set(shown) <= on_centre_clock, (shown, on_centre_clock)
