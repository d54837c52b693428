"""The desk's browser phone in Chromium (fake microphone and camera devices) against the real Asterisk: it
registers over the WebSocket transport with its own credentials, rings with the pop, is answered with a
click and carries audio both ways, holds through Plateau's hold, sends DTMF, writes the history row,
auto-answers the dialer's calls, survives an Asterisk restart, and is alone: a second tab or browser is
refused, another agent's credential does not register it, a deactivated user's stops at once.

agent1, agent2 and supervisor1 (boss) are browser phones; agent3 is a SIPp phone."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from app.security import token_digest
from core.db import Database
from core.dialer_tables import CampaignState
from core.models import ApiToken, Role, User
from cti.pbx_process import PbxConfig, PrivateAsterisk
from cti.phones import ha1
from cti.sipp import Caller, Sipp, voice_file
from tests.app.browser.conftest import login
from tests.app.browser.cti_live import (
    PASSWORD,
    CtiServer,
    run_in_own_thread,
    screenshot,
    serve_with_pbx,
    wait_until,
)
from tests.app.browser.test_campaign_monitor_live import seed_campaign, set_state
from tests.cti.pbx.conftest import KNOWN_NUMBER

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]

BROWSER_PHONES = ("agent1", "agent2", "supervisor1")
ENDPOINT = {"agent1": "agent1", "agent2": "agent2", "agent3": "agent3", "boss": "supervisor1"}
ADMIN_TOKEN = "token-admin-0123456789"

# The browser phone's RTP as Chromium counts it (JsSIP's RTCSession.connection is the RTCPeerConnection).
RTP_STATS = """async () => {
  const s = window.plateauDesk.softphone.session;
  if (!s || !s.connection) return null;
  const out = {};
  (await s.connection.getStats()).forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'audio') {
      out.received = r.packetsReceived; out.level = r.audioLevel || 0; out.energy = r.totalAudioEnergy || 0;
    }
    if (r.type === 'outbound-rtp' && r.kind === 'audio') out.sent = r.packetsSent;
  });
  return out;
}"""


def browser_phones_pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateAsterisk]:
    """A private Asterisk whose agent1, agent2 and supervisor1 are browser phones (agent3 a SIP phone)."""
    cfg = PbxConfig.for_tests(
        tmp_path_factory.mktemp("pbx"), agents=3, supervisors=1, queue_ring_timeout=15, webrtc=BROWSER_PHONES
    )
    asterisk = PrivateAsterisk(cfg)
    asterisk.start()
    yield asterisk
    asterisk.stop()


@pytest.fixture(scope="module")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateAsterisk]:
    yield from browser_phones_pbx(tmp_path_factory)


def _phones_in_db(cfg: PbxConfig) -> Callable[[str], None]:
    """Every test user's phone credentials as the PBX has them (the app re-renders from the database), an
    admin with an API token (deactivates users)."""

    async def go(url: str) -> None:
        db = Database(url)
        try:
            async with db.session() as s:
                for user in await s.scalars(select(User).where(User.username.in_(ENDPOINT))):
                    endpoint = ENDPOINT[user.username]
                    user.sip_ha1 = ha1(endpoint, cfg.phone_password(endpoint))
                    user.sip_kind = "webrtc" if endpoint in BROWSER_PHONES else "sip"
                root = User(username="root", display_name="Root", role=Role.admin, password_hash="x")
                s.add(root)
                await s.flush()
                s.add(ApiToken(user_id=root.id, name="test", token_hash=token_digest(ADMIN_TOKEN)))
                await s.commit()
        finally:
            await db.dispose()

    return lambda url: run_in_own_thread(lambda: asyncio.run(go(url)))


@pytest.fixture(scope="module")
def cti(pbx: PrivateAsterisk, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CtiServer]:
    yield from serve_with_pbx(
        pbx, tmp_path_factory.mktemp("softphone-live"), prepare=_phones_in_db(pbx.cfg), provision=True
    )


@pytest.fixture
def sipp(pbx: PrivateAsterisk, tmp_path: Path) -> Iterator[Sipp]:
    s = Sipp(pbx.cfg, tmp_path / "sipp")
    yield s
    s.stop()


def _context(browser: Browser, cti: CtiServer, made: list[BrowserContext], **options: Any) -> BrowserContext:
    """A browser profile of its own on the desk, closed by the `contexts` fixture (`options`: more of
    Playwright's new_context arguments)."""
    context = browser.new_context(
        base_url=cti.url, viewport={"width": 1366, "height": 1000}, permissions=["microphone"], **options
    )
    made.append(context)
    return context


def _desk(context: BrowserContext, user: str) -> Page:
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and print(f"console ({user}): {m.text[:300]}"))
    login(page, user, PASSWORD)
    expect(page).to_have_url(re.compile(r"/(desk|wallboard)$"))
    return page


