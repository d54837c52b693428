"""The agent desk in Chromium against the real Asterisk and SIPp: pop, hostile caller ID, wrap-up,
WebSocket loss and resync, keyboard use."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from cti.pbx_process import PrivateAsterisk
from tests.app.browser.conftest import browser_page, login, record_dialogs
from tests.app.browser.cti_live import (
    CONTRAST_JS,
    PASSWORD,
    CtiServer,
    screenshot,
    wait_until,
)
from tests.cti.pbx.conftest import KNOWN_NUMBER, pbx, sipp  # noqa: F401  (fixtures)
from tests.cti.pbx.sipp import Caller, Sipp

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]

PC_ZONE = "UTC"
CENTRE = ZoneInfo("Europe/Paris")
EVIL_NAME = "<img src=x onerror=alert(1)>"
UNKNOWN_NUMBER = "0698765432"
SHARED_NUMBER = "0655443322"

# Records when the caller's name first shows in the pop, by the page's own clock (same machine as the
# server that stamped the ring): a MutationObserver set up before any page script runs.
POP_OBSERVER = """
window.__popSeen = [];
new MutationObserver(() => {
  for (const el of document.querySelectorAll('[data-pop-name]')) {
    const key = el.dataset.popId + '|' + el.textContent;
    if (!window.__popSeen.some((s) => s.key === key)) {
      window.__popSeen.push(
        {key, text: el.textContent, eventAt: Number(el.dataset.eventAt), seenAt: Date.now()});
    }
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


@pytest.fixture
def desk(
    browser: Browser,
    cti: CtiServer,
    pbx: PrivateAsterisk,  # noqa: F811
    request: pytest.FixtureRequest,
) -> Iterator[Page]:
    # The PC's clock is on UTC, the centre on Europe/Paris (the default PLATEAU_TIMEZONE): every date shown
    # must be the centre's.
    with browser_page(
        browser, request, base_url=cti.url, viewport={"width": 1366, "height": 900}, timezone_id=PC_ZONE
    ) as page:
        page.add_init_script(POP_OBSERVER)
        record_dialogs(page)
        yield page
    pbx.rx("channel request hangup all")  # no call may leak into the next test's queue
    cti.reset_agents()


def _ready_at_desk(page: Page, username: str) -> None:
    login(page, username, PASSWORD)
    expect(page).to_have_url(re.compile(r"/desk$"))
    expect(page.locator("#live-status")).to_have_attribute("data-state", "ok")
    expect(page.locator("#phone-state")).to_contain_text("Téléphone enregistré")  # its SIPp phone registered
    page.get_by_role("button", name="Me connecter à mes files").click()
    expect(page.locator("#agent-state")).to_have_text("Disponible", timeout=10_000)


def test_given_a_ready_agent_when_a_known_customer_calls_then_the_pop_shows_them_within_a_second_and_the_wrap_up_needs_a_code(  # noqa: E501
    desk: Page,
    cti: CtiServer,
    sipp: Sipp,  # noqa: F811
) -> None:
    contact = cti.users["contact"]
    with cti.api("agent1") as c:  # a past note and an open complaint, for the pop to show
        r = c.post(f"/api/v1/contacts/{contact}/timeline", json={"body": "Demande de devis <i>urgent</i>"})
        assert r.status_code == 201, r.text
        note_at = datetime.fromisoformat(r.json()["at"]).astimezone(CENTRE).strftime("%d/%m/%Y %H:%M")
        r = c.post(
            "/api/v1/complaints",
            json={"contact_id": contact, "category": "Livraison", "description": "Colis <b>jamais</b> reçu"},
        )
        assert r.status_code == 201, r.text
    _ready_at_desk(desk, "agent1")
    sipp.agent(1, "answer", ring_ms=1500, talk_ms=1500)
    sipp.call([Caller(KNOWN_NUMBER, "5551000", "Jose")], hold_ms=15_000)
    name = desk.locator("#pop .pop-name")
    expect(name).to_have_text("José Müller", timeout=15_000)
    seen = desk.evaluate("window.__popSeen.filter((s) => s.text === 'José Müller')")[0]
    latency_ms = seen["seenAt"] - seen["eventAt"] * 1000
    print(f"pop shown {latency_ms:.0f} ms after the ring")
    assert 0 <= latency_ms < 1000, f"pop shown {latency_ms:.0f} ms after the ring"
    pop = desk.locator("#pop")
    expect(pop).to_contain_text("Acme Industries")
    expect(pop.locator(".badge-vip")).to_be_visible()  # the contact's tier
    expect(pop).to_contain_text("support")  # the queue the call came through
    expect(pop.locator(".pop-history")).to_contain_text("Demande de devis <i>urgent</i>")
    expect(pop.locator(".pop-history li", has_text="Demande de devis").locator(".meta")).to_contain_text(
        note_at
    )  # the centre's clock
    complaint = pop.locator(".pop-complaints li")
    expect(complaint).to_contain_text("Colis <b>jamais</b> reçu")
    expect(complaint.locator(".badge-on_time")).to_have_text("Dans les délais")  # its SLA state
    expect(desk.locator("#pop-phase")).to_have_text("En conversation", timeout=10_000)
    expect(desk.locator("#btn-hangup")).to_be_enabled()
    desk.get_by_label("Notes").fill("Rappel promis <b>mardi</b>")
    screenshot(desk, "desk-pop")
    assert desk.evaluate(CONTRAST_JS) == []  # WCAG AA with a live pop on screen
    # The caller's phone hangs up after talk_ms: wrap-up, and the agent stays paused until the disposition.
    expect(desk.locator("#pop-phase")).to_have_text("Appel terminé — qualification", timeout=10_000)
    expect(desk.locator("#agent-state")).to_have_text("Qualification")
    expect(desk.locator("#btn-ready")).to_be_disabled()
    save = desk.get_by_role("button", name="Enregistrer la qualification")
    save.click()
    expect(desk.locator("#wrap-code-error")).to_have_text(
        "Choisissez un code de qualification avant d'enregistrer."
    )
    expect(desk.locator("#wrap-code")).to_be_focused()
    assert cti.agent("agent1").get("state") == "wrap_up"  # nothing was sent
    desk.get_by_label("Code de qualification").select_option(label="Résolu")
    desk.get_by_label("Planifier un rappel").check()
    save.click()  # a callback needs its date
    expect(desk.locator("#wrap-due-error")).to_have_text("Choisissez la date et l'heure du rappel.")
    assert cti.agent("agent1").get("state") == "wrap_up"
    desk.get_by_label("Date et heure du rappel").fill("2030-01-15T10:30")
    save.click()
    expect(desk.locator("#agent-state")).to_have_text("Disponible", timeout=10_000)
    expect(desk.locator("#pop-phase")).to_have_text("Dernier appel — qualification enregistrée")
    expect(desk.locator("#desk-message")).to_contain_text("Rappel planifié le 15/01/2030 10:30")
    # A complaint opened from the call, for the caller on the pop.
    desk.get_by_text("Ouvrir une réclamation depuis cet appel").click()
    desk.get_by_label("Catégorie").fill("Facturation")
    desk.get_by_label("Objet du mécontentement du client").fill("Facture <script>x</script> en double")
    desk.get_by_role("button", name="Ouvrir la réclamation").click()
    expect(desk.locator("#desk-message")).to_contain_text(re.compile(r"Réclamation n°\d+ ouverte"))
    # The note and the complaint are on the contact's page, as text.
    desk.goto(f"/contacts/{contact}")
    expect(desk.locator(".timeline")).to_contain_text("Rappel promis <b>mardi</b>")
    note = desk.locator(".timeline li", has_text="Demande de devis")
    expect(note.locator("time")).to_have_text(note_at)  # the same date as on the pop
    with cti.api("agent1") as c:  # 10:30 typed on a PC in UTC is 10:30 at the centre
        due = c.get("/api/v1/callbacks").json()
    due_at = [datetime.fromisoformat(cb["due_at"].replace("Z", "+00:00")) for cb in due]
    assert datetime(2030, 1, 15, 10, 30, tzinfo=CENTRE) in due_at, due_at
    expect(desk.locator("main")).to_contain_text("Facturation")
    _then_the_saved_wrap_up_is_not_offered_again_and_a_second_save_is_an_audited_edit(desk, cti)


def _then_the_saved_wrap_up_is_not_offered_again_and_a_second_save_is_an_audited_edit(
    desk: Page, cti: CtiServer
) -> None:
    """A desk opened afresh (another tab, another PC: nothing in this tab's storage) after the wrap-up."""
    desk.goto("/desk")
    expect(desk.locator("#pop-phase")).to_have_text("Dernier appel — qualification enregistrée")
    linkedid = desk.locator("#pop").get_attribute("data-linkedid")
    desk.evaluate("sessionStorage.clear()")
    desk.reload()
    expect(desk.locator("#live-status")).to_have_attribute("data-state", "ok")
    expect(desk.locator("#pop-phase")).to_have_text("Dernier appel — qualification enregistrée")
    expect(desk.locator("#wrap-form")).to_be_hidden()
    with cti.api("agent1") as c:
        before = c.get("/api/v1/calls", params={"limit": 5}).json()["items"]
        call = next(i for i in before if i["linkedid"] == linkedid)
        assert call["wrap_s"] is not None
        again = {"code": "resolved", "notes": "corrigé"}
        r = c.post(f"/api/v1/agent/calls/{linkedid}/disposition", json=again)
        assert r.status_code == 200, r.text
        assert r.json()["edited"] is True
        after = c.get(f"/api/v1/calls/{call['id']}").json()
    assert after["wrap_s"] == call["wrap_s"]  # the edit never extends wrap-up time (AHT)
    db = sqlite3.connect(cti.server.env["PLATEAU_DATABASE_URL"].split("///", 1)[1])
    try:
        rows = db.execute(
            "SELECT body FROM interactions WHERE kind = 'disposition' AND call_id = ?", (call["id"],)
        ).fetchall()
        edits = db.execute(
            "SELECT detail FROM audit_log WHERE action = 'call.disposition.edit' AND target_id = ?",
            (linkedid,),
        ).fetchall()
    finally:
        db.close()
    assert rows == [("corrigé",)]
    assert len(edits) == 1 and '"Rappel promis' in edits[0][0]  # what it was, kept in the audit


def test_given_a_caller_name_with_markup_when_the_phone_rings_then_the_desk_shows_it_as_text(
    desk: Page,
    cti: CtiServer,
    sipp: Sipp,  # noqa: F811
) -> None:
    _ready_at_desk(desk, "agent2")
    sipp.agent(2, "noanswer")
    sipp.call([Caller(UNKNOWN_NUMBER, "5551000", EVIL_NAME)], hold_ms=4000)
    expect(desk.locator("#pop .pop-unknown")).to_have_text(EVIL_NAME, timeout=15_000)
    assert desk.locator("#pop img, main img").count() == 0
    assert desk.evaluate("document.querySelectorAll('img').length") == 0
    # Unknown caller: the new-contact form is pre-filled from the caller ID; it posts to the contacts API.
    form = desk.locator("#new-contact-form")
    expect(form.get_by_label("Prénom")).to_have_value("<img")
    expect(form.get_by_label("Téléphone")).to_have_value("+33698765432")
    form.get_by_label("Nom", exact=True).fill("Inconnu")
    form.get_by_role("button", name="Créer la fiche").click()
    expect(desk.locator("#desk-message")).to_have_text("Fiche créée et rattachée à cet appel.")
    expect(desk.locator("#pop .pop-name")).to_have_text("<img Inconnu")
    screenshot(desk, "desk-unknown")
    assert desk.dialogs == []  # type: ignore[attr-defined]
    # The caller gives up; click-to-call from the number on the pop rings the agent's own phone first.
    expect(desk.locator("#pop-phase")).to_have_text("Appel manqué", timeout=10_000)
    expect(desk.locator("#agent-state")).to_have_text("Disponible", timeout=10_000)
    desk.locator("#pop .pop-caller").get_by_role("button", name="Appeler le 06 98 76 54 32").click()
    expect(desk.locator("#desk-message")).to_contain_text("votre poste sonne d'abord")
    expect(desk.locator("#agent-state")).to_have_text("Sonnerie", timeout=10_000)


def test_given_a_call_in_progress_when_the_websocket_drops_then_the_banner_shows_and_the_snapshot_resyncs(
    desk: Page,
    cti: CtiServer,
    sipp: Sipp,  # noqa: F811
) -> None:
    _ready_at_desk(desk, "agent3")
    sipp.agent(3, "answer", ring_ms=2000, talk_ms=20_000)
    sipp.call([Caller(KNOWN_NUMBER, "5551000", "Jose")], hold_ms=30_000)
    expect(desk.locator("#pop-phase")).to_have_text("Appel entrant", timeout=15_000)
    # Cut the socket and keep it down (reconnects go to a path that refuses them) while the call is answered.
    desk.evaluate("window.plateauLive.url = '/ws-cut'; window.plateauLive.ws.close()")
    banner = desk.locator("#conn-banner")
    expect(banner).to_contain_text("Connexion perdue")
    wait_until(lambda: cti.agent("agent3").get("state") == "on_call", 15, "the agent on the call")
    expect(desk.locator("#pop-phase")).to_have_text("Appel entrant")  # missed while disconnected
    snapshots = desk.evaluate("window.plateauLive.store.snapshots")
    desk.evaluate("window.plateauLive.url = '/ws'")
    desk.wait_for_function(
        "() => { window.plateauLive.retryNow(); return window.plateauLive.state === 'ok'; }", polling=200
    )
    expect(banner).to_contain_text("Reconnecté")
    assert desk.evaluate("window.plateauLive.store.snapshots") == snapshots + 1
    expect(desk.locator("#pop-phase")).to_have_text("En conversation")
    expect(desk.locator("#agent-state")).to_have_text("En conversation")
    expect(desk.locator("#pop .pop-name")).to_have_text("José Müller")
    hold = desk.locator("#btn-hold")
    hold.click()
    expect(hold).to_have_text("Reprendre", timeout=10_000)  # once the PBX says the call is held
    expect(hold).to_have_attribute("aria-pressed", "true")
    hold.click()
    expect(hold).to_have_text("Mettre en attente", timeout=10_000)
    desk.get_by_role("button", name="Raccrocher").click()
    expect(desk.locator("#pop-phase")).to_have_text("Appel terminé — qualification", timeout=10_000)


def _focus(page: Page) -> dict[str, object]:
    return page.evaluate(
        """() => { const el = document.activeElement; const cs = getComputedStyle(el);
        return {id: el.id, tag: el.tagName, text: (el.innerText || el.value || '').trim().slice(0, 60),
                outline: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2}; }"""
    )


def _tab_to(page: Page, element_id: str, limit: int = 40) -> None:
    """Tab (forwards, wrapping) until `element_id` has the focus; every stop on the way shows its focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        info = _focus(page)
        if info["tag"] != "BODY":
            assert info["outline"], f"no visible focus on {info}"
        if info["id"] == element_id:
            return
    pytest.fail(f"#{element_id} not reached with the keyboard")


def test_given_only_a_keyboard_when_working_at_the_desk_then_its_main_actions_are_reached_with_visible_focus(
    desk: Page, cti: CtiServer
) -> None:
    login(desk, "agent4", PASSWORD)
    expect(desk.locator("#live-status")).to_have_attribute("data-state", "ok")
    state = desk.locator("#agent-state")
    _tab_to(desk, "btn-login")
    desk.keyboard.press("Enter")
    expect(state).to_have_text("Disponible", timeout=10_000)
    expect(desk.locator("#btn-logout")).to_be_focused()  # focus follows the toggle, never lost
    _tab_to(desk, "pause-reason")
    desk.keyboard.press("ArrowDown")  # the first reason: Déjeuner
    _tab_to(desk, "btn-pause")
    desk.keyboard.press("Enter")
    expect(state).to_have_text("En pause", timeout=10_000)
    expect(desk.locator("#agent-reason")).to_have_text("Déjeuner")
    _tab_to(desk, "btn-ready")
    desk.keyboard.press("Enter")
    expect(state).to_have_text("Disponible", timeout=10_000)
    _tab_to(desk, "dial-number")
    _tab_to(desk, "btn-dial")
    _tab_to(desk, "desk-q")
    _tab_to(desk, "shortcuts-summary")  # the shortcuts are documented on the page
    desk.keyboard.press("Enter")
    expect(desk.locator("#shortcuts")).to_contain_text("Alt+R")
    # The shortcuts themselves.
    desk.keyboard.press("Alt+P")
    expect(state).to_have_text("En pause", timeout=10_000)
    desk.keyboard.press("Alt+R")
    expect(state).to_have_text("Disponible", timeout=10_000)
    desk.keyboard.press("Alt+K")
    expect(desk.locator("#dial-number")).to_be_focused()
    desk.keyboard.press("Alt+L")
    expect(state).to_have_text("Déconnecté", timeout=10_000)


def test_given_a_number_shared_by_two_contacts_when_it_calls_then_the_agent_chooses_the_caller(
    desk: Page,
    cti: CtiServer,
    sipp: Sipp,  # noqa: F811
) -> None:
    with cti.api("agent6") as c:
        for first, last in (("Anne", "Martin"), ("Paul", "Martin")):  # one switchboard number, two people
            r = c.post(
                "/api/v1/contacts",
                json={"first_name": first, "last_name": last, "numbers": [{"number": SHARED_NUMBER}]},
            )
            assert r.status_code == 201, r.text
    _ready_at_desk(desk, "agent6")
    sipp.agent(6, "noanswer")
    sipp.call([Caller(SHARED_NUMBER, "5551000", "Standard")], hold_ms=5000)
    chooser = desk.locator("#pop .chooser")
    expect(chooser).to_contain_text("2 contacts ont ce numéro", timeout=15_000)
    expect(desk.locator("#pop .pop-name")).to_have_text("Anne Martin")
    chooser.get_by_label("Paul Martin").check()
    expect(desk.locator("#pop .pop-name")).to_have_text("Paul Martin")
    expect(chooser.get_by_label("Paul Martin")).to_be_focused()  # the keyboard user keeps their place


def test_given_an_agent_in_english_when_the_desk_opens_then_the_live_labels_are_english(
    desk: Page, cti: CtiServer
) -> None:
    login(desk, "agent5", PASSWORD)
    desk.locator("#lang-select").select_option("en")
    desk.get_by_role("button", name="Appliquer").click()
    expect(desk.get_by_role("heading", level=1)).to_have_text("Agent desk")
    expect(desk.locator("#live-status")).to_have_attribute("data-state", "ok")
    expect(desk.locator("#agent-state")).to_have_text("Logged out")  # drawn by desk.js from its strings
    desk.get_by_role("button", name="Log into my queues").click()
    expect(desk.locator("#agent-state")).to_have_text("Ready", timeout=10_000)
    expect(desk.locator("#agent-queues")).to_have_text("In queues: hotline, sales, support")


def test_given_a_call_when_the_agent_transfers_it_blind_from_the_desk_then_the_other_agent_gets_it(
    desk: Page,
    cti: CtiServer,
    pbx: PrivateAsterisk,  # noqa: F811
    sipp: Sipp,  # noqa: F811
) -> None:
    _ready_at_desk(desk, "agent1")
    sipp.agent(1, "answer", ring_ms=300, talk_ms=20_000)
    sipp.agent(2, "answer", ring_ms=300, talk_ms=10_000)  # agent2's phone, extension 7002
    sipp.call([Caller(KNOWN_NUMBER, "5551000", "Jose")], hold_ms=20_000)
    expect(desk.locator("#pop-phase")).to_have_text("En conversation", timeout=15_000)
    transfer = desk.get_by_role("button", name="Transférer", exact=True)
    transfer.click()  # no target yet
    expect(desk.locator("#desk-message")).to_have_text(
        "Saisissez le numéro ou le poste vers lequel transférer."
    )
    expect(desk.get_by_label("Transférer vers (numéro ou poste)")).to_be_focused()
    desk.keyboard.press("Alt+T")
    desk.keyboard.type("7002")
    desk.get_by_label("Direct").check()
    transfer.click()
    # Asterisk's own view: the customer now talks to agent2's phone; agent1's leg is gone.
    wait_until(
        lambda: "PJSIP/agent2-" in (ch := pbx.rx("core show channels concise")) and "PJSIP/agent1-" not in ch,
        10,
        "the customer bridged to agent2",
    )
    # The customer still talks to agent2; agent1's part is over: wrap-up, and the disposition closes it.
    expect(desk.locator("#pop-phase")).to_have_text("Appel terminé — qualification")
    expect(desk.locator("#btn-hangup")).to_be_disabled()
    desk.get_by_label("Code de qualification").select_option(label="Résolu")
    desk.get_by_role("button", name="Enregistrer la qualification").click()
    expect(desk.locator("#agent-state")).to_have_text("Disponible", timeout=10_000)
    assert "PJSIP/agent2-" in pbx.rx("core show channels concise")
