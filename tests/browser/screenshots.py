"""`make docs-screenshots`: pictures of the desk with a pop and of the wallboard under load, for docs/.

A small call centre runs for real (bench/support/stage.py: Asterisk, SIPp agents and carrier, PostgreSQL,
`plateau serve`); calls keep coming faster than 12 agents can take them, so queues fill, and Chromium
signs in as a supervisor and as an agent.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from app.security import hash_password
from bench.support.stage import CallCentre
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.integration.sipp import Caller

PASSWORD = "screenshots-password"


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with CallCentre(
        5000, agents=12, supervisors=1, password_hash=hash_password(PASSWORD), talk_ms=25_000
    ) as c:
        c.sipp.stop()  # agent phones again, agent1 ringing long enough to be seen
        for n in range(1, 13):
            c.sipp.agent(n, "answer", ring_ms=4500 if n == 1 else 1500, talk_ms=25_000)
        callers = [Caller(f"06{n:08d}", "5551000", f"Client {n}") for n in range(40)]
        c.sipp.call(callers, hold_ms=60_000, rate=1.5, limit=60)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            url = f"http://127.0.0.1:{c.http_port}"
            for user, path, shot in (
                ("agent1", "/desk", "desk-pop.png"),
                ("sup1", "/wallboard", "wallboard.png"),
            ):
                page = browser.new_context(base_url=url, viewport={"width": 1440, "height": 1000}).new_page()
                page.goto("/login")
                page.get_by_label("Identifiant").fill(user)
                page.get_by_label("Mot de passe").fill(PASSWORD)
                page.get_by_role("button", name="Se connecter").click()
                page.wait_for_url(lambda u: "/login" not in u)
                page.goto(path)
                if user == "agent1":
                    page.wait_for_selector("#pop:not([hidden])", timeout=90_000)
                    time.sleep(0.6)  # the full pop after the partial one, while it still rings
                else:
                    time.sleep(8)  # the board fills with waiting calls and busy agents
                page.screenshot(path=str(out / shot), full_page=True)
                print(out / shot)
            browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
