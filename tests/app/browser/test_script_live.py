"""The CROC script on the agent desk, end to end: Chromium, Plateau under uvicorn with its live dialer, the
real Asterisk, SIPp as the customer (trunk) and as agent1's phone.

A progressive campaign with the shipped French B2B script dials its one lead; the customer answers, agent1's
phone is connected; the desk shows the script with the lead's values filled in; saving the outcome
without the required answers is refused by the desk and by the API; once answered it saves, the lead's
attempt takes the outcome, and the answers are on the contact's timeline.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from core.db import Database
from core.dialer_tables import (
    CallList,
    Campaign,
    CampaignList,
    CampaignState,
    CustomRuleSet,
    DialMode,
    Lead,
    LeadAttempt,
    LeadNumber,
)
from core.models import Queue, User
from cti.pbx_process import PrivateAsterisk
from dialer.compliance import builtin_rule_sets, clone_rule_set
from tests.app.browser.conftest import browser_page, login, record_dialogs
from tests.app.browser.cti_live import (
    CONTRAST_JS,
    PASSWORD,
    CtiServer,
    run_in_own_thread,
    screenshot,
    wait_until,
)
from tests.cti.pbx.conftest import KNOWN_NUMBER, pbx, sipp  # noqa: F401  (fixtures)
from tests.cti.pbx.sipp import Caller, Sipp

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]

KNOWN_E164 = "+33" + KNOWN_NUMBER[1:]  # José Müller of Acme Industries, a contact of the seed
ALWAYS = {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
LEAD_FIELDS = {
    "civility": "M.",
    "first_name": "José",
    "last_name": "Müller",
    "job_title": "Directeur <b>logistique</b>",  # data, shown as typed
    "company": "Acme Industries",
    "offer": "la gestion de vos flottes",
    "benefit": "Nos clients réduisent leurs coûts de 15 %.",
}


def _db_run(url: str, fn: Callable[[Any], Any]) -> Any:
    """Run `fn(session)` on the server's database (from a thread of its own: Playwright owns this loop)."""

    async def go() -> Any:
        db = Database(url)
        try:
            async with db.session() as s:
                result = await fn(s)
                await s.commit()
                return result
        finally:
            await db.dispose()

    return run_in_own_thread(lambda: asyncio.run(go()))


@pytest.fixture
def desk(
    browser: Browser,
    cti: CtiServer,
    pbx: PrivateAsterisk,  # noqa: F811
    request: pytest.FixtureRequest,
) -> Iterator[Page]:
    with browser_page(browser, request, base_url=cti.url, viewport={"width": 1366, "height": 900}) as page:
        record_dialogs(page)
        yield page
    _db_run(cti.server.env["PLATEAU_DATABASE_URL"], _stop_campaigns)
    pbx.rx("channel request hangup all")
    cti.reset_agents()


async def _stop_campaigns(s: Any) -> None:
    for c in await s.scalars(select(Campaign)):
        c.state = CampaignState.stopped


def _campaign(
    url: str,
    leads: list[tuple[str, dict[str, str]]],
    *,
    script: str = "b2b-rdv-barrage",
    mode: DialMode = DialMode.progressive,
    name: str = "Rendez-vous flottes",
) -> tuple[int, list[int]]:
    """A running campaign on `sales` with `script` and these (number, fields) leads, in this order."""

    async def make(s: Any) -> tuple[int, list[int]]:
        # FR-2023 with every hour open: the test does not depend on the day and time it runs
        if await s.scalar(select(CustomRuleSet.id).where(CustomRuleSet.name == "TEST-ALWAYS")) is None:
            rs = clone_rule_set(
                builtin_rule_sets()["FR-2023"],
                "TEST-ALWAYS",
                {"windows": ALWAYS, "no_calls_on_public_holidays": False, "consent_required_from": None},
            )
            s.add(CustomRuleSet(name=rs.name, data=rs.to_data()))
        queue_id = await s.scalar(select(Queue.id).where(Queue.name == "sales"))
        cl = CallList(name=f"Liste {name}", lead_count=len(leads))
        s.add(cl)
        await s.flush()
        ids = []
        for e164, fields in leads:
            lead = Lead(list_id=cl.id, fields=fields, consent=True, status="new")
            s.add(lead)
            await s.flush()
            s.add(LeadNumber(lead_id=lead.id, list_id=cl.id, e164=e164, tz="Europe/Paris", country="FR"))
            ids.append(lead.id)
        c = Campaign(
            name=name,
            queue_id=queue_id,
            dial_mode=mode,
            caller_id="+33100000000",
            script=script,
            rule_set="TEST-ALWAYS",
            state=CampaignState.running,
        )
        s.add(c)
        await s.flush()
        s.add(CampaignList(campaign_id=c.id, list_id=cl.id))
        return c.id, ids

    return _db_run(url, make)


