"""Campaign loops: one per running campaign; each tick asks the pacing policy and originates its calls.

Each tick (about once a second, sooner on a transition) builds the pacing `Observation` from the call book
and the tracker's agents of the campaign's queue, asks the campaign's policy, takes that many leads from the
hopper (`dialer.leads.select_leads`, with the rule set and the engine's clock) and originates each."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.dialer_tables import Campaign, CampaignList, CampaignState, DialerCall, DialMode
from core.models import Queue
from cti.events import AgentState
from dialer.compliance import RuleSet, abandon_stats, clone_rule_set
from dialer.engine import spread
from dialer.engine.call_book import PacingInputs
from dialer.engine.facts import (
    ONE_DAY,
    abandon_history,
    abandons_by_period,
    campaign_facts,
    lookback,
    without_numbers,
)
from dialer.engine.ports import AmiLinkPort
from dialer.engine.state import (
    ABANDON_REFRESH_S,
    MIN_TICK_GAP_S,
    POLICY_OF_MODE,
    CampaignLoop,
    EngineState,
    campaign_lease,
    log,
)
from dialer.leads import Selection, select_leads
from dialer.pacing import AbandonMeasure, Decision, Observation, make_policy
from dialer.store import dnc_numbers, load_history, load_leads, rule_set_named


class CampaignLoops(EngineState):
    """The supervisor that starts a loop per running campaign, and the loops' ticks."""

    def campaign_changed(self, campaign_id: int, state: CampaignState) -> None:
        """The API changed a campaign's state. Synchronous on purpose: a campaign paused or stopped places
        no call from the moment this returns (every originate checks `active` first)."""
        self._changed_at[campaign_id] = time.monotonic()
        loop = self.loops.get(campaign_id)
        if loop is not None and state is not CampaignState.running:
            loop.active = False
            loop.wake.set()  # its task ends now instead of at its next safety tick
        self._wake.set()

    async def _supervise(self) -> None:
        while True:
            self._wake.clear()  # before the read: a wake-up during it brings another one
            self._sweep()  # here, not in a campaign's tick: adopted calls may belong to a paused campaign
            try:
                await self._sync_loops()
            except Exception:
                log.exception("dialer: campaign poll failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)

    async def _sync_loops(self) -> None:
        asked = time.monotonic()
        async with self.db.session() as s:
            rows = (await s.execute(select(Campaign.id, Campaign.state, Campaign.dial_mode))).all()
        # a state the API changed while this read was on its way is newer than the row: the wake-up it
        # set brings the next read
        newer = {r[0] for r in rows if self._changed_at.get(r[0], -math.inf) >= asked}
        running = {
            cid: mode for cid, state, mode in rows if state is CampaignState.running and cid not in newer
        }
        for cid, loop in self.loops.items():
            if cid not in running and cid not in newer:
                loop.active = False  # checked before every originate: no new call from now on
        for cid in {r[0] for r in rows} | set(self.loops):  # a deleted campaign's lease goes too
            if cid not in running and cid not in newer:
                self.leases.drop(campaign_lease(cid))
        # several nodes: a campaign runs where a PBX link runs (a node that owns none could dial nowhere)
        settings = getattr(self.cti, "settings", None)
        without_pbx = settings is None or not settings.ami_enabled  # (the tests of the loops alone)
        links_here = self.leases.local or without_pbx or any(unit.owned for unit in self.cti.units)
        for cid, mode in running.items():
            if not links_here:
                self.leases.drop(campaign_lease(cid))
                continue
            self.leases.want(campaign_lease(cid))
            if not self.leases.holds(campaign_lease(cid)):
                continue  # another node runs it; a gain wakes this supervisor
            loop = self.loops.get(cid)
            if loop is None:
                loop = self.loops[cid] = CampaignLoop(
                    cid, make_policy(POLICY_OF_MODE.get(mode, "progressive"))
                )
            loop.active = True
            if loop.task is None or loop.task.done():
                loop.task = asyncio.create_task(self._run(loop), name=f"dialer-campaign-{cid}")

    async def _run(self, loop: CampaignLoop) -> None:
        while loop.active:
            loop.wake.clear()
            try:
                await self._tick(loop)
            except Exception:
                log.exception("dialer: campaign %s tick failed", loop.campaign_id)
            if not loop.active:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(loop.wake.wait(), self.tick_s)
            await asyncio.sleep(MIN_TICK_GAP_S)

    async def _tick(self, loop: CampaignLoop) -> None:
        now = self.clock()
        async with self.db.session() as s:
            c = await s.get(Campaign, loop.campaign_id)
            if c is None or c.state is not CampaignState.running:
                loop.active = False
                return
            rs = await rule_set_named(s, c.rule_set)
            queue = await s.scalar(select(Queue.name).where(Queue.id == c.queue_id)) if c.queue_id else None
            loop.queue = queue
            if rs is None or queue is None:
                self._log(loop, now, None, {"skipped": "no rule set" if rs is None else "no queue"})
                return
            if time.monotonic() - loop.abandon_loaded_at > ABANDON_REFRESH_S:
                await self._load_abandons(s, loop, rs, now)
            obs = self._observe(loop, c, rs, queue)
            decision = loop.policy.decide(obs)
            calls = self._cap_ratio(decision.calls, c, obs)
            link_up = self._pbx_up()
            selections: list[Selection] = []
            ready = self._ready_agents(queue)
            rooms = self._rooms(queue)
            if rooms is not None:  # several servers: no more calls than their free channels
                calls = int(min(calls, spread.capacity(rooms)))
            if calls > 0 and link_up:
                selections = await self._candidates(s, c, rs, now, calls, set(ready))
            self._log(
                loop,
                now,
                decision,
                {"allowed": calls, "selected": len(selections), "link_up": link_up},
            )
            campaign = campaign_facts(c, rs, queue)
        taken: set[str] = set()
        links = self._links_for(rooms, selections, ready)
        for sel, link in zip(selections, links, strict=True):
            if not loop.active or not self._pbx_up():
                break  # paused/stopped during this tick, or the link went down: not one more call
            if rooms is not None and link is None:
                continue  # no server with room for it
            for_agent = None
            if sel.for_agent is not None:
                # an agent-only callback goes to its owner's phone, never to the queue
                for_agent = ready.get(sel.for_agent)
                if for_agent is None or for_agent in taken:
                    continue
                taken.add(for_agent)
            await self._originate(
                campaign, sel.lead, sel.number.e164, now, loop=loop, for_agent=for_agent, link=link
            )

    def _rooms(self, queue: str) -> list[spread.Room] | None:
        """Each server as this campaign sees it (None with one server: every call goes there, as ever)."""
        units = self.cti.units
        if len(units) < 2:
            return None
        agents = Counter(self.cti.unit_of(a.endpoint).name for a in self._agents_of(queue))
        return [
            spread.Room(u.name, u.ready, agents[u.name], u.channels_in_use, u.server.channel_limit)
            for u in units
        ]

    def _links_for(
        self, rooms: list[spread.Room] | None, selections: list[Selection], ready: dict[int, str]
    ) -> list[AmiLinkPort | None]:
        """The link of the server that places each selected call (spread.py); None: the default link
        (one server), or no room (several)."""
        if rooms is None:
            return [None] * len(selections)
        wants: list[str | None] = []
        for sel in selections:
            if sel.for_agent is None:
                wants.append(None)
                continue
            interface = ready.get(sel.for_agent)
            wants.append(self.cti.unit_of(interface).name if interface is not None else "")
        units = {u.name: u for u in self.cti.units}
        return [units[name].link if name else None for name in spread.spread(rooms, wants)]

    async def _candidates(
        self,
        s: Any,
        c: Campaign,
        rs: RuleSet,
        now: datetime,
        n: int,
        agents: set[int],
        exclude: set[int] | frozenset[int] = frozenset(),
        guaranteed: bool = False,
    ) -> list[Selection]:
        """The campaign's next `n` leads that may be dialled now: the hopper's pure selection over leads no
        call, reservation or adopted call holds, with numbers now on a do-not-call list taken out."""
        list_ids = list(await s.scalars(select(CampaignList.list_id).where(CampaignList.campaign_id == c.id)))
        held = self.busy_leads | set(self.reservations) | exclude
        held |= set(await s.scalars(select(DialerCall.lead_id)))  # rows of calls not adopted (yet)
        leads = [
            lead for lead in await load_leads(s, list_ids, limit=max(100, n * 20)) if lead.id not in held
        ]
        blocked = await dnc_numbers(s, [num.e164 for lead in leads for num in lead.numbers], c.id)
        leads = without_numbers(leads, blocked)
        history = await load_history(s, leads, since=now - lookback(rs))
        return select_leads(
            leads,
            history,
            rs,
            now,
            n,
            available_agents=agents,
            callback_fallback=timedelta(minutes=c.callback_fallback_minutes),
            agent_guaranteed=guaranteed,
        )

    def _cap_ratio(self, calls: int, c: Campaign, obs: Observation) -> int:
        """Predictive: never more lines than `dial_ratio` per agent, counting calls already up."""
        if c.dial_mode is not DialMode.predictive or c.dial_ratio < 1:
            return calls
        lines = math.floor(c.dial_ratio * obs.agents_logged_in)
        return max(0, min(calls, lines - len(obs.ringing) - obs.waiting - len(obs.on_call)))

    def _agents_of(self, queue: str) -> list[Any]:
        return [a for a in self.cti.tracker.agents.values() if queue in a.queues]

    def _ready_agents(self, queue: str) -> dict[int, str]:
        """Ready agents of the queue, user id → interface."""
        out: dict[int, str] = {}
        targets = self.book.targets()
        for a in self._agents_of(queue):
            if a.state is not AgentState.ready or a.endpoint in targets:
                continue
            info = self.cti.directory.get(a.endpoint)
            if info is not None and info.user_id is not None:
                out[info.user_id] = a.endpoint
        return out

    def _observe(self, loop: CampaignLoop, c: Campaign, rs: RuleSet, queue: str) -> Observation:
        pacing = PacingInputs(
            campaign_id=c.id,
            stats=loop.stats,
            abandon_today=loop.abandon_today,
            abandon_period=loop.abandon_period,
            abandon_24h=loop.abandon_24h,
            abandon_limit_percent=rs.max_abandon_rate_percent,
            abandon_after_seconds=rs.abandon_after_seconds,
            max_channels=c.max_channels,
        )
        agents = self._agents_of(queue)
        obs, loop.last_agents = self.book.observe(pacing, agents, time.time(), time.monotonic())
        return obs

    async def _load_abandons(self, s: Any, loop: CampaignLoop, rs: RuleSet, now: datetime) -> None:
        history = await abandon_history(s, loop.campaign_id, rs, now)
        today, period = abandons_by_period(history, rs, now)
        day = abandon_stats(
            history, clone_rule_set(rs, rs.name, {"abandon_period_kind": "rolling"} | ONE_DAY), now
        )
        loop.abandon_period = AbandonMeasure(period.abandoned, period.live)
        loop.abandon_today = AbandonMeasure(today.abandoned, today.live)
        loop.abandon_24h = AbandonMeasure(day.abandoned, day.live)
        loop.abandon_loaded_at = time.monotonic()

    def _log(
        self, loop: CampaignLoop, now: datetime, decision: Decision | None, extra: dict[str, Any]
    ) -> None:
        entry: dict[str, Any] = {"at": now.isoformat(), **extra}
        if decision is not None:
            entry |= {
                "calls": decision.calls,
                "policy": decision.policy,
                "mode": decision.mode,
                "inputs": dict(decision.inputs),
            }
        loop.decisions.append(entry)
