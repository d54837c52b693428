"""The live dialer: one loop per running campaign, originating through the CTI's AMI link.

Each tick (about once a second) a campaign loop builds the pacing `Observation` from the tracker's agents
of the campaign's queue and its own calls in flight, asks the campaign's policy, takes that many leads
from the hopper (`dialer.leads.select_leads`, with the rule set and the engine's clock) and originates
each through `[plateau-dialer-dial]`, with a ChannelId recorded *before* the action is sent.

Outcomes come from channel events, never from OriginateResponse: the raw AMI listener follows DialEnd and
Hangup of the trunk leg (Linkedid = our ChannelId) and the AMDResult / DialerAbandon UserEvents; the bus
says when an agent got the call (CallAnswered) and when it ended. Each attempt is written once, when the
call is over (`dialer.store.record_attempt`), and updates its lead from the campaign's retry rules.

The clock is injected (`clock`), so a test can place the engine outside the calling windows; durations
are measured on the monotonic clock and laid on the injected one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from app.db import Database
from app.models import Queue
from cti.ami import AmiError, AmiUnavailable
from cti.ami_wire import AmiEvent
from cti.events import AgentState, AgentStateChanged, CallAnswered, CallEnded
from cti.numbers import try_parse
from cti.phones import AUTO_ANSWER
from cti.tracker import SOFTHANGUP_SHUTDOWN
from dialer import leads_model as m
from dialer.compliance import AbandonStats, RuleSet, abandon_stats, check, clone_rule_set
from dialer.leads import Selection, select_leads
from dialer.messages import MessageError, abandon_sound, message_language, sound_name, spoken_number
from dialer.models import (
    Callback,
    CallbackStatus,
    Campaign,
    CampaignList,
    CampaignState,
    DialerCall,
    DialMode,
    Lead,
    LeadAttempt,
)
from dialer.outcomes import CallSignals, classify, next_for_lead, retry_rules
from dialer.pacing import AbandonMeasure, Decision, Observation, PacingStats, Policy, make_policy
from dialer.store import dnc_numbers, load_history, load_lead, load_leads, record_attempt, rule_set_named

log = logging.getLogger(__name__)

DIAL_CONTEXT = "plateau-dialer-dial"
ANSWERED_CONTEXT = "plateau-dialer-answered"
AGENT_CONTEXT = "plateau-dialer-agent"  # the agent's phone first, then the customer (preview, own callbacks)
AGENT_PICKUP_S = 20
PREVIEW_HOLD_S = 120.0  # a previewed lead stays with its agent this long without a click
PREVIEW_SKIP_S = 600.0  # a skipped lead is not shown to the same agent again for this long
POLICY_OF_MODE = {
    DialMode.preview: "preview",
    DialMode.progressive: "progressive",
    DialMode.predictive: "plateau",
}
DECISIONS_KEPT = 120  # two minutes of decisions per campaign for the monitor
ABANDON_REFRESH_S = 10.0
LOST_CALL_GRACE_S = 3.0  # after the link is back, a call Asterisk no longer knows is over
STALE_RING_MARGIN_S = 30.0  # an unanswered call never heard of again (lost event) is closed after this
# Transitions wake the loops at once (agent states from the CTI bus, campaign changes from the API); these
# polls are only the safety net (a campaign changed by another process, a lost wake-up, pacing by time).
SAFETY_TICK_S = 2.0
SAFETY_POLL_S = 1.0
MIN_TICK_GAP_S = 0.1  # a burst of transitions makes one tick, not one per event


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class LiveCall:
    """One originated call, from before the Originate is sent until its attempt is written."""

    channel_id: str
    campaign_id: int
    campaign_name: str
    script: str | None
    lead_id: int
    lead_status: m.LeadStatus
    lead_fields: dict[str, str]
    e164: str
    started_at: datetime  # on the engine's clock
    t0: float  # monotonic
    answered_t: float | None = None
    agent_t: float | None = None
    agent: str | None = None
    dial_status: str | None = None
    hangup_cause: int | None = None
    amd_status: str | None = None
    abandon_event: bool = False
    link_lost: bool = False
    resolved: bool = False  # fed to PacingStats
    ending: bool = False
    amd: bool = False
    for_agent: str | None = None  # agent-first call: the interface rung before the customer
    dialled: bool = False  # the trunk leg was dialled (an agent who never picked up dials nobody)
    recovered: bool = False  # adopted from `dialer_calls` after a restart

    def at(self, t: float | None) -> datetime | None:
        return None if t is None else self.started_at + timedelta(seconds=max(0.0, t - self.t0))

    @property
    def waiting(self) -> bool:
        """Answered by a person, not yet with an agent."""
        return (
            self.answered_t is not None
            and self.agent_t is None
            and self.amd_status != "MACHINE"
            and self.for_agent is None
        )

    def signals(self) -> CallSignals:
        return CallSignals(
            dial_status=self.dial_status,
            hangup_cause=self.hangup_cause,
            answered=self.answered_t is not None,
            amd_status=self.amd_status,
            abandon_event=self.abandon_event,
            agent_connected=self.agent_t is not None,
            link_lost=self.link_lost,
        )


@dataclass
class CampaignLoop:
    campaign_id: int
    policy: Policy
    stats: PacingStats = field(default_factory=PacingStats)
    decisions: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=DECISIONS_KEPT))
    task: asyncio.Task[None] | None = None
    active: bool = True
    originated: int = 0
    abandon_today: AbandonMeasure = field(default_factory=AbandonMeasure)
    abandon_period: AbandonMeasure = field(default_factory=AbandonMeasure)
    abandon_24h: AbandonMeasure = field(default_factory=AbandonMeasure)
    abandon_loaded_at: float = -math.inf
    last_agents: dict[str, int] = field(default_factory=dict)
    queue: str | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # an agent or campaign transition: tick now


@dataclass
class Reservation:
    """A lead shown to one agent in preview: nobody else gets it until `until` (monotonic)."""

    lead_id: int
    campaign_id: int
    user_id: int
    e164: str
    until: float


class PreviewError(Exception):
    """A preview request that cannot be served; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class DialerService:
    """Starts and stops one `CampaignLoop` per running campaign; follows the calls they place."""

    def __init__(
        self,
        cti: Any,  # cti.service.CtiService (Any: the dialer must not import the web app's wiring)
        db: Database,
        *,
        clock: Callable[[], datetime] = utc_now,
        tick_s: float = SAFETY_TICK_S,
        poll_s: float = SAFETY_POLL_S,
        ring_s: int = 20,
    ) -> None:
        self.cti = cti
        self.db = db
        self.clock = clock
        self.tick_s = tick_s
        self.poll_s = poll_s
        self.ring_s = ring_s
        self.loops: dict[int, CampaignLoop] = {}
        self.calls: dict[str, LiveCall] = {}
        self.busy_leads: set[int] = set()
        self.attempts_written = 0
        self._wraps: dict[str, tuple[int, float, float]] = {}  # agent → (campaign, talk s, ended at)
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._link_up_since: float | None = None
        # the link's connect count when Asterisk refused an Originate because it is shutting down: no dial
        # until the link has connected again (to the restarted PBX), or every tick would try once more
        self._pbx_stopping_at: int | None = None
        self._wake = asyncio.Event()
        self._changed_at: dict[int, float] = {}  # campaign → when the API last changed its state
        self._stopped = False  # the bus has no unsubscribe: its events are ignored from then on
        self.reservations: dict[int, Reservation] = {}  # lead → its preview reservation
        self._skipped: dict[tuple[int, int], float] = {}  # (user, lead) → skipped until (monotonic)

    # -- life cycle ----------------------------------------------------------------------------------------
    async def start(self) -> None:
        try:
            await self._recover()
        except Exception:  # the leads stay blocked by their rows: nothing is dialled twice meanwhile
            log.exception("dialer: could not adopt the calls in flight")
        self.cti.raw_listeners.append(self.on_ami)
        self.cti.bus.subscribe(self.on_event)
        self.cti.screenpop.extras.append(self.pop_fields)
        self.cti.recorder.campaign_of = self.campaign_of
        self._task = asyncio.create_task(self._supervise(), name="dialer-supervisor")

    async def stop(self) -> None:
        # calls still up are left to the next start (their rows stay): nothing is written for them now
        self._stopped = True
        with contextlib.suppress(ValueError):
            self.cti.raw_listeners.remove(self.on_ami)
        with contextlib.suppress(ValueError):
            self.cti.screenpop.extras.remove(self.pop_fields)
        tasks = [t for t in (self._task, *(lp.task for lp in self.loops.values())) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)

    def _pbx_up(self) -> bool:
        """The link is up, and not to a PBX that said it is shutting down (wait for the restarted one)."""
        if self._pbx_stopping_at is not None and self.cti.link.stats.connects > self._pbx_stopping_at:
            self._pbx_stopping_at = None
        return self.cti.link.ready and self._pbx_stopping_at is None

    def wake(self) -> None:
        """Something changed (a campaign's state, a freed lead): every loop looks now, not at its poll."""
        self._wake.set()
        for loop in self.loops.values():
            loop.wake.set()

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
        for cid, mode in running.items():
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

    # -- one tick ------------------------------------------------------------------------------------------
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
            if calls > 0 and link_up:
                selections = await self._candidates(s, c, rs, now, calls, set(ready))
            self._log(
                loop,
                now,
                decision,
                {"allowed": calls, "selected": len(selections), "link_up": link_up},
            )
            campaign = _campaign_facts(c, rs, queue)
        taken: set[str] = set()
        for sel in selections:
            if not loop.active or not self._pbx_up():
                break  # paused/stopped during this tick, or the link went down: not one more call
            for_agent = None
            if sel.for_agent is not None:
                # an agent-only callback goes to its owner's phone, never to the queue
                for_agent = ready.get(sel.for_agent)
                if for_agent is None or for_agent in taken:
                    continue
                taken.add(for_agent)
            await self._originate(campaign, sel.lead, sel.number.e164, now, loop=loop, for_agent=for_agent)

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
        leads = _without_numbers(leads, blocked)
        history = await load_history(s, leads, since=now - _lookback(rs))
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

    def _targets(self) -> set[str]:
        """Agents an agent-first call is ringing or connected to: not free for another call."""
        return {c.for_agent for c in self.calls.values() if c.for_agent and not c.ending}

    def _ready_agents(self, queue: str) -> dict[int, str]:
        """Ready agents of the queue, user id → interface."""
        out: dict[int, str] = {}
        targets = self._targets()
        for a in self._agents_of(queue):
            if a.state is not AgentState.ready or a.endpoint in targets:
                continue
            info = self.cti.directory.get(a.endpoint)
            if info is not None and info.user_id is not None:
                out[info.user_id] = a.endpoint
        return out

    def _observe(self, loop: CampaignLoop, c: Campaign, rs: RuleSet, queue: str) -> Observation:
        wall = time.time()
        mono = time.monotonic()
        ready = paused = 0
        on_call: list[float] = []
        in_wrap: list[float] = []
        in_wrap_talk: list[float | None] = []
        states: Counter[str] = Counter()
        targets = self._targets()
        for a in self._agents_of(queue):
            states[a.state.value] += 1
            elapsed = max(0.0, wall - a.since)
            if a.state is AgentState.ready and a.endpoint in targets:
                on_call.append(0.0)  # their phone is about to ring with an agent-first call
            elif a.state is AgentState.ready:
                ready += 1
            elif a.state in (AgentState.on_call, AgentState.ringing):
                on_call.append(elapsed if a.state is AgentState.on_call else 0.0)
            elif a.state is AgentState.wrap_up:
                in_wrap.append(elapsed)
                # talk of the call being wrapped up, when it was one of this campaign's: its wrap-up
                # is predicted from calls of similar length (None: the policy uses every wrap-up)
                wrapped = self._wraps.get(a.endpoint)
                in_wrap_talk.append(wrapped[1] if wrapped is not None and wrapped[0] == c.id else None)
            elif a.state is AgentState.paused:
                paused += 1
        loop.last_agents = dict(states)
        mine = [call for call in self.calls.values() if call.campaign_id == c.id]
        # agent-first calls already hold their agent (counted above): not lines waiting for one
        ringing = [mono - call.t0 for call in mine if call.answered_t is None and call.for_agent is None]
        waiting = sum(1 for call in mine if call.waiting)
        st = loop.stats
        # Leaving agents (`on_call_leaving`, `in_wrap_leaving`) stay unknown here: Asterisk pauses an
        # agent at once, and a paused agent is counted in `agents_paused` from that moment.
        return Observation(
            now=mono,
            agents_ready=ready,
            on_call=on_call,
            in_wrap=in_wrap,
            in_wrap_talk=in_wrap_talk if any(t is not None for t in in_wrap_talk) else (),
            agents_paused=paused,
            ringing=ringing,
            waiting=waiting,
            dials_sampled=st.dials_sampled,
            answer_rate=st.answer_rate,
            connect_rate=st.connect_rate,
            human_delays=st.human_delays.sorted,
            other_delays=st.other_delays.sorted,
            handle_times=st.handle.sorted,
            wrap_times=st.wrap.sorted,
            talk_wrap=st.talk_wrap,
            abandon_today=loop.abandon_today,
            abandon_period=loop.abandon_period,
            abandon_24h=loop.abandon_24h,
            abandon_limit_percent=rs.max_abandon_rate_percent,
            abandon_after_seconds=rs.abandon_after_seconds,
            max_channels=c.max_channels,
        )

    async def _load_abandons(self, s: Any, loop: CampaignLoop, rs: RuleSet, now: datetime) -> None:
        history = await _abandon_history(s, loop.campaign_id, rs, now)
        today, period = _abandons_by_period(history, rs, now)
        day = abandon_stats(
            history, clone_rule_set(rs, rs.name, {"abandon_period_kind": "rolling"} | _ONE_DAY), now
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

    # -- originate -------------------------------------------------------------------------------------------
    async def _originate(
        self,
        campaign: dict[str, Any],
        lead: m.Lead,
        e164: str,
        now: datetime,
        *,
        loop: CampaignLoop | None,
        for_agent: str | None = None,
    ) -> LiveCall | None:
        """Place one call: the customer through the queue, or (`for_agent`) the agent's phone first.

        The call is claimed in memory before any await and written to `dialer_calls` before the action
        leaves, so neither a concurrent tick nor a restarted engine dials the lead again."""
        channel_id = f"dial-{uuid.uuid4().hex}"
        call = LiveCall(
            channel_id=channel_id,
            campaign_id=campaign["id"],
            campaign_name=campaign["name"],
            script=campaign["script"],
            lead_id=lead.id,
            lead_status=lead.status,
            lead_fields=dict(lead.fields),
            e164=e164,
            started_at=now,
            t0=time.monotonic(),
            amd=bool(campaign["amd"]) and for_agent is None,
            for_agent=for_agent,
        )
        # recorded before the action leaves: its events may arrive before Originate's response
        self.calls[channel_id] = call
        self.busy_leads.add(lead.id)
        try:
            async with self.db.session() as s:
                s.add(
                    DialerCall(
                        channel_id=channel_id,
                        campaign_id=call.campaign_id,
                        lead_id=lead.id,
                        e164=e164,
                        lead_status=lead.status.value,
                        for_agent=for_agent,
                        started_at=now,
                    )
                )
                await s.commit()
        except Exception:
            log.exception("dialer: could not record the call to lead %s; not dialled", lead.id)
            self._release(call)
            return None
        if (loop is not None and not loop.active) or not self._pbx_up():
            await self._forget(call)  # paused, stopped or cut while the row was written: not one more call
            return None
        if loop is not None:
            loop.originated += 1
        try:
            if for_agent is None:
                await self.cti.link.originate(
                    channel=f"Local/{e164}@{DIAL_CONTEXT}/n",
                    context=ANSWERED_CONTEXT,
                    exten="s",
                    channel_id=channel_id,
                    caller_id=f"<{campaign['caller_id']}>" if campaign["caller_id"] else None,
                    variables=self._variables(campaign, call),
                    timeout_ms=(self.ring_s + 10) * 1000,
                )
            else:
                await self.cti.link.originate(
                    channel=for_agent,
                    context=AGENT_CONTEXT,
                    exten=e164,
                    channel_id=channel_id,
                    caller_id=f"<{e164}>",  # the agent's phone shows whom it is about to call
                    variables={
                        "PLATEAU_CALLER_ID": campaign["caller_id"] or "",
                        "PLATEAU_CHANNEL_ID": channel_id,
                        "PLATEAU_RING_S": str(self.ring_s),
                        "PLATEAU_NUMBER": e164,
                        **AUTO_ANSWER,  # the agent chose this lead: their browser phone takes the ring
                    },
                    timeout_ms=AGENT_PICKUP_S * 1000,
                )
        except AmiUnavailable:
            # maybe placed, maybe not: never resent; the call is closed once Asterisk no longer knows it
            call.link_lost = True
        except AmiError as exc:
            if "shutting down" in str(exc).lower():
                # refused before any channel existed (Asterisk stopping, its hang-ups freed an agent):
                # nobody was dialled, so no attempt counts against the lead; it is dialled after the restart
                log.info("dialer: originate to lead %s refused, Asterisk is shutting down", lead.id)
                self._pbx_stopping_at = self.cti.link.stats.connects
                await self._forget(call)
                return None
            log.warning("dialer: originate to lead %s refused: %s", lead.id, exc)
            call.dial_status = "CHANUNAVAIL"
            self._finish(call)
        return call

    def _variables(self, campaign: dict[str, Any], call: LiveCall) -> dict[str, str]:
        """Channel variables of `[plateau-dialer-answered]`; every value is from a closed alphabet."""
        return {
            "PLATEAU_QUEUE": campaign["queue"],
            "PLATEAU_AMD": "1" if campaign["amd"] else "0",
            "PLATEAU_ABANDON_S": str(campaign["abandon_s"]),
            "PLATEAU_CHANNEL_ID": call.channel_id,
            "PLATEAU_RING_S": str(self.ring_s),
            "PLATEAU_NUMBER": call.e164,
            "PLATEAU_MACHINE_ACTION": campaign["machine_action"],
            "PLATEAU_CALLBACK_DIGITS": spoken_number(campaign["callback_number"], call.e164),
            "PLATEAU_MACHINE_SOUND": campaign["machine_sound"],
            "PLATEAU_ABANDON_SOUND": campaign["abandon_sound"],
            "PLATEAU_LANG": message_language(call.e164),
            # the campaign's recording (app/recordings.py): no announcement unless the campaign names one,
            # since it would play before the agent is connected and count against the abandon time
            "PLATEAU_REC_POLICY": campaign["recording"],
            "PLATEAU_REC_SOUND": campaign["recording_sound"],
        }

    # -- events --------------------------------------------------------------------------------------------
    def on_ami(self, ev: AmiEvent) -> None:
        """Raw AMI events (from CtiService.consume), before the tracker. No I/O here."""
        name = ev.name
        if self._stopped:
            return
        if name not in ("DialBegin", "DialEnd", "Hangup", "UserEvent", "AgentConnect", "SoftHangupRequest"):
            return
        h = ev.headers
        call = self.calls.get(h.get("Linkedid", "")) or self.calls.get(h.get("DestLinkedid", ""))
        if call is None and name == "UserEvent":
            call = self.calls.get(h.get("ChannelId", ""))
        if call is None:
            return
        now = time.monotonic()
        if name == "DialBegin" and self._is_trunk(h.get("DestChannel", "")):
            call.dialled = True
        elif name == "DialEnd" and self._is_trunk(h.get("DestChannel", "")):
            status = h.get("DialStatus", "")
            call.dial_status = status
            call.dialled = True
            if status == "ANSWER" and call.answered_t is None:
                call.answered_t = now
                self._note(call, answered_at=call.at(now))
                if not call.amd:
                    self._resolve(call, live=True)
            elif status != "ANSWER":
                self._resolve(call, live=False)
        elif name == "Hangup":
            if self._is_trunk(h.get("Channel", "")):
                with contextlib.suppress(ValueError):
                    call.hangup_cause = int(h.get("Cause", ""))
            if h.get("Uniqueid") == call.channel_id:
                # the originated half is gone: the call is over; let the trunk leg's Hangup land first
                asyncio.get_running_loop().call_later(0.3, self._finish, call)
        elif name == "UserEvent":
            kind = h.get("UserEvent")
            if kind == "AMDResult":
                call.amd_status = h.get("AMDStatus") or None
                self._note(call, amd_status=(call.amd_status or "")[:16] or None)
                self._resolve(call, live=call.amd_status != "MACHINE")
            elif kind == "DialerAbandon":
                call.abandon_event = True
        elif name == "SoftHangupRequest" and h.get("Cause") == SOFTHANGUP_SHUTDOWN:
            call.link_lost = True  # Asterisk is stopping or restarting: the call is cut, not unanswered
        elif name == "AgentConnect" and call.agent_t is None:
            call.agent_t = now
            call.agent = h.get("Interface") or h.get("MemberName") or None
            self._note(call, agent_connected_at=call.at(now), agent=(call.agent or "")[:80] or None)

    def on_event(self, event: Any) -> None:
        """Domain events from the CTI bus."""
        if self._stopped:
            return
        if isinstance(event, CallAnswered):
            call = self.calls.get(event.linkedid)
            if call is not None and call.agent_t is None:
                call.agent_t = time.monotonic()
                self._note(call, agent_connected_at=call.at(call.agent_t), agent=event.agent[:80])
            if call is not None:
                call.agent = event.agent
        elif isinstance(event, CallEnded):
            call = self.calls.get(event.record.linkedid)
            if call is None:
                return
            if call.agent_t is not None and call.agent:
                talk = event.record.talk_s or max(0.0, time.monotonic() - call.agent_t)
                self._wraps[call.agent] = (call.campaign_id, talk, time.monotonic())
            self._finish(call)
        elif isinstance(event, AgentStateChanged):
            self._wake_loops_of(event.queues)
            pending = self._wraps.pop(event.agent, None) if event.state is not AgentState.wrap_up else None
            if pending is not None:
                campaign_id, talk, ended = pending
                loop = self.loops.get(campaign_id)
                if loop is not None:
                    loop.stats.call_finished(talk, max(0.0, time.monotonic() - ended))

    def _wake_loops_of(self, queues: tuple[str, ...]) -> None:
        for loop in self.loops.values():
            if loop.queue is None or loop.queue in queues:
                loop.wake.set()

    def _is_trunk(self, channel: str) -> bool:
        return any(channel.startswith(t + "/") or channel.startswith(t + "-") for t in self._trunks())

    def _trunks(self) -> list[str]:
        return [f"PJSIP/{t}" for t in self.cti.settings.ami_trunks]

    def _resolve(self, call: LiveCall, live: bool) -> None:
        if call.resolved:
            return
        call.resolved = True
        loop = self.loops.get(call.campaign_id)
        if loop is not None:
            # answered by the network (a person or a machine): the connect rate some peers pace on
            loop.stats.dial_resolved(
                live, max(0.0, time.monotonic() - call.t0), answered=call.answered_t is not None
            )

    def _sweep(self) -> None:
        """Close calls Asterisk forgot: lost with the link (restart), or never heard of again."""
        link = self.cti.link
        mono = time.monotonic()
        if not link.ready:
            self._link_up_since = None
            for call in self.calls.values():
                call.link_lost = True
            return
        if self._link_up_since is None:
            self._link_up_since = mono
        settled = mono - self._link_up_since > LOST_CALL_GRACE_S  # the channel snapshot is in the tracker
        for call in list(self.calls.values()):
            if call.ending:
                continue
            known = call.channel_id in self.cti.tracker.calls
            if call.recovered and settled and known:
                self._adopt(call)
                continue
            gone = (call.link_lost or call.recovered) and settled
            stale = call.answered_t is None and mono - call.t0 > self.ring_s + STALE_RING_MARGIN_S
            if (gone or stale) and not known:
                call.link_lost = True
                self._finish(call)

    def _adopt(self, call: LiveCall) -> None:
        """A call from before the restart that Asterisk still carries: from now on its events decide. An
        agent leg in it means an agent took it while no engine was watching."""
        call.recovered = False
        if call.agent_t is not None:
            return
        tracker = self.cti.tracker
        for uid in tracker.calls[call.channel_id].legs:
            leg = tracker.legs.get(uid)
            if leg is not None and leg.endpoint in tracker.agents:
                call.agent_t = time.monotonic()
                call.agent = leg.endpoint
                self._note(call, agent_connected_at=call.at(call.agent_t), agent=leg.endpoint[:80])
                return

    # -- the attempt -----------------------------------------------------------------------------------------
    def _finish(self, call: LiveCall) -> None:
        if call.ending or self._stopped:
            return
        call.ending = True
        if not call.resolved:
            self._resolve(call, live=False)
        task = asyncio.get_running_loop().create_task(self._write(call))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, call: LiveCall) -> None:
        if call.for_agent and not call.dialled:
            await self._forget(call)  # the agent's phone never picked up: nobody was dialled
            return
        result = classify(call.signals())
        ended = call.at(time.monotonic())
        assert ended is not None
        agent_id = None
        if call.agent:
            info = self.cti.directory.get(call.agent)
            agent_id = info.user_id if info else None
        attempt = m.Attempt(
            lead_id=call.lead_id,
            e164=call.e164,
            started_at=call.started_at,
            result=result,
            answered_at=call.at(call.answered_t),
            agent_connected_at=call.at(call.agent_t),
            amd_machine=call.amd_status == "MACHINE",
            agent_id=agent_id,
            campaign_id=call.campaign_id,
        )
        try:
            async with self.db.session() as s:
                same_before = int(
                    await s.scalar(
                        select(func.count())
                        .select_from(LeadAttempt)
                        .where(LeadAttempt.lead_id == call.lead_id, LeadAttempt.result == result.value)
                    )
                    or 0
                )
                c = await s.get(Campaign, call.campaign_id)
                rs = await rule_set_named(s, c.rule_set) if c is not None else None
                await record_attempt(s, attempt, ended_at=ended)
                upd = next_for_lead(
                    result,
                    ended_at=ended,
                    rules=retry_rules(c.retry_rules if c is not None else None),
                    same_result_before=same_before,
                    current=call.lead_status,
                    drop_lockout_hours=rs.drop_lockout_hours if rs is not None else 0,
                )
                await s.execute(
                    update(Lead)
                    .where(Lead.id == call.lead_id)
                    .values(status=upd.status.value, next_attempt_at=upd.next_attempt_at)
                )
                if upd.callback_done:
                    await s.execute(
                        update(Callback)
                        .where(Callback.lead_id == call.lead_id, Callback.status == CallbackStatus.pending)
                        .values(status=CallbackStatus.done, closed_at=ended)
                    )
                # in the attempt's transaction: a restarted engine adopts the call, or finds it written
                await s.execute(delete(DialerCall).where(DialerCall.channel_id == call.channel_id))
                await s.commit()
            self.attempts_written += 1
        except Exception:
            log.exception("dialer: could not write the attempt of lead %s (%s)", call.lead_id, result)
        finally:
            self._release(call)
            loop = self.loops.get(call.campaign_id)
            if loop is not None:
                loop.abandon_loaded_at = -math.inf  # reload the abandon rate with this attempt

    def _release(self, call: LiveCall) -> None:
        self.calls.pop(call.channel_id, None)
        self.busy_leads.discard(call.lead_id)
        self.wake()  # a line, an agent or a lead is free

    async def _forget(self, call: LiveCall) -> None:
        """A call that dialled nobody: no attempt, its row goes, its lead is free again."""
        try:
            async with self.db.session() as s:
                await s.execute(delete(DialerCall).where(DialerCall.channel_id == call.channel_id))
                await s.commit()
        except Exception:
            log.exception("dialer: could not drop the row of call %s", call.channel_id)
        finally:
            self._release(call)

    def _note(self, call: LiveCall, **values: Any) -> None:
        """What a restarted engine must know of a call (answered, agent): kept on its row, off the event
        path (a lost note only makes an adopted call's times less precise)."""

        async def write() -> None:
            try:
                async with self.db.session() as s:
                    await s.execute(
                        update(DialerCall).where(DialerCall.channel_id == call.channel_id).values(**values)
                    )
                    await s.commit()
            except Exception:
                log.warning("dialer: could not note %s on call %s", sorted(values), call.channel_id)

        task = asyncio.get_running_loop().create_task(write())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _recover(self) -> None:
        """Adopt the calls a previous run left in flight: they keep their lead busy, their events are
        followed again, and the sweep closes those Asterisk no longer carries. Nothing is re-dialled."""
        async with self.db.session() as s:
            rows = (
                await s.execute(
                    select(DialerCall, Campaign.name, Campaign.script, Lead.fields)
                    .join(Campaign, Campaign.id == DialerCall.campaign_id)
                    .join(Lead, Lead.id == DialerCall.lead_id)
                )
            ).all()
        now, mono = self.clock(), time.monotonic()
        for row, name, script, fields in rows:
            started = _aware(row.started_at)
            assert started is not None
            t0 = mono - max(0.0, (now - started).total_seconds())

            def mono_of(at: datetime | None, t0: float = t0, started: datetime = started) -> float | None:
                aware = _aware(at)
                return None if aware is None else t0 + max(0.0, (aware - started).total_seconds())

            call = LiveCall(
                channel_id=row.channel_id,
                campaign_id=row.campaign_id,
                campaign_name=name,
                script=script,
                lead_id=row.lead_id,
                lead_status=m.LeadStatus(row.lead_status),
                lead_fields={k: str(v) for k, v in (fields or {}).items()},
                e164=row.e164,
                started_at=started,
                t0=t0,
                answered_t=mono_of(row.answered_at),
                agent_t=mono_of(row.agent_connected_at),
                agent=row.agent,
                amd_status=row.amd_status,
                for_agent=row.for_agent,
                dialled=True,  # unknown: counted as an attempt rather than lost
                recovered=True,
                resolved=True,  # its dial delay is unknown: kept out of the pacing statistics
            )
            self.calls[call.channel_id] = call
            self.busy_leads.add(call.lead_id)
        if rows:
            log.info("dialer: adopted %d call(s) in flight from the previous run", len(rows))

    # -- preview: the agent sees the lead, then clicks ------------------------------------------------------
    def _ready_agent(self, interface: str) -> Any:
        agent = self.cti.tracker.agents.get(interface)
        return agent if agent is not None and agent.state is AgentState.ready else None

    def _expire_reservations(self) -> None:
        mono = time.monotonic()
        for lead_id in [k for k, r in self.reservations.items() if r.until <= mono]:
            del self.reservations[lead_id]
        for key in [k for k, until in self._skipped.items() if until <= mono]:
            del self._skipped[key]

    async def preview_next(self, user_id: int, interface: str) -> dict[str, Any] | None:
        """The lead this ready agent should see next, reserved for them (the one they already hold, if
        any): due callbacks first, theirs before anyone's; None when there is nothing to preview."""
        self._expire_reservations()
        agent = self._ready_agent(interface)
        if agent is None:
            return None
        now = self.clock()
        async with self.db.session() as s:
            held = next((r for r in self.reservations.values() if r.user_id == user_id), None)
            if held is not None:
                c = await s.get(Campaign, held.campaign_id)
                lead = await load_lead(s, held.lead_id)
                if c is not None and lead is not None and _previewing(c):
                    held.until = time.monotonic() + PREVIEW_HOLD_S
                    return self._preview_view(c, lead, held)
                self.reservations.pop(held.lead_id, None)
            campaigns = await s.execute(
                select(Campaign, Queue.name)
                .join(Queue, Queue.id == Campaign.queue_id)
                .where(Campaign.state == CampaignState.running, Campaign.dial_mode == DialMode.preview)
                .order_by(Campaign.id)
            )
            for c, queue in campaigns.all():
                if queue not in agent.queues:
                    continue
                rs = await rule_set_named(s, c.rule_set)
                if rs is None:
                    continue
                skipped = {lead for (user, lead) in self._skipped if user == user_id}
                found = await self._candidates(s, c, rs, now, 5, {user_id}, exclude=skipped, guaranteed=True)
                # awaits above: another agent may have reserved one of them meanwhile
                sel = next((x for x in found if x.lead.id not in self.reservations), None)
                if sel is None or sel.lead.id in self.busy_leads:
                    continue
                held = Reservation(
                    sel.lead.id, c.id, user_id, sel.number.e164, time.monotonic() + PREVIEW_HOLD_S
                )
                self.reservations[sel.lead.id] = held
                return self._preview_view(c, sel.lead, held)
        return None

    def _preview_view(self, c: Campaign, lead: m.Lead, held: Reservation) -> dict[str, Any]:
        fields = dict(lead.fields)
        parsed = try_parse(held.e164, self.cti.settings.default_region)
        if parsed is None:
            display = held.e164
        elif parsed.region == self.cti.settings.default_region:
            display = parsed.national()
        else:
            display = parsed.international()
        callback = lead.callback if lead.status is m.LeadStatus.CALLBACK else None
        return {
            "lead_id": lead.id,
            "campaign": {"id": c.id, "name": c.name, "script": c.script},
            "name": _lead_name(fields),
            "number": held.e164,
            "number_display": display,
            "fields": fields,
            "attempts": lead.attempts,
            "callback": None
            if callback is None
            else {"due_at": callback.at.isoformat(), "agent_only": callback.agent_id is not None},
            "reserved_for_s": round(max(0.0, held.until - time.monotonic())),
        }

    async def preview_dial(self, user_id: int, interface: str, lead_id: int) -> str:
        """Dial the lead the agent holds, agent's phone first. The rules are checked again at the click:
        the window may have closed, a cap been reached or the number gone on a do-not-call list since
        it was shown. Returns the call's ChannelId (its Linkedid)."""
        self._expire_reservations()
        held = self.reservations.get(lead_id)
        if held is None or held.user_id != user_id:
            raise PreviewError(
                409, "this lead is not held for you (expired, skipped or dialled): ask for the next"
            )
        if self._ready_agent(interface) is None:
            raise PreviewError(409, "be ready before dialling")
        if not self.cti.link.ready:
            raise PreviewError(503, "the PBX is unavailable")
        now = self.clock()
        async with self.db.session() as s:
            c = await s.get(Campaign, held.campaign_id)
            lead = await load_lead(s, lead_id)
            if c is None or lead is None or not _previewing(c):
                self.reservations.pop(lead_id, None)
                raise PreviewError(409, "the campaign is not running in preview any more")
            rs = await rule_set_named(s, c.rule_set)
            queue = await s.scalar(select(Queue.name).where(Queue.id == c.queue_id))
            number = next((n for n in lead.numbers if n.e164 == held.e164), None)
            if rs is None or queue is None or number is None:
                self.reservations.pop(lead_id, None)
                raise PreviewError(409, "the campaign has no rule set or queue, or the number left the lead")
            reasons = []
            if lead.status not in m.DIALABLE_STATUSES:
                reasons.append(f"lead {lead.status.value}")
            if await dnc_numbers(s, [number.e164], c.id):
                reasons.append("do_not_call")
            history = await load_history(s, [lead], since=now - _lookback(rs))
            verdict = check(lead, number, history, rs, now, agent_guaranteed=True, find_next=False)
            reasons.extend(r.value for r in verdict.reasons)
            if reasons:
                self.reservations.pop(lead_id, None)
                raise PreviewError(409, "not dialable now: " + ", ".join(reasons))
            campaign = _campaign_facts(c, rs, queue)
        if self.reservations.get(lead_id) is not held:
            raise PreviewError(409, "this lead is not held for you any more")
        del self.reservations[lead_id]
        call = await self._originate(
            campaign, lead, number.e164, now, loop=self.loops.get(c.id), for_agent=interface
        )
        if call is None:
            raise PreviewError(503, "the call could not be placed")
        return call.channel_id

    def preview_skip(self, user_id: int, lead_id: int) -> bool:
        """Give the lead back; the same agent is not shown it again for a while. False: not theirs."""
        held = self.reservations.get(lead_id)
        if held is None or held.user_id != user_id:
            return False
        del self.reservations[lead_id]
        self._skipped[(user_id, lead_id)] = time.monotonic() + PREVIEW_SKIP_S
        return True

    # -- screen-pop and monitor ------------------------------------------------------------------------------
    def campaign_of(self, linkedid: str) -> int | None:
        """The campaign of a call in flight (its recording keeps that campaign's retention)."""
        call = self.calls.get(linkedid)
        return call.campaign_id if call is not None else None

    def pop_fields(self, linkedid: str) -> dict[str, Any] | None:
        call = self.calls.get(linkedid)
        if call is None:
            return None
        return {
            "dialer": {
                "campaign_id": call.campaign_id,
                "campaign": call.campaign_name,
                "script": call.script,
                "lead_id": call.lead_id,
                "number": call.e164,
                "fields": call.lead_fields,
            }
        }

    def live_view(self, campaign_id: int) -> dict[str, Any]:
        loop = self.loops.get(campaign_id)
        mine = [c for c in self.calls.values() if c.campaign_id == campaign_id]
        agents = dict(loop.last_agents) if loop else {}
        logged_in = sum(n for state, n in agents.items() if state not in ("paused", "logged_out"))
        lines = sum(1 for c in mine if not c.ending)
        return {
            "running": bool(loop and loop.active),
            "calls_in_flight": sum(1 for c in mine if c.answered_t is None and not c.ending),
            "waiting_for_agent": sum(1 for c in mine if c.waiting and not c.ending),
            "connected": sum(1 for c in mine if c.agent_t is not None and not c.ending),
            "dial_level": round(lines / logged_in, 3) if logged_in else None,
            "agents": agents,
            "originated_since_start": loop.originated if loop else 0,
            "answer_rate": loop.stats.answer_rate if loop else None,
            "decisions": list(loop.decisions)[-20:] if loop else [],
        }


