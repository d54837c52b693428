"""The supervisor wallboard in Chromium against the real Asterisk and SIPp: a waiting call, an agent taking
it, a pause with its reason, an abandon, the threshold colours."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from cti.pbx_process import PrivateAsterisk
from tests.app.browser.conftest import browser_page, failed, login
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

# First time (page clock) the support tile shows a waiting call and agent5's row shows "on call", with the
# server's timestamps of those facts (queue_changed.at, agent_state_changed.since) read from the same DOM.
WB_OBSERVER = """
window.__wb = {};
new MutationObserver(() => {
  const w = document.querySelector('.wb-queue[data-queue="support"] .wb-waiting');
  if (w && !window.__wb.waiting && w.querySelector('.value').textContent === '1') {
    window.__wb.waiting = {seenAt: Date.now(), eventAt: Number(w.dataset.at)};
  }
  const row = document.querySelector('tr[data-agent="PJSIP/agent5"][data-state="on_call"]');
  if (row && !window.__wb.onCall) {
    const since = Number(row.querySelector('[data-since]').dataset.since);
    window.__wb.onCall = {seenAt: Date.now(), eventAt: since};
  }
}).observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
"""


@pytest.fixture
def board(
    browser: Browser,
    cti: CtiServer,
    pbx: PrivateAsterisk,  # noqa: F811
    request: pytest.FixtureRequest,
) -> Iterator[Page]:
    with browser_page(browser, request, base_url=cti.url, viewport={"width": 1440, "height": 1000}) as page:
        page.add_init_script(WB_OBSERVER)
        login(page, "boss", PASSWORD)
        expect(page).to_have_url(re.compile(r"/wallboard$"))
        expect(page.locator("#live-status")).to_have_attribute("data-state", "ok")
        yield page
    if failed(request):  # what Asterisk thought: members and their states, phones' contacts, calls up
        pbx_view = [pbx.rx(cmd) for cmd in ("queue show", "pjsip show contacts", "core show channels")]
        print("\n\n".join(pbx_view))  # shown with the failure, in CI's log too
    pbx.rx("channel request hangup all")  # no call may leak into the next test's queue
    cti.reset_agents()


def _post(cti: CtiServer, user: str, path: str, body: dict[str, object] | None = None) -> None:
    with cti.api(user) as c:
        r = c.post(f"/api/v1/agent{path}", json=body if body is not None else {})
        assert r.status_code == 204, r.text


def _support_calls(cti: CtiServer) -> list[dict[str, object]]:
    """agent5's support calls in the history, as the API lists them (the agent sees their own)."""
    with cti.api("agent5") as c:
        r = c.get("/api/v1/calls")
        r.raise_for_status()
        return [x for x in r.json()["items"] if x["queue"] == "support"]


def _latency_ms(page: Page, what: str) -> float:
    seen = page.evaluate(f"window.__wb.{what}")
    assert seen, f"{what} never shown"
    latency = float(seen["seenAt"] - seen["eventAt"] * 1000)
    print(f"wallboard {what}: shown {latency:.0f} ms after the event")
    return latency


