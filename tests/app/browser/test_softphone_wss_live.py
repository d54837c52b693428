"""The desk's browser phone over wss://, as on a real network: a desk on another machine needs a secure page
for its microphone, hence SIP over TLS to Asterisk's HTTPS server (http.conf `tlsenable`, PJSIP's
`transport-wss`) with the certificate Plateau made for it (self-signed here: the browser is told to accept
it, as an agent would once). Chromium registers over it, a customer's call rings with the pop, is answered
with a click and carries audio both ways. The same flow over ws:// is test_softphone_live.py's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from cti.pbx_process import PrivateAsterisk
from cti.sipp import Caller, Sipp, voice_file
from tests.app.browser.cti_live import CtiServer, serve_with_pbx, wait_until
from tests.app.browser.test_softphone_live import (
    RTP_STATS,
    _asterisk_rx_packets,
    _contacts,
    _context,
    _desk,
    _phones_in_db,
    _ready,
    browser_phones_pbx,
)
from tests.cti.pbx.conftest import KNOWN_NUMBER

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]


@pytest.fixture(scope="module")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateAsterisk]:
    yield from browser_phones_pbx(tmp_path_factory)


@pytest.fixture(scope="module")
def cti(pbx: PrivateAsterisk, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CtiServer]:
    wss = f"wss://{pbx.cfg.sip_bind}:{pbx.cfg.https_port}/ws"
    yield from serve_with_pbx(
        pbx,
        tmp_path_factory.mktemp("softphone-wss"),
        env={"PLATEAU_PBX_WS_URL": wss},
        prepare=_phones_in_db(pbx.cfg),
        provision=True,
    )


def test_given_a_desk_on_wss_when_a_customer_calls_then_it_registers_over_tls_rings_with_the_pop_and_audio_flows_both_ways(  # noqa: E501
    media_browser: Browser,
    cti: CtiServer,
    pbx: PrivateAsterisk,
    contexts: list[BrowserContext],
    tmp_path: Path,
) -> None:
    # the self-signed certificate, accepted once by the agent
    desk = _desk(_context(media_browser, cti, contexts, ignore_https_errors=True), "agent1")
    _ready(desk)
    # registered through the one socket its user agent has: Asterisk's TLS WebSocket
    assert desk.evaluate("window.plateauDesk.softphone.config.ws_url") == cti.server.env["PLATEAU_PBX_WS_URL"]
    assert cti.server.env["PLATEAU_PBX_WS_URL"].startswith("wss://")
    assert len(_contacts(pbx, "agent1")) == 1

    sipp = Sipp(pbx.cfg, tmp_path / "sipp")
    try:
        sipp.call([Caller(KNOWN_NUMBER, "5551000", "Jose")], hold_ms=30_000, audio=voice_file(tmp_path))
        answer = desk.locator("#sp-answer")
        expect(answer).to_be_enabled(timeout=15_000)
        expect(desk.locator("#pop .pop-name")).to_have_text("José Müller")
        answer.click()
        expect(desk.locator("#softphone")).to_have_attribute("data-call", "up", timeout=10_000)
        wait_until(
            lambda: (s := desk.evaluate(RTP_STATS)) and s.get("received", 0) > 50 and s.get("sent", 0) > 0,
            15,
            "RTP both ways in the browser",
        )
        wait_until(lambda: _asterisk_rx_packets(pbx, "agent1") > 50, 10, "Asterisk receiving the browser's")
        desk.locator("#btn-hangup").click()
        expect(desk.locator("#softphone")).to_have_attribute("data-call", "none", timeout=10_000)
    finally:
        sipp.stop()
