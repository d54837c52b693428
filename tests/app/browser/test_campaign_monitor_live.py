"""The campaign monitor and the wallboard's campaign tile in Chromium, with the real dialer engine placing
real calls through the private Asterisk: SIPp answers as the customer (trunk) and as agent1's phone.

The campaign runs under a custom rule set with a calling window of the whole day (the engine of the
served app uses the real clock); today's drop seeded in the database sets the abandon rate above the
limit, so the tile turns red. A manager pauses the campaign from the monitor: the engine stops and the
tile leaves the wallboard."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.security import hash_password
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
from core.models import Queue, Role, User, utcnow
from cti.pbx_process import PrivateAsterisk
from tests.app.browser.cti_live import (
    CONTRAST_JS,
    PASSWORD,
    CtiServer,
    run_in_own_thread,
    screenshot,
)
from tests.cti.pbx.conftest import pbx, sipp  # noqa: F401  (fixtures)
from tests.cti.pbx.sipp import Sipp

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]

ALL_DAY = {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
RULES = {
    "name": "ALLDAY-TEST",
    "reference_zone": "Europe/Paris",
    "windows": ALL_DAY,
    "max_abandon_rate_percent": 3.0,
    "abandon_after_seconds": 2,
    "abandon_period_kind": "rolling",
    "abandon_period_days": 30,
}
CAMPAIGN = "Relance hiver"


def _run(coro_fn: Any) -> Any:
    """A coroutine function run on a thread of its own (Playwright owns this thread's event loop)."""
    return run_in_own_thread(lambda: asyncio.run(coro_fn()))


def seed_campaign(url: str) -> int:
    """A manager, the rule set, a list of 2 leads (lead 1 dialled once yesterday), today's drop on a third
    lead, and the campaign, running."""

    async def go() -> int:
        db = Database(url)
        try:
            async with db.session() as s:
                s.add(
                    User(
                        username="chief",
                        display_name="Chief",
                        role=Role.manager,
                        password_hash=hash_password(PASSWORD),
                    )
                )
                s.add(CustomRuleSet(name=RULES["name"], data=RULES))
                queue_id = await s.scalar(select(Queue.id).where(Queue.name == "sales"))
                cl = CallList(name="Fichier hiver", lead_count=3)
                s.add(cl)
                await s.flush()
                now = utcnow()
                leads = []
                for i, (status, attempts) in enumerate([("retry", 1), ("new", 0), ("done", 1)]):
                    lead = Lead(
                        list_id=cl.id,
                        fields={"first_name": f"Client{i}"},
                        consent=True,
                        status=status,
                        attempts=attempts,
                        priority=1 if i == 0 else 0,  # dialled first: its second pass
                        next_attempt_at=now - timedelta(hours=1) if status == "retry" else None,
                    )
                    s.add(lead)
                    await s.flush()
                    s.add(
                        LeadNumber(
                            lead_id=lead.id,
                            list_id=cl.id,
                            e164=f"+3361100030{i}",
                            tz="Europe/Paris",
                            country="FR",
                        )
                    )
                    leads.append(lead)
                c = Campaign(
                    name=CAMPAIGN,
                    queue_id=queue_id,
                    dial_mode=DialMode.progressive,
                    caller_id="+33100000000",
                    rule_set=RULES["name"],
                    state=CampaignState.draft,
                )
                s.add(c)
                await s.flush()
                s.add(CampaignList(campaign_id=c.id, list_id=cl.id))
                s.add_all(
                    [
                        LeadAttempt(  # yesterday: lead 0's first pass
                            lead_id=leads[0].id,
                            campaign_id=c.id,
                            e164="+33611000300",
                            started_at=now - timedelta(days=1),
                            result="no_answer",
                        ),
                        LeadAttempt(  # a minute ago: a person answered, no agent came
                            lead_id=leads[2].id,
                            campaign_id=c.id,
                            e164="+33611000302",
                            started_at=now - timedelta(minutes=1),
                            answered_at=now - timedelta(seconds=55),
                            ended_at=now - timedelta(seconds=50),
                            result="dropped",
                        ),
                    ]
                )
                await s.commit()
                return c.id
        finally:
            await db.dispose()

    return int(_run(go))


def set_state(url: str, campaign_id: int, state: CampaignState) -> None:
    async def go() -> None:
        db = Database(url)
        try:
            async with db.session() as s:
                c = await s.get(Campaign, campaign_id)
                assert c is not None
                c.state = state
                await s.commit()
        finally:
            await db.dispose()

    _run(go)


def test_given_a_running_campaign_when_the_engine_dials_then_the_monitor_and_the_wallboard_tile_follow_and_pause_stops_it(  # noqa: E501
    open_page: Callable[..., Page],
    cti: CtiServer,
    pbx: PrivateAsterisk,  # noqa: F811
    sipp: Sipp,  # noqa: F811
) -> None:
    url = cti.server.env["PLATEAU_DATABASE_URL"]
    cid = seed_campaign(url)
    sipp.customer("answer", ring_ms=4000, talk_ms=6000)  # rings 4 s: "in flight" long enough to see
    sipp.agent(1, "answer", ring_ms=200, talk_ms=60_000)
    with cti.api("agent1") as c:
        assert c.post("/api/v1/agent/login", json={"queues": ["sales"]}).status_code == 204
    tall = {"width": 1440, "height": 1100}
    board = open_page(cti.url, "boss", PASSWORD, viewport=tall)
    monitor = open_page(cti.url, "chief", PASSWORD, viewport=tall)
    try:
        expect(board).to_have_url(re.compile(r"/wallboard$"))
        monitor.goto("/campaigns")
        monitor.get_by_role("link", name=f"Suivi de la campagne {CAMPAIGN}").click()
        expect(monitor).to_have_url(re.compile(rf"/campaigns/{cid}/monitor$"))
        expect(monitor.get_by_role("heading", level=1)).to_have_text(CAMPAIGN)
        expect(monitor.locator("#live-status")).to_have_attribute("data-state", "ok")
        expect(
            monitor.get_by_role("button", name="Pause", exact=True)
        ).to_be_disabled()  # a draft cannot be paused

        set_state(url, cid, CampaignState.running)  # the engine picks it up within its poll
        tile = board.locator(f'.wb-campaign[data-campaign-id="{cid}"]')
        expect(tile).to_be_visible(timeout=10_000)
        expect(tile.get_by_role("link", name=f"Ouvrir le suivi de la campagne {CAMPAIGN}")).to_be_visible()
        # the customer's phone rings: one call in flight on both screens, one agent logged in
        expect(tile.locator(".wb-cp-flight .value")).to_have_text("1", timeout=15_000)
        expect(monitor.locator('[data-metric="calls_in_flight"] .value')).to_have_text("1", timeout=5_000)
        expect(monitor.locator('[data-metric="dial_level"] .value')).to_have_text("1")  # 1 line, 1 agent
        # today's drop (seeded) is 1 abandon of 1 live call: far over the 3 % limit, red
        abandon = tile.locator(".wb-cp-abandon")
        expect(abandon).to_have_attribute("data-level", "alert")
        expect(abandon.locator(".value")).to_have_text(re.compile(r"^100\s?%$"))
        expect(monitor.locator('[data-metric="abandon_today"]')).to_have_attribute("data-level", "alert")
        expect(monitor.locator('[data-metric="abandon_today"] .detail')).to_contain_text("limite 3 %")

        # answered: put through to agent1 within the 2 s
        expect(monitor.locator('[data-metric="connected"] .value')).to_have_text("1", timeout=15_000)
        expect(monitor.locator('.cm-agents .wb-count[data-state="on_call"] .value')).to_have_text("1")
        expect(tile.locator(".wb-cp-cp_connected .value")).to_have_text("1")
        decisions = monitor.locator("#cm-decisions tbody tr")
        expect(decisions.first).to_contain_text("progressive")
        expect(decisions.first.locator(".cm-inputs")).to_contain_text("=")  # the inputs it used
        assert monitor.evaluate(CONTRAST_JS) == []  # WCAG AA, the red abandon boxes included
        assert board.evaluate(CONTRAST_JS) == []
        screenshot(monitor, "campaign_monitor")
        screenshot(board, "wallboard_campaign")

        # the customer hangs up after 6 s: the attempt is written, a contact; the rate falls to 1 of 2
        expect(monitor.locator('[data-metric="contacts_today"] .value')).to_have_text("2", timeout=20_000)
        expect(monitor.locator('[data-metric="attempts_today"] .value')).to_have_text("2")
        expect(abandon.locator(".value")).to_have_text(re.compile(r"^50\s?%$"), timeout=5_000)
        expect(monitor.locator('[data-metric="list_penetration"] .detail')).to_contain_text("2 fiches sur 3")

        # reports: lead 0's call today was its second pass (the first was yesterday)
        monitor.reload()
        passes = monitor.locator("#rep-pass tbody tr")
        expect(passes).to_have_count(5)
        expect(passes.nth(1).locator("td").first).to_have_text("1")  # pass 2: one attempt
        expect(passes.nth(0).locator("td").first).to_have_text("1")  # pass 1: the seeded drop
        agents = monitor.locator("#rep-agent tbody")
        expect(agents).to_contain_text("Agent1")
        csv = monitor.request.get(monitor.locator('[data-csv="pass"]').get_attribute("href") or "")
        assert csv.ok and csv.text().lstrip("\ufeff").startswith("campaign_id;campaign;")

        # a manager pauses: the engine stops dialling and the tile leaves the wallboard
        monitor.get_by_role("button", name="Pause", exact=True).click()
        expect(monitor.locator("#cm-message")).to_have_text(
            "C’est fait : la campagne est maintenant « En pause »."
        )
        expect(monitor.locator("#cm-state")).to_have_text("En pause", timeout=5_000)
        expect(monitor.get_by_role("button", name="Démarrer / reprendre")).to_be_enabled()
        expect(tile).to_have_count(0, timeout=10_000)
        expect(board.locator("#wb-campaigns-section")).to_be_hidden()
    finally:
        set_state(url, cid, CampaignState.stopped)
        pbx.rx("channel request hangup all")
        cti.reset_agents()
