"""The live dialer against the private Asterisk: Plateau reaches the AMI through a proxy that sees every
Originate it sends; SIPp plays the customers (the trunk's far end) and the agents' phones."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest_asyncio
from sqlalchemy import select

from app.security import hash_password, token_digest
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
from core.models import ApiToken, Queue, Role, User
from cti.events import AgentState
from cti.pbx_process import PrivateAsterisk
from dialer.compliance import builtin_rule_sets
from tests.cti.pbx.conftest import Plateau, pbx, plateau_settings, recorder, serve_plateau, sipp  # noqa: F401
from tests.cti.pbx.faults import AmiProxy
from tests.cti.pbx.sipp import Sipp

# A Tuesday, 11:00 in Paris: inside FR-2023's windows, not a public holiday.
IN_WINDOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
OUT_OF_WINDOW = datetime(2026, 11, 24, 20, 30, tzinfo=UTC)  # 21:30 in Paris
MANAGER_TOKEN = "token-manager-0123456789"
SCRIPT = "suivi-satisfaction"  # a shipped script: a paused campaign may start again


async def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


async def wait_for_async(fn: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


def customer(sipp: Sipp, behaviour: str, ring_ms: int = 1000) -> None:  # noqa: F811
    """The far end of the trunk: `answer`, `noanswer`, or rejecting with 486 (`busy`) / 503 (`congestion`)."""
    sipp.customer(behaviour, ring_ms=ring_ms)


ALL_DAY = "FAULTS-ALL-DAY"  # FR-2023 with every hour of every day: a serving process runs on the real clock


async def add_all_day_rule_set(db: Database) -> str:
    """Adds the rule set ALL_DAY (for campaigns of a `plateau serve` process, whose clock is the real one)."""
    data = builtin_rule_sets()["FR-2023"].model_dump(mode="json")
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    windows = {day: ["00:00-23:59"] for day in days}
    data.update(name=ALL_DAY, windows=windows, no_calls_on_public_holidays=False)
    async with db.session() as s:
        s.add(CustomRuleSet(name=ALL_DAY, data=data))
        await s.commit()
    return ALL_DAY


async def add_campaign(
    db: Database,
    numbers: list[str],
    *,
    retry_rules: dict[str, Any] | None = None,
    state: CampaignState = CampaignState.running,
    amd: bool = False,
    mode: DialMode = DialMode.progressive,
    rule_set: str = "FR-2023",
    **settings: Any,
) -> tuple[int, list[int]]:
    """A campaign on the `sales` queue calling one new lead per number: (campaign id, lead ids)."""
    async with db.session() as s:
        queue_id = await s.scalar(select(Queue.id).where(Queue.name == "sales"))
        cl = CallList(name=f"list-{time.monotonic_ns()}", lead_count=len(numbers))
        s.add(cl)
        await s.flush()
        lead_ids = []
        for i, e164 in enumerate(numbers):
            lead = Lead(list_id=cl.id, fields={"first_name": f"Lead{i}"}, consent=True, status="new")
            s.add(lead)
            await s.flush()
            s.add(LeadNumber(lead_id=lead.id, list_id=cl.id, e164=e164, tz="Europe/Paris", country="FR"))
            lead_ids.append(lead.id)
        c = Campaign(
            name=f"camp-{time.monotonic_ns()}",
            queue_id=queue_id,
            dial_mode=mode,
            caller_id="+33100000000",
            script=SCRIPT,
            rule_set=rule_set,
            retry_rules=retry_rules or {},
            state=state,
            amd_enabled=amd,
            **settings,
        )
        s.add(c)
        await s.flush()
        s.add(CampaignList(campaign_id=c.id, list_id=cl.id))
        await s.commit()
        return c.id, lead_ids


@dataclass
class Live:
    p: Plateau
    proxy: AmiProxy
    pbx: PrivateAsterisk

    @property
    def dialer(self) -> Any:
        return self.p.app.state.dialer

    def originates(self) -> list[dict[str, str]]:
        """Every Originate Plateau sent, as {channel_id, number, channel}."""
        return self.proxy.originates()

    async def login(self, n: int, queue: str = "sales") -> None:
        await self.p.cti.login(f"PJSIP/agent{n}", f"agent{n}", {queue: 0})  # skill 1: penalty 0
        await wait_until(
            lambda: (
                (a := self.p.cti.tracker.agents.get(f"PJSIP/agent{n}")) is not None
                and a.state is AgentState.ready
            ),
            what=f"agent{n} ready",
        )

    async def campaign(
        self,
        numbers: list[str],
        *,
        retry_rules: dict[str, Any] | None = None,
        state: CampaignState = CampaignState.running,
        amd: bool = False,
        mode: DialMode = DialMode.progressive,
        **settings: Any,
    ) -> tuple[int, list[int]]:
        return await add_campaign(
            self.p.db, numbers, retry_rules=retry_rules, state=state, amd=amd, mode=mode, **settings
        )

    async def set_state(self, campaign_id: int, state: CampaignState) -> None:
        """As the API does: the row, then the engine told (a campaign filled while still a draft)."""
        async with self.p.db.session() as s:
            c = await s.get(Campaign, campaign_id)
            assert c is not None
            c.state = state
            await s.commit()
        self.dialer.campaign_changed(campaign_id, state)

    async def attempts(self, lead_id: int | None = None) -> list[LeadAttempt]:
        async with self.p.db.session() as s:
            q = select(LeadAttempt).order_by(LeadAttempt.id)
            if lead_id is not None:
                q = q.where(LeadAttempt.lead_id == lead_id)
            return list(await s.scalars(q))

    async def lead(self, lead_id: int) -> Lead:
        async with self.p.db.session() as s:
            lead = await s.get(Lead, lead_id)
            assert lead is not None
            return lead


@pytest_asyncio.fixture
async def live(pbx: PrivateAsterisk, tmp_path: Path) -> AsyncIterator[Live]:  # noqa: F811
    proxy = AmiProxy(pbx.cfg.ami_port)
    await proxy.start()
    async with serve_plateau(plateau_settings(pbx, tmp_path, ami_port=proxy.port)) as p:
        assert await p.cti.link.wait_ready(15), p.cti.health()
        p.app.state.dialer.clock = lambda: IN_WINDOW
        p.app.state.dialer.ring_s = 4
        async with p.db.session() as s:
            u = User(
                username="manager",
                display_name="Manager",
                password_hash=hash_password("irrelevant-password"),
                role=Role.manager,
            )
            s.add(u)
            await s.flush()
            s.add(ApiToken(user_id=u.id, name="test", token_hash=token_digest(MANAGER_TOKEN)))
            await s.commit()
        p.tokens["manager"] = MANAGER_TOKEN
        try:
            yield Live(p, proxy, pbx)
        finally:
            # no campaign keeps dialling into the next test, and the PBX is left without members
            async with p.db.session() as s:
                for c in await s.scalars(select(Campaign)):
                    c.state = CampaignState.stopped
                await s.commit()
            for n in range(1, 7):
                with contextlib.suppress(Exception):
                    await p.cti.logout(f"PJSIP/agent{n}")
    await proxy.stop()