async def campaign_abandons(
    s: Any, campaign_id: int, rs: RuleSet, now: datetime
) -> tuple[AbandonStats, AbandonStats]:
    """The campaign's abandon rate today (the rule set's reference zone) and over its period."""
    return _abandons_by_period(await _abandon_history(s, campaign_id, rs, now), rs, now)


_ONE_DAY: dict[str, Any] = {"abandon_period_days": 1}


def _abandons_by_period(
    history: list[m.Attempt], rs: RuleSet, now: datetime
) -> tuple[AbandonStats, AbandonStats]:
    today_rs = clone_rule_set(rs, rs.name, {"abandon_period_kind": "calendar_days"} | _ONE_DAY)
    return abandon_stats(history, today_rs, now), abandon_stats(history, rs, now)


async def _abandon_history(s: Any, campaign_id: int, rs: RuleSet, now: datetime) -> list[m.Attempt]:
    """The campaign's answered (or AMD-hung-up) attempts of the rule set's period and the day before."""
    since = now - timedelta(days=rs.abandon_period_days + 1)
    rows = await s.execute(
        select(
            LeadAttempt.lead_id,
            LeadAttempt.e164,
            LeadAttempt.started_at,
            LeadAttempt.result,
            LeadAttempt.answered_at,
            LeadAttempt.agent_connected_at,
            LeadAttempt.amd_machine,
        ).where(
            LeadAttempt.campaign_id == campaign_id,
            LeadAttempt.started_at >= since,
            or_(LeadAttempt.answered_at.is_not(None), LeadAttempt.amd_machine.is_(True)),
        )
    )
    return [
        m.Attempt(
            lead_id=r.lead_id,
            e164=r.e164,
            started_at=_aware(r.started_at),
            result=m.AttemptResult(r.result),
            answered_at=_aware(r.answered_at),
            agent_connected_at=_aware(r.agent_connected_at),
            amd_machine=r.amd_machine,
        )
        for r in rows
    ]