def _ready(desk: Page) -> None:
    login(desk, "agent1", PASSWORD)
    expect(desk).to_have_url(re.compile(r"/desk$"))
    expect(desk.locator("#live-status")).to_have_attribute("data-state", "ok")
    desk.get_by_role("button", name="Me connecter à mes files").click()
    expect(desk.locator("#agent-state")).to_have_text("Disponible", timeout=10_000)


def _attempts(url: str, lead_id: int) -> list[tuple[str, str | None, str]]:
    async def read(s: Any) -> list[tuple[str, str | None, str]]:
        lead = await s.get(Lead, lead_id)
        rows = await s.scalars(select(LeadAttempt).where(LeadAttempt.lead_id == lead_id))
        return [(a.result, a.disposition_code, lead.status) for a in rows]

    return _db_run(url, read)


def test_given_a_campaign_with_a_french_script_when_the_dialer_connects_a_customer_then_the_desk_runs_the_script_and_saves_the_answers(  # noqa: E501
    desk: Page,
    cti: CtiServer,
    sipp: Sipp,  # noqa: F811
) -> None:
    url = cti.server.env["PLATEAU_DATABASE_URL"]
    sipp.customer("answer", ring_ms=300)  # the customer stays on the line until the agent hangs up
    sipp.agent(1, "answer", ring_ms=300)
    _ready(desk)
    _, (lead_id,) = _campaign(url, [(KNOWN_E164, LEAD_FIELDS)])

    # The dialer calls the lead, the customer answers, agent1's phone is connected: the script shows.
    panel = desk.locator("#script-panel")
    expect(panel).to_be_visible(timeout=30_000)
    expect(desk.locator("#pop-phase")).to_have_text("En conversation", timeout=10_000)
    expect(panel.locator("#script-title")).to_have_text(
        "Script — Prise de rendez-vous B2B (passage du barrage)"
    )
    expect(panel.locator(".badge")).to_have_text("Rendez-vous flottes")
    expect(panel.locator(".croc-nav li")).to_have_count(4)
    expect(panel.locator(".croc-nav li[aria-current='step']")).to_contain_text("Contact")
    current = panel.locator(".script-step-current")
    expect(current.locator(".script-text")).to_contain_text(
        "je souhaiterais joindre M. Müller, Directeur <b>logistique</b>."
    )
    expect(current.locator(".script-text")).to_contain_text("Bonjour, Agent1 Agent1, de la société Plateau.")
    expect(desk.locator("#wrap-scripted")).to_be_visible()  # the plain wrap-up form gives way to the script
    expect(desk.locator("#wrap-form")).to_be_hidden()
    objection = panel.locator("details[data-objection='deja-un-fournisseur']")
    objection.locator("summary").click()
    expect(objection).to_contain_text("une entreprise comme Acme Industries est forcément déjà équipée")

    # Branching: the decision-maker answers; keyboard: the next question has the focus, Space says yes.
    current.get_by_label("Le décideur lui-même").click()
    expect(current).to_have_attribute("data-step", "presentation")
    expect(current.locator(".script-text")).to_contain_text("Bonjour M. Müller")
    expect(current.get_by_label("Oui")).to_be_focused()
    desk.keyboard.press("Space")
    expect(current).to_have_attribute("data-step", "raison")
    expect(panel.locator(".croc-nav li[aria-current='step']")).to_contain_text("Raison de l'appel")
    expect(current.locator(".script-text")).to_contain_text(
        "sur la gestion de vos flottes. Nos clients réduisent leurs coûts de 15 %."
    )
    current.get_by_role("button", name="Suivant").click()
    expect(current).to_have_attribute("data-step", "organisation_actuelle")

    # The agent hangs up and picks "rendez-vous pris" too early: the desk refuses, naming what is missing.
    desk.get_by_role("button", name="Raccrocher").click()
    expect(desk.locator("#pop-phase")).to_have_text("Appel terminé — qualification", timeout=15_000)
    panel.get_by_label("Rendez-vous pris", exact=True).check()
    save = panel.get_by_role("button", name="Enregistrer l'issue")
    expect(save).to_have_attribute("aria-disabled", "true")
    expect(panel.locator("#script-blockers")).to_contain_text("Réponses obligatoires manquantes")
    save.focus()  # aria-disabled: still focusable and pressable, and it says why it cannot save
    desk.keyboard.press("Enter")
    error = panel.locator("#script-save-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Date du rendez-vous")
    expect(error).to_contain_text("Le script n'est pas terminé.")
    linkedid = desk.locator("#pop").get_attribute("data-linkedid")
    contact = cti.users["contact"]
    with cti.api("agent1") as c:  # the server refuses it too, and nothing was written
        r = c.post(
            f"/api/v1/agent/calls/{linkedid}/script/outcome",
            json={"outcome": "rdv_pris", "answers": {"standard": "decideur", "presentation": True}},
        )
        assert r.status_code == 422, r.text
        assert "answer required: Date du rendez-vous" in r.text
        timeline = c.get(f"/api/v1/contacts/{contact}/timeline", params={"kind": "script"}).json()
        assert timeline["items"] == []

    # The rest of the script, answered during the wrap-up.
    current.get_by_label("Avec un prestataire").click()
    expect(current).to_have_attribute("data-step", "enjeux")
    current.get_by_label("Les coûts").check()
    expect(current.get_by_label("Les coûts")).to_be_checked()
    current.get_by_label("Les délais").check()
    expect(current.get_by_label("Les délais")).to_be_checked()
    current.get_by_role("button", name="Suivant").click()
    expect(current).to_have_attribute("data-step", "projet")
    current.get_by_label("Oui").click()
    expect(current).to_have_attribute("data-step", "proposition_rdv")
    expect(panel.locator(".croc-nav li[aria-current='step']")).to_contain_text("Objectif")
    current.get_by_label("Oui").click()
    expect(current).to_have_attribute("data-step", "rdv_date")
    meeting = date.today() + timedelta(days=8)
    current.get_by_label("Date du rendez-vous").fill(meeting.isoformat())
    current.get_by_role("button", name="Suivant").click()
    expect(current).to_have_attribute("data-step", "rdv_heure")
    current.get_by_label("Heure et lieu (ou visio)").fill("10 h, dans vos locaux <i>bâtiment B</i>")
    current.get_by_label("Heure et lieu (ou visio)").press("Enter")
    expect(current).to_have_attribute("data-step", "participants")
    current.get_by_role("button", name="Suivant").click()  # optional: left empty
    expect(current).to_have_attribute("data-step", "email_confirmation")
    expect(current.locator(".script-text")).to_contain_text(
        f"rendez-vous le {meeting.strftime('%d/%m/%Y')}, 10 h, dans vos locaux <i>bâtiment B</i>"
    )
    current.get_by_label("E-mail de confirmation").fill("jose.muller@acme.example")
    current.get_by_role("button", name="Suivant").click()
    expect(current).to_have_attribute("data-step", "prise_de_conge")
    current.get_by_role("button", name="Suivant").click()
    expect(panel.locator(".script-end")).to_have_text("Fin du script — issue proposée : Rendez-vous pris.")
    expect(save).to_have_attribute("aria-disabled", "false")
    expect(panel.locator("#script-blockers")).to_be_hidden()
    panel.get_by_label("Notes").fill("Très intéressé <script>x</script>")
    screenshot(desk, "desk-script")
    assert desk.evaluate(CONTRAST_JS) == []  # WCAG AA with the script on screen
    expect(objection).to_have_attribute("open", "")  # an objection opened stays open while answering
    save.click()
    expect(panel.locator(".script-saved")).to_have_text("Issue enregistrée : Rendez-vous pris.")
    expect(desk.locator("#agent-state")).to_have_text("Disponible", timeout=10_000)  # wrap-up over
    assert desk.dialogs == []  # type: ignore[attr-defined]

    # The answers are on José's timeline (API and contact page); the attempt took the outcome.
    with cti.api("agent1") as c:
        items = c.get(f"/api/v1/contacts/{contact}/timeline", params={"kind": "script"}).json()["items"]
    (entry,) = items
    assert entry["disposition_code"] == "RDV" and entry["data"]["outcome"] == "rdv_pris"
    assert entry["data"]["answers"]["rdv_date"] == meeting.isoformat()
    assert entry["data"]["answers"]["enjeux"] == ["couts", "delais"]
    desk.goto(f"/contacts/{contact}?kind=script")
    script_item = desk.locator(".timeline li[data-kind='script']")
    expect(script_item).to_contain_text("Enjeux prioritaires : Les coûts, Les délais")
    expect(script_item).to_contain_text(f"Date du rendez-vous : {meeting.isoformat()}")
    expect(script_item).to_contain_text("Heure et lieu (ou visio) : 10 h, dans vos locaux <i>bâtiment B</i>")

    assert _attempts(url, lead_id) == [("success", "RDV", "done")]
    wait_until(lambda: cti.agent("agent1").get("state") == "ready", 10, "agent1 ready")


