"""A campaign set up entirely in the browser reaches a customer: Chromium, Plateau under uvicorn with its live
dialer, the real Asterisk, SIPp as the customer (trunk) and as agent1's phone. A manager uploads a list,
creates the campaign with a script in the form, starts it from its page; the customer answers and agent1's
desk shows the script with the lead's values."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from app.security import hash_password
from core.models import Role, User
from tests.app.browser.cti_live import PASSWORD, CtiServer
from tests.app.browser.test_campaign_setup import _upload
from tests.app.browser.test_script_live import ALWAYS, _db_run, _ready, desk  # noqa: F401  (fixtures)
from tests.cti.pbx.conftest import KNOWN_NUMBER, pbx, sipp  # noqa: F401  (fixtures)
from tests.cti.pbx.sipp import Sipp

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]


@pytest.fixture
def manager(open_page: Callable[..., Page], cti: CtiServer) -> Page:
    async def add(s: object) -> None:
        s.add(  # type: ignore[attr-defined]
            User(username="chef", display_name="Chef Campagnes", role=Role.manager,
                 password_hash=hash_password(PASSWORD))
        )  # fmt: skip

    _db_run(cti.server.env["PLATEAU_DATABASE_URL"], add)
    return open_page(cti.url, "chef", PASSWORD)


def test_given_a_campaign_created_in_the_browser_when_started_then_a_sipp_customer_reaches_agent1_with_the_script(  # noqa: E501
    desk: Page,  # noqa: F811
    manager: Page,
    cti: CtiServer,
    sipp: Sipp,  # noqa: F811
    tmp_path: Path,
) -> None:
    sipp.customer("answer", ring_ms=300)
    sipp.agent(1, "answer", ring_ms=300)
    _ready(desk)

    # A copy of FR-2023 open at every hour, so that the test does not depend on when it runs.
    csrf = next(c["value"] for c in manager.context.cookies() if c["name"] == "plateau_csrf")
    r = manager.request.post(
        "/api/v1/rule-sets",
        data={"name": "FR-TOUJOURS", "base": "FR-2023",
              "rules": {"windows": ALWAYS, "no_calls_on_public_holidays": False}},
        headers={"X-CSRF-Token": csrf},
    )  # fmt: skip
    assert r.status == 201, r.text()
    path = tmp_path / "flottes.csv"
    path.write_bytes(
        ("Civilité;Nom;Prénom;Société;Téléphone;Consentement\r\n"
         f"M.;Müller;José;Acme Industries;{KNOWN_NUMBER};oui\r\n").encode("cp1252")
    )  # fmt: skip
    _upload(manager, path, "Flottes décembre")

    manager.get_by_role("link", name="Nouvelle campagne").click()
    form = manager.locator("#campaign")
    form.get_by_label("Nom", exact=True).fill("Flottes en direct")
    form.get_by_label("Listes d’appels").select_option(label="Flottes décembre")
    form.get_by_label("Script CROC").select_option("b2b-rdv-barrage")
    form.get_by_label("Règles de conformité").select_option("FR-TOUJOURS")
    form.get_by_label("File de ses agents").select_option(label="sales")
    form.get_by_label("Numéro présenté").fill("01 84 80 00 00")
    form.get_by_role("button", name="Créer la campagne").click()
    expect(manager.get_by_role("heading", level=1)).to_have_text("Campagne Flottes en direct")
    expect(manager.locator("#blockers")).to_have_text("Rien ne l’empêche d’appeler maintenant.")
    manager.get_by_role("button", name="Démarrer / reprendre").click()
    expect(manager.locator("#campaign-state")).to_have_text("En cours")

    # The dialer calls the lead, the SIPp customer answers, agent1's phone is connected: the script shows.
    panel = desk.locator("#script-panel")
    expect(panel).to_be_visible(timeout=30_000)
    expect(desk.locator("#pop-phase")).to_have_text("En conversation", timeout=10_000)
    expect(panel.locator("#script-title")).to_have_text(
        "Script — Prise de rendez-vous B2B (passage du barrage)"
    )
    expect(panel.locator(".badge")).to_have_text("Flottes en direct")
    expect(panel.locator(".script-step-current .script-text")).to_contain_text("M. Müller")
    manager.get_by_role("link", name="Suivi de campagne").click()
    expect(manager).to_have_url(re.compile(r"/campaigns/\d+/monitor$"))
