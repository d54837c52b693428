"""`make docs-screenshots`: pictures of the desk with a pop and of the wallboard while calls flow, for docs/.

What a newcomer sees with `make run` and `plateau demo --live`: the demo data, a private Asterisk and
`plateau serve` (tests/cti/pbx/demo_centre.py), the live demo's customers calling and its colleagues
answering, agent1's phone simulated too (a SIP phone here) so that its desk pops. Chromium signs in as
demo-supervisor and as agent1 once the day's counters have moved.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from app.demo import DEMO_PASSWORD
from tests.app.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.cti.pbx.demo_centre import demo_centre

WARM_UP_S = 150  # calls offered, answered and abandoned today before the pictures
BUSY_AGENTS = 2  # the wallboard is taken while this many of the team's agents talk


def sign_in(page: Page, user: str) -> None:
    page.goto("/login")
    page.get_by_label("Identifiant").fill(user)
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(lambda u: "/login" not in u)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with demo_centre(Path(tempfile.mkdtemp(prefix="docs-screenshots-")), sip_phones=("agent1",)) as c:
        demo = c.demo(
            "--colleagues", "agent1,agent2,agent3", "--calls-per-minute", "6", "--talk-seconds", "30-70"
        )  # fmt: skip
        try:
            deadline = time.monotonic() + WARM_UP_S
            while time.monotonic() < deadline:
                assert demo.poll() is None, c.log()
                time.sleep(1)
            counters = c.kpi_today()
            assert counters["offered"] and counters["answered"], (counters, c.log())
            print(f"today: {counters}", file=sys.stderr)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                url = c.plateau.url
                viewport = {"width": 1440, "height": 1000}
                board = browser.new_context(base_url=url, viewport=viewport).new_page()  # type: ignore[arg-type]
                sign_in(board, "demo-supervisor")
                board.goto("/wallboard")
                board.wait_for_function(
                    "n => document.querySelectorAll('#wb-agents tr[data-state=on_call]').length >= n",
                    arg=BUSY_AGENTS,
                    timeout=180_000,
                )
                time.sleep(1)  # the counters' refetch after the last event
                board.screenshot(path=str(out / "wallboard.png"), full_page=True)
                print(out / "wallboard.png")
                desk = browser.new_context(base_url=url, viewport=viewport).new_page()  # type: ignore[arg-type]
                sign_in(desk, "agent1")
                desk.goto("/desk")
                desk.wait_for_selector("#pop:not([hidden])", timeout=180_000)
                time.sleep(0.6)  # the full pop after the partial one
                desk.screenshot(path=str(out / "desk-pop.png"), full_page=True)
                print(out / "desk-pop.png")
                browser.close()
        finally:
            demo.terminate()
            demo.wait(30)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