def test_given_a_preview_campaign_when_the_agent_skips_then_dials_then_the_call_runs_its_script(
    desk: Page,
    cti: CtiServer,
    sipp: Sipp,  # noqa: F811
) -> None:
    url = cti.server.env["PLATEAU_DATABASE_URL"]
    sipp.agent(1, "answer", ring_ms=300)  # the agent's phone rings first, then the customer's
    sipp.customer("answer", ring_ms=300)
    _ready(desk)
    first = {"first_name": "Paul", "last_name": "Martin", "company": "Boulangerie Martin"}
    second = {
        "civility": "Mme",
        "first_name": "Anne",
        "last_name": "Lefèbvre <script>",
        "product": "votre box",
    }
    _, (skipped, dialled) = _campaign(
        url,
        [("+33611000101", first), ("+33611000102", second)],
        script="suivi-satisfaction",
        mode=DialMode.preview,
        name="Satisfaction box",
    )
    card = desk.locator("#preview-card")
    expect(card.locator(".preview-name")).to_have_text("Paul Martin", timeout=15_000)
    expect(card).to_contain_text("Boulangerie Martin")
    expect(card).to_contain_text("Satisfaction box")
    card.get_by_role("button", name="Passer").click()
    expect(card.locator(".preview-name")).to_have_text("Anne Lefèbvre <script>")
    expect(card).to_contain_text("06 11 00 01 02")
    card.get_by_role("button", name="Appeler ce contact").click()
    expect(card).to_be_hidden()

    panel = desk.locator("#script-panel")
    expect(panel.locator("#script-title")).to_have_text(
        "Script — Suivi de satisfaction client", timeout=30_000
    )
    current = panel.locator(".script-step-current")
    expect(current.locator(".script-text")).to_contain_text(
        "Suis-je bien en ligne avec Mme Lefèbvre <script> ?"
    )
    current.get_by_label("Personne inconnue à ce numéro").click()
    expect(panel.locator(".script-end")).to_have_text("Fin du script — issue proposée : Mauvais numéro.")
    desk.get_by_role("button", name="Raccrocher").click()
    expect(desk.locator("#pop-phase")).to_have_text("Appel terminé — qualification", timeout=15_000)
    save = panel.get_by_role("button", name="Enregistrer l'issue")
    expect(save).to_have_attribute("aria-disabled", "false")
    save.click()
    expect(panel.locator(".script-saved")).to_have_text("Issue enregistrée : Mauvais numéro.")
    assert _attempts(url, dialled) == [("wrong_number", "FAUXNUM", "done")]
    assert _attempts(url, skipped) == []  # skipped: never dialled
    assert desk.dialogs == []  # type: ignore[attr-defined]