def _registered(page: Page) -> None:
    expect(page.locator("[data-sp-state]")).to_have_attribute("data-state", "registered", timeout=15_000)
    expect(page.locator("[data-sp-state]")).to_have_text("Téléphone du navigateur prêt")


def _ready(page: Page) -> None:
    _registered(page)
    expect(page.locator("#phone-state")).to_contain_text("Téléphone enregistré")  # Asterisk says so on AMI
    page.get_by_role("button", name="Me connecter à mes files").click()
    expect(page.locator("#agent-state")).to_have_text("Disponible", timeout=10_000)


def _contacts(pbx: PrivateAsterisk, endpoint: str) -> list[str]:
    out = pbx.rx(f"pjsip show aor {endpoint}")
    return re.findall(rf"Contact:\s+{endpoint}/(\S+)", out)


def _asterisk_rx_packets(pbx: PrivateAsterisk, endpoint: str) -> int:
    """Packets Asterisk received on the browser phone's channel (`pjsip show channelstats`: BridgeId,
    ChannelId, UpTime, Codec, then the receive count; the codec may be any, `slin` when transcoding)."""
    for line in pbx.rx("pjsip show channelstats").splitlines():
        fields = line.split()
        for i, f in enumerate(fields[:-3]):
            if f.startswith(f"{endpoint}-"):
                count = fields[i + 3]  # Asterisk writes 1.2K past 999
                return int(float(count[:-1]) * 1000) if count.endswith("K") else int(count)
    return 0


def test_given_a_browser_phone_when_a_customer_calls_then_it_rings_with_the_pop_and_audio_flows_both_ways_with_hold_dtmf_and_history(  # noqa: E501
    media_browser: Browser,
    cti: CtiServer,
    pbx: PrivateAsterisk,
    sipp: Sipp,
    contexts: list[BrowserContext],
    tmp_path: Path,
) -> None:
    desk = _desk(_context(media_browser, cti, contexts), "agent1")
    _ready(desk)
    assert len(_contacts(pbx, "agent1")) == 1
    expect(desk.locator("#sp-mic option")).not_to_have_count(0)  # the fake microphone, to choose from
    wait_until(
        lambda: float(desk.locator("#sp-level").get_attribute("value") or 0) > 0, 10, "the level meter"
    )

    pbx.rx("logger add channel softphone-dtmf.log dtmf")
    voice = voice_file(tmp_path)
    sipp.call([Caller(KNOWN_NUMBER, "5551000", "Jose")], hold_ms=60_000, audio=voice)
    # the ring shows with the pop: by the time the answer button is on, the caller's card is there
    answer = desk.locator("#sp-answer")
    expect(answer).to_be_enabled(timeout=15_000)
    expect(desk.locator("#pop .pop-name")).to_have_text("José Müller")
    expect(desk.locator("#softphone")).to_have_attribute("data-call", "ringing")
    invite = desk.evaluate("window.plateauDesk.softphone.stats.invites.at(-1)")
    assert invite["linkedid"] == desk.locator("#pop").get_attribute("data-linkedid")
    assert invite["auto"] is False  # an inbound call of a queue without auto-answer: the agent answers
    screenshot(desk, "desk-softphone-ringing")
    answer.click()
    expect(desk.locator("#softphone")).to_have_attribute("data-call", "up", timeout=10_000)
    expect(desk.locator("#pop-phase")).to_have_text("En conversation", timeout=10_000)

    # audio both ways: the caller's voice reaches the browser, the fake microphone reaches Asterisk
    first = wait_until(
        lambda: (s := desk.evaluate(RTP_STATS)) and s.get("received", 0) > 50 and s, 15, "RTP in"
    )
    later = wait_until(
        lambda: (s := desk.evaluate(RTP_STATS)) and s["energy"] > first["energy"] and s["level"] > 0 and s,
        10,
        "a non-zero audio level in the browser",
    )
    assert later["sent"] > 0
    wait_until(lambda: _asterisk_rx_packets(pbx, "agent1") > 50, 10, "Asterisk receiving the browser's RTP")

    # hold and resume through Plateau's hold: the media session stays up
    hold = desk.locator("#btn-hold")
    hold.click()
    expect(hold).to_have_text("Reprendre", timeout=10_000)
    assert desk.evaluate("window.plateauDesk.softphone.session.isEstablished()")
    hold.click()
    expect(hold).to_have_text("Mettre en attente", timeout=10_000)

    # DTMF from the keypad reaches Asterisk (its DTMF log)
    desk.locator('[data-dtmf="5"]').click()
    desk.locator('[data-dtmf="#"]').click()
    log = pbx.cfg.runtime / "log" / "softphone-dtmf.log"
    wait_until(
        lambda: (
            log.exists()
            and "end '5' received on PJSIP/agent1" in log.read_text()
            and "end '#' received on PJSIP/agent1" in log.read_text()
        ),
        10,
        "DTMF 5 and # in Asterisk's log",
    )

    # hang up from the desk: the browser's session ends, the call's history row is written
    linkedid = desk.locator("#pop").get_attribute("data-linkedid")
    desk.locator("#btn-hangup").click()
    expect(desk.locator("#softphone")).to_have_attribute("data-call", "none", timeout=10_000)
    db = Path(cti.server.env["PLATEAU_DATABASE_URL"].split("///", 1)[1])

    def history_row() -> Any:
        with sqlite3.connect(db) as c:
            return c.execute("SELECT outcome, agent_id FROM calls WHERE linkedid = ?", (linkedid,)).fetchone()

    row = wait_until(history_row, 15, "the call's history row")
    assert row == ("answered", cti.users["agent1"])