def test_given_a_supervisor_when_a_call_waits_and_a_paused_agent_takes_it_then_the_wallboard_follows_within_a_second(  # noqa: E501
    board: Page,
    cti: CtiServer,
    sipp: Sipp,  # noqa: F811
) -> None:
    _post(cti, "agent5", "/login")
    _post(cti, "agent5", "/pause", {"reason": "lunch"})
    row = board.locator('tr[data-agent="PJSIP/agent5"]')
    expect(row).to_have_attribute("data-state", "paused")
    expect(row).to_contain_text("En pause")
    expect(row).to_contain_text("Déjeuner")  # the pause reason, by its label
    tile = board.locator('.wb-queue[data-queue="support"]')
    expect(tile.locator('.wb-count[data-state="paused"] .value')).to_have_text("1")

    sipp.agent(5, "answer", ring_ms=500, talk_ms=8000)
    sipp.call([Caller(KNOWN_NUMBER, "5551000", "Jose")], hold_ms=20_000)
    expect(tile.locator(".wb-waiting .value")).to_have_text("1", timeout=10_000)
    assert 0 <= _latency_ms(board, "waiting") < 1000
    expect(tile.locator(".wb-longest .value")).not_to_have_text("—")  # ticks from the enqueue time
    # Still waiting, nothing in the history yet: the call already counts as offered, not as answered.
    expect(tile.locator('[data-kpi="offered"] .value')).to_have_text("1", timeout=5_000)
    expect(tile.locator('[data-kpi="answered"] .value')).to_have_text("0")

    _post(cti, "agent5", "/ready")
    expect(row).to_have_attribute("data-state", "on_call", timeout=10_000)
    assert 0 <= _latency_ms(board, "onCall") < 1000
    expect(tile.locator(".wb-waiting .value")).to_have_text("0")
    # The current call: the caller's number and matched contact, the queue, the time in call; no call id.
    call = row.locator(".wb-call")
    expect(call).to_contain_text(KNOWN_NUMBER)
    expect(call).to_contain_text("José Müller")
    expect(call).to_contain_text("Support")
    expect(call.locator("[data-call-since]")).to_have_text(re.compile(r"\d+:\d\d"))
    expect(tile.locator('.wb-count[data-state="on_call"] .value')).to_have_text("1")
    # Answered while the agent is still talking (the history row is written when the call ends).
    expect(tile.locator('[data-kpi="answered"] .value')).to_have_text("1", timeout=5_000)
    expect(row).to_have_attribute("data-state", "on_call")
    assert _support_calls(cti) == []
    expect(
        row.get_by_role("button", name="Écouter : Agent5")
    ).to_be_enabled()  # on a call: can be listened to
    screenshot(board, "wallboard")
    # The call ends (the agent's phone hangs up): the counters agree with the history row now written.
    expect(row).to_have_attribute("data-state", "wrap_up", timeout=15_000)
    rows = wait_until(lambda: _support_calls(cti), 10, "the call's history row")
    assert [r["outcome"] for r in rows] == ["answered"]
    expect(tile.locator('[data-kpi="answered"] .value')).to_have_text("1", timeout=15_000)
    expect(tile.locator('[data-kpi="offered"] .value')).to_have_text("1")
    expect(row.locator(".wb-call")).not_to_contain_text(KNOWN_NUMBER)
    # Today's complaint rate in the queue: one contact handled, no complaint.
    expect(tile.locator('[data-kpi="complaint_rate"] .value')).to_have_text(re.compile(r"^0\s?%$"))


def test_given_thresholds_when_a_call_waits_then_abandons_the_tile_turns_amber_and_counts_the_abandon(
    board: Page,
    cti: CtiServer,
    sipp: Sipp,  # noqa: F811
) -> None:
    board.locator("#wb-thresholds summary").click()
    board.locator("#th-waiting-warn").fill("1")
    board.locator("#th-waiting-alert").fill("3")
    board.get_by_role("button", name="Enregistrer les seuils").click()
    board.reload()  # kept for this user in the browser
    expect(board.locator("#th-waiting-warn")).to_have_value("1")
    tile = board.locator('.wb-queue[data-queue="support"]')
    before = int(tile.locator('[data-kpi="abandoned"] .value').inner_text())

    sipp.call([Caller("0611223344", "5551000", "Pressé")], hold_ms=2500)  # nobody logged in: it waits
    waiting = tile.locator(".wb-waiting")
    expect(waiting.locator(".value")).to_have_text("1", timeout=10_000)
    expect(waiting).to_have_attribute("data-level", "warn")
    assert board.evaluate(CONTRAST_JS) == []  # WCAG AA with an alert colour on screen
    expect(waiting.locator(".value")).to_have_text("0", timeout=10_000)  # the caller gave up
    expect(waiting).not_to_have_attribute("data-level", re.compile("."))
    expect(tile.locator('[data-kpi="abandoned"] .value')).to_have_text(str(before + 1), timeout=15_000)


def test_given_a_supervisor_when_listening_to_an_agent_then_their_phone_is_rung_into_the_call(
    board: Page,
    cti: CtiServer,
    pbx: PrivateAsterisk,  # noqa: F811
    sipp: Sipp,  # noqa: F811
) -> None:
    _post(cti, "agent6", "/login")  # joins hotline, sales, support one by one
    tile = board.locator('.wb-queue[data-queue="support"]')
    expect(tile.locator('.wb-count[data-state="ready"] .value')).to_have_text("1")
    sipp.agent(6, "answer", ring_ms=300, talk_ms=15_000)
    sipp.call([Caller(KNOWN_NUMBER, "5551000", "Jose")], hold_ms=20_000)
    row = board.locator('tr[data-agent="PJSIP/agent6"]')
    expect(row).to_have_attribute("data-state", "on_call", timeout=15_000)
    # The supervisor's phone: SIPp answering one call at 127.0.2.1, then hanging up; exit code 0 = done.
    phone = sipp.supervisor(1, ring_ms=200, talk_ms=1000, calls=1)
    row.get_by_role("button", name="Écouter : Agent6").click()
    expect(board.locator("#wb-message")).to_have_text("Votre poste sonne : Écouter sur l'appel de Agent6.")
    assert phone.wait(timeout=15) == 0, "the supervisor's phone was not rung into the call"
