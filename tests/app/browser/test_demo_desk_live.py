"""The README's five minutes for real: `plateau serve` on the demo data and a private Asterisk (as `make run`
and `plateau demo` leave them), `plateau demo --live` in its own process, and agent1 in Chromium (fake
microphone) with nothing but the demo password: the desk's browser phone registers, a demo customer's call
rings it with the pop, the agent answers with the microphone, hangs up and saves a disposition.

agent3 (sales) is the only simulated colleague, so that every support call is agent1's."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from app.demo import CONTACTS, DEMO_PASSWORD
from tests.app.browser.conftest import login
from tests.app.browser.cti_live import run_in_own_thread, screenshot, wait_until
from tests.app.browser.test_softphone_live import RTP_STATS
from tests.cti.pbx.demo_centre import Centre, demo_centre

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]

DEMO_NAMES = {f"{first} {last}" for first, last, *_ in CONTACTS}


@pytest.fixture(scope="module")
def centre(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Centre]:
    # demo_centre runs asyncio, which Playwright's loop on this thread forbids: it starts and stops aside
    made = demo_centre(tmp_path_factory.mktemp("demo-desk"))
    c = run_in_own_thread(made.__enter__)
    try:
        yield c
    finally:
        run_in_own_thread(lambda: made.__exit__(None, None, None))


def test_given_make_run_and_the_live_demo_when_agent1_signs_in_then_the_browser_phone_rings_with_the_pop_is_answered_and_the_call_disposed(  # noqa: E501
    centre: Centre, media_browser: Browser
) -> None:
    demo = centre.demo(
        "--colleagues", "agent3", "--calls-per-minute", "20", "--talk-seconds", "3-6", "--seed", "3"
    )  # fmt: skip
    context = media_browser.new_context(
        base_url=centre.plateau.url, viewport={"width": 1366, "height": 900}, permissions=["microphone"]
    )
    try:
        wait_until(lambda: demo.poll() is not None or "live demo:" in centre.log(), 60, "the demo started")
        assert demo.poll() is None, centre.log()
        desk = context.new_page()
        login(desk, "agent1", DEMO_PASSWORD)
        desk.goto("/desk")
        state = desk.locator("[data-sp-state]")
        expect(state).to_have_attribute("data-state", "registered", timeout=20_000)
        expect(state).to_have_text("Téléphone du navigateur prêt")
        expect(desk.locator("#phone-state")).to_contain_text("Téléphone enregistré", timeout=10_000)
        desk.get_by_role("button", name="Me connecter à mes files").click()
        expect(desk.locator("#agent-state")).to_have_text("Disponible", timeout=10_000)

        # The first support call rings the browser phone with the caller's card (with this seed, a demo
        # customer: one caller in five is not one, and gets a bare pop).
        answer = desk.locator("#sp-answer")
        expect(answer).to_be_enabled(timeout=60_000)
        expect(desk.locator("#softphone")).to_have_attribute("data-call", "ringing")
        expect(desk.locator("#pop .pop-name")).to_have_text(re.compile("|".join(sorted(DEMO_NAMES))))
        screenshot(desk, "desk-phone-ringing")
        linkedid = desk.locator("#pop").get_attribute("data-linkedid")
        answer.click()
        expect(desk.locator("#softphone")).to_have_attribute("data-call", "up", timeout=10_000)
        expect(desk.locator("#pop-phase")).to_have_text("En conversation", timeout=10_000)
        stats = wait_until(
            lambda: (s := desk.evaluate(RTP_STATS)) and s.get("received", 0) > 50 and s, 15, "caller's RTP"
        )
        assert stats["sent"] > 0  # the fake microphone goes out too

        desk.locator("#btn-hangup").click()
        expect(desk.locator("#softphone")).to_have_attribute("data-call", "none", timeout=10_000)
        expect(desk.locator("#pop-phase")).to_have_text("Appel terminé — qualification", timeout=10_000)
        desk.get_by_label("Code de qualification").select_option(label="Demande résolue")
        desk.get_by_role("button", name="Enregistrer la qualification").click()
        expect(desk.locator("#pop-phase")).to_have_text(
            "Dernier appel — qualification enregistrée", timeout=10_000
        )

        db = Path(centre.url.split("///", 1)[1])

        def history() -> Any:
            with sqlite3.connect(db) as c:
                return c.execute(
                    "SELECT c.outcome, u.username, c.contact_id IS NOT NULL, i.disposition_code FROM calls c "
                    "JOIN users u ON u.id = c.agent_id JOIN interactions i ON i.call_id = c.id "
                    "AND i.kind = 'disposition' WHERE c.linkedid = ?",
                    (linkedid,),
                ).fetchone()

        assert wait_until(history, 15, "the call's history row") == ("answered", "agent1", 1, "resolu")
    finally:
        context.close()
        demo.terminate()
        demo.wait(30)