# A registration attempt of the page's own, with the given credential (JsSIP is loaded by the desk).
TRY_REGISTER = """async ({uri, user, ha1, url}) => new Promise((resolve) => {
  const ua = new JsSIP.UA({sockets: [new JsSIP.WebSocketInterface(url)], uri, authorization_user: user, ha1,
    realm: 'plateau', register: true, connection_recovery_max_interval: 2});
  ua.on('registered', () => { ua.unregister(); setTimeout(() => ua.stop(), 200); resolve('registered'); });
  ua.on('registrationFailed', (e) => {
    ua.stop();
    resolve('failed ' + (e.response ? e.response.status_code : e.cause));
  });
  ua.start();
})"""


def _credential(cti: CtiServer, user: str) -> dict[str, Any]:
    with cti.api(user) as c:
        r = c.get("/api/v1/agent/softphone")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    return dict(r.json())


def test_given_a_registered_desk_when_a_second_tab_or_another_browser_opens_then_neither_registers_and_both_say_why(  # noqa: E501
    media_browser: Browser, cti: CtiServer, pbx: PrivateAsterisk, contexts: list[BrowserContext]
) -> None:
    context = _context(media_browser, cti, contexts)
    first = _desk(context, "agent2")
    _registered(first)
    second = context.new_page()  # the same browser: the same session, a second tab
    second.goto("/desk")
    state = second.locator("[data-sp-state]")
    expect(state).to_have_attribute("data-state", "other_tab")
    expect(state).to_contain_text("ouvert dans un autre onglet")
    elsewhere = _desk(_context(media_browser, cti, contexts), "agent2")  # another browser: Asterisk says no
    expect(elsewhere.locator("[data-sp-state]")).to_have_attribute("data-state", "refused", timeout=15_000)
    expect(elsewhere.locator("[data-sp-state]")).to_contain_text("déjà enregistré dans un autre navigateur")
    assert len(_contacts(pbx, "agent2")) == 1
    expect(first.locator("[data-sp-state]")).to_have_attribute("data-state", "registered")
    # the first tab closed, its registration goes with its WebSocket: the second tab takes over on reload
    first.close()
    wait_until(lambda: not _contacts(pbx, "agent2"), 10, "agent2's contact removed with its WebSocket")
    second.reload()
    _registered(second)


def test_given_two_agents_when_one_uses_their_credential_for_the_others_endpoint_then_asterisk_refuses_it(
    media_browser: Browser, cti: CtiServer, pbx: PrivateAsterisk, contexts: list[BrowserContext]
) -> None:
    desk = _desk(_context(media_browser, cti, contexts), "agent1")
    _registered(desk)
    mine = _credential(cti, "agent1")
    assert mine["endpoint"] == "agent1" and mine["realm"] == "plateau"  # the session's own phone, only
    with cti.api("agent3") as c:  # a SIP phone's user gets no browser credential
        assert c.get("/api/v1/agent/softphone").status_code == 409
    url = mine["ws_url"]
    for uri, user in (("sip:agent2@127.0.0.1", "agent2"), ("sip:agent2@127.0.0.1", "agent1")):
        out = desk.evaluate(TRY_REGISTER, {"uri": uri, "user": user, "ha1": mine["ha1"], "url": url})
        assert out.startswith("failed"), (uri, user, out)
    assert not _contacts(pbx, "agent2")