def _campaign_facts(c: Campaign, rs: RuleSet, queue: str) -> dict[str, Any]:
    """What an originate needs of its campaign, read once per tick (no ORM object outlives its session)."""
    sound = ""
    if c.machine_message:
        try:
            sound = sound_name(c.machine_message)
        except MessageError:  # stored before validation existed, or by hand: the abandon message instead
            log.warning("dialer: campaign %s: unusable machine message, the abandon message plays", c.id)
    return {
        "id": c.id,
        "name": c.name,
        "script": c.script,
        "caller_id": c.caller_id,
        "callback_number": c.callback_number or c.caller_id,
        "machine_sound": sound,
        "abandon_sound": abandon_sound(c),
        "amd": c.amd_enabled,
        "machine_action": c.amd_machine_action.value,
        "queue": queue,
        "abandon_s": max(1, math.ceil(rs.abandon_after_seconds)),
        "recording": c.recording_policy,
        "recording_sound": _recording_sound(c),
    }


def _recording_sound(c: Campaign) -> str:
    if not c.recording_announcement:
        return ""
    try:
        return sound_name(c.recording_announcement)
    except MessageError:
        log.warning("dialer: campaign %s: unusable recording announcement, none played", c.id)
        return ""


def _previewing(c: Campaign) -> bool:
    return c.state is CampaignState.running and c.dial_mode is DialMode.preview


def _lead_name(fields: dict[str, str]) -> str | None:
    """What the preview card titles the lead with: the person, else the company."""
    person = " ".join(v for v in (fields.get("first_name"), fields.get("last_name")) if v)
    return person or fields.get("company") or None


def _without_numbers(leads: list[m.Lead], blocked: set[str]) -> list[m.Lead]:
    """The leads with their blocked numbers taken out (a lead left with none is dropped)."""
    if not blocked:
        return leads
    out = []
    for lead in leads:
        numbers = tuple(n for n in lead.numbers if n.e164 not in blocked)
        if len(numbers) == len(lead.numbers):
            out.append(lead)
        elif numbers:
            out.append(dataclasses.replace(lead, numbers=numbers))
    return out


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive: they were stored in UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _lookback(rs: RuleSet) -> timedelta:
    """History that can block a dial: the attempts period, the refusal cool-off, the drop lockout."""
    return timedelta(
        days=max(1, rs.attempts_period_days, rs.refusal_cooloff_days, math.ceil(rs.drop_lockout_hours / 24))
    )