def test_given_an_inbound_queue_with_an_english_script_when_a_customer_calls_then_the_english_desk_runs_it(
    desk: Page,
    cti: CtiServer,
    sipp: Sipp,  # noqa: F811
) -> None:
    url = cti.server.env["PLATEAU_DATABASE_URL"]

    async def setup(s: Any, script: str | None, lang: str) -> None:
        q = await s.scalar(select(Queue).where(Queue.name == "support"))
        q.script = script
        agent = await s.get(User, cti.users["agent1"])
        agent.language = lang

    _db_run(url, lambda s: setup(s, "en-demo-booking", "en"))
    try:
        sipp.agent(1, "answer", ring_ms=300)
        login(desk, "agent1", PASSWORD)
        expect(desk.locator("#live-status")).to_have_attribute("data-state", "ok")
        desk.get_by_role("button", name="Log into my queues").click()
        expect(desk.locator("#agent-state")).to_have_text("Ready", timeout=10_000)
        sipp.call([Caller(KNOWN_NUMBER, "5551000", "Jose")], hold_ms=60_000)  # the support queue's DID

        panel = desk.locator("#script-panel")
        expect(panel.locator("#script-title")).to_have_text(
            "Script — B2B discovery call and demo booking", timeout=20_000
        )
        current = panel.locator(".script-step-current")
        expect(current.locator(".script-text")).to_contain_text(
            "May I speak to José Müller, please?"
        )  # the contact
        current.get_by_label("Wrong number").click()
        expect(panel.locator(".script-end")).to_have_text(
            "End of the script — suggested outcome: Wrong number."
        )
        save = panel.get_by_role("button", name="Save the outcome")
        expect(panel.locator("#script-blockers")).to_have_text(
            "The outcome can be saved once the call has ended."
        )
        desk.get_by_role("button", name="Hang up").click()
        expect(desk.locator("#pop-phase")).to_have_text("Call ended — wrap-up", timeout=15_000)
        expect(save).to_have_attribute("aria-disabled", "false")
        save.click()
        expect(panel.locator(".script-saved")).to_have_text("Outcome saved: Wrong number.")
        with cti.api("agent1") as c:
            items = c.get(
                f"/api/v1/contacts/{cti.users['contact']}/timeline", params={"kind": "script"}
            ).json()
        assert [(i["disposition_code"], i["data"]["script"]) for i in items["items"]][:1] == [
            ("WRONG", "en-demo-booking")
        ]
    finally:
        _db_run(url, lambda s: setup(s, None, "fr"))