def test_given_a_registered_browser_phone_when_its_user_is_deactivated_then_it_stops_registering_at_once(
    media_browser: Browser, cti: CtiServer, pbx: PrivateAsterisk, contexts: list[BrowserContext]
) -> None:
    helper = _desk(_context(media_browser, cti, contexts), "agent1")  # a page with JsSIP loaded
    _registered(helper)
    theirs = _credential(cti, "agent2")
    args = {"uri": theirs["uri"], "user": "agent2", "ha1": theirs["ha1"], "url": theirs["ws_url"]}
    assert helper.evaluate(TRY_REGISTER, args) == "registered"  # the credential works while they are active
    desk = _desk(_context(media_browser, cti, contexts), "agent2")
    _registered(desk)
    agent2 = cti.users["agent2"]
    with httpx.Client(base_url=cti.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
        try:
            assert admin.patch(f"/api/v1/users/{agent2}", json={"active": False}).status_code == 200
            assert "Unable to find" in pbx.rx("pjsip show endpoint agent2")  # PJSIP reloaded at once
            assert not _contacts(pbx, "agent2")
            assert helper.evaluate(TRY_REGISTER, args).startswith("failed")
        finally:
            assert admin.patch(f"/api/v1/users/{agent2}", json={"active": True}).status_code == 200


def test_given_a_registered_browser_phone_when_asterisk_restarts_then_it_registers_again(
    media_browser: Browser, cti: CtiServer, pbx: PrivateAsterisk, contexts: list[BrowserContext]
) -> None:
    desk = _desk(_context(media_browser, cti, contexts), "agent1")
    _registered(desk)
    history = "window.plateauDesk.softphone.history"
    before = len(desk.evaluate(history))
    pbx.restart()
    wait_until(
        lambda: desk.evaluate(history)[before:][-2:] == ["connecting", "registered"],
        30,
        "the browser phone losing Asterisk, then registered again",
    )
    wait_until(lambda: len(_contacts(pbx, "agent1")) == 1, 15, "agent1's contact after the restart")
    expect(desk.locator("#phone-state")).to_contain_text("Téléphone enregistré", timeout=15_000)


def test_given_a_running_predictive_campaign_when_a_customer_answers_then_the_agents_browser_phone_answers_by_itself(  # noqa: E501
    media_browser: Browser, cti: CtiServer, pbx: PrivateAsterisk, sipp: Sipp, contexts: list[BrowserContext]
) -> None:
    url = cti.server.env["PLATEAU_DATABASE_URL"]
    campaign = seed_campaign(url)
    with sqlite3.connect(url.split("///", 1)[1]) as db:
        db.execute("UPDATE campaigns SET dial_mode = 'predictive' WHERE id = ?", (campaign,))
    desk = _desk(_context(media_browser, cti, contexts), "agent1")
    _registered(desk)
    sipp.customer("answer", ring_ms=300, talk_ms=60_000)
    with cti.api("agent1") as c:
        assert c.post("/api/v1/agent/login", json={"queues": ["sales"]}).status_code == 204
    expect(desk.locator("#agent-state")).to_have_text("Disponible", timeout=10_000)
    set_state(url, campaign, CampaignState.running)
    try:
        # no click: a beep, then connected
        expect(desk.locator("#softphone")).to_have_attribute("data-call", "up", timeout=30_000)
        invite = desk.evaluate("window.plateauDesk.softphone.stats.invites.at(-1)")
        assert invite["auto"] is True and invite["linkedid"]
        assert desk.evaluate("window.plateauDesk.softphone.stats.answers.length") == 1
        # the customer's SIPp sends no audio: the connection shows as the browser's RTP reaching Asterisk
        wait_until(lambda: _asterisk_rx_packets(pbx, "agent1") > 20, 10, "the browser's RTP in Asterisk")
    finally:
        set_state(url, campaign, CampaignState.paused)


def test_given_an_agent_on_a_call_when_the_supervisor_listens_from_the_wallboard_then_their_browser_phone_answers_and_hears_it(  # noqa: E501
    media_browser: Browser,
    cti: CtiServer,
    pbx: PrivateAsterisk,
    sipp: Sipp,
    contexts: list[BrowserContext],
    tmp_path: Path,
) -> None:
    desk = _desk(_context(media_browser, cti, contexts), "agent1")
    _ready(desk)
    board = _desk(_context(media_browser, cti, contexts), "boss")
    expect(board).to_have_url(re.compile(r"/wallboard$"))
    _registered(board)
    sipp.call([Caller(KNOWN_NUMBER, "5551000", "Jose")], hold_ms=60_000, audio=voice_file(tmp_path))
    desk.locator("#sp-answer").click(timeout=15_000)
    expect(desk.locator("#softphone")).to_have_attribute("data-call", "up", timeout=10_000)
    listen = board.locator('[data-spy="listen"][data-agent="PJSIP/agent1"]')
    expect(listen).to_be_enabled(timeout=10_000)
    listen.click()
    expect(board.locator("#softphone")).to_have_attribute("data-call", "up", timeout=15_000)
    invite = board.evaluate("window.plateauWallboard.softphone.stats.invites.at(-1)")
    assert invite["auto"] is True
    stats = RTP_STATS.replace("window.plateauDesk", "window.plateauWallboard")
    wait_until(
        lambda: (s := board.evaluate(stats)) and s.get("received", 0) > 20 and s.get("energy", 0) > 0,
        15,
        "the supervisor hearing the call",
    )
