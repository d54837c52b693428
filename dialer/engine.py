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
import logging
import math
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update

from app.db import Database
from app.models import Queue
from cti.ami import AmiError, AmiUnavailable
from cti.ami_wire import AmiEvent
from cti.events import AgentState, AgentStateChanged, CallAnswered, CallEnded
from cti.tracker import SOFTHANGUP_SHUTDOWN
from dialer import leads_model as m
from dialer.compliance import AbandonStats, RuleSet, abandon_stats, clone_rule_set
from dialer.leads import select_leads
from dialer.models import (
    Callback,
    CallbackStatus,
    Campaign,
    CampaignList,
    CampaignState,
    DialMode,
    Lead,
    LeadAttempt,
)
from dialer.outcomes import CallSignals, classify, next_for_lead, retry_rules
from dialer.pacing import AbandonMeasure, Decision, Observation, PacingStats, Policy, make_policy
from dialer.store import load_history, load_leads, record_attempt, rule_set_named

log = logging.getLogger(__name__)

DIAL_CONTEXT = "plateau-dialer-dial"
ANSWERED_CONTEXT = "plateau-dialer-answered"
POLICY_OF_MODE = {
    DialMode.preview: "preview",
    DialMode.progressive: "progressive",
    DialMode.predictive: "plateau",
}
DECISIONS_KEPT = 120  # two minutes of decisions per campaign for the monitor
ABANDON_REFRESH_S = 10.0
LOST_CALL_GRACE_S = 3.0  # after the link is back, a call Asterisk no longer knows is over
STALE_RING_MARGIN_S = 30.0  # an unanswered call never heard of again (lost event) is closed after this


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

    def at(self, t: float | None) -> datetime | None:
        return None if t is None else self.started_at + timedelta(seconds=max(0.0, t - self.t0))

    @property
    def waiting(self) -> bool:
        """Answered by a person, not yet with an agent."""
        return self.answered_t is not None and self.agent_t is None and self.amd_status != "MACHINE"

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
    abandon_loaded_at: float = -math.inf
    last_agents: dict[str, int] = field(default_factory=dict)
    queue: str | None = None


class DialerService:
    """Starts and stops one `CampaignLoop` per running campaign; follows the calls they place."""

    def __init__(
        self,
        cti: Any,  # cti.service.CtiService (Any: the dialer must not import the web app's wiring)
        db: Database,
        *,
        clock: Callable[[], datetime] = utc_now,
        tick_s: float = 1.0,
        poll_s: float = 0.5,
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
        self._wake = asyncio.Event()

    # -- life cycle ----------------------------------------------------------------------------------------
    async def start(self) -> None:
        self.cti.raw_listeners.append(self.on_ami)
        self.cti.bus.subscribe(self.on_event)
        self.cti.screenpop.extras.append(self.pop_fields)
        self._task = asyncio.create_task(self._supervise(), name="dialer-supervisor")

    async def stop(self) -> None:
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

    def wake(self) -> None:
        """A campaign changed state: look now instead of at the next poll."""
        self._wake.set()

    async def _supervise(self) -> None:
        while True:
            try:
                await self._sync_loops()
            except Exception:
                log.exception("dialer: campaign poll failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)

    async def _sync_loops(self) -> None:
        async with self.db.session() as s:
            rows = (await s.execute(select(Campaign.id, Campaign.state, Campaign.dial_mode))).all()
        running = {cid: mode for cid, state, mode in rows if state is CampaignState.running}
        for cid, loop in self.loops.items():
            if cid not in running:
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
            started = time.monotonic()
            try:
                await self._tick(loop)
            except Exception:
                log.exception("dialer: campaign %s tick failed", loop.campaign_id)
            await asyncio.sleep(max(0.05, self.tick_s - (time.monotonic() - started)))

    # -- one tick ------------------------------------------------------------------------------------------
    async def _tick(self, loop: CampaignLoop) -> None:
        self._sweep()
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
            link_up = self.cti.link.ready
            selections: list[Any] = []
            if calls > 0 and link_up:
                list_ids = list(
                    await s.scalars(select(CampaignList.list_id).where(CampaignList.campaign_id == c.id))
                )
                leads = [
                    lead
                    for lead in await load_leads(s, list_ids, limit=max(100, calls * 20))
                    if lead.id not in self.busy_leads
                ]
                history = await load_history(s, leads, since=now - _lookback(rs))
                selections = select_leads(
                    leads,
                    history,
                    rs,
                    now,
                    calls,
                    available_agents=self._ready_agent_ids(queue),
                    callback_fallback=timedelta(minutes=c.callback_fallback_minutes),
                )
            self._log(
                loop,
                now,
                decision,
                {"allowed": calls, "selected": len(selections), "link_up": link_up},
            )
            campaign = {
                "id": c.id,
                "name": c.name,
                "script": c.script,
                "caller_id": c.caller_id,
                "amd": c.amd_enabled,
                "machine_action": c.amd_machine_action.value,
                "queue": queue,
                "abandon_s": max(1, math.ceil(rs.abandon_after_seconds)),
            }
        for sel in selections:
            if not loop.active or not self.cti.link.ready:
                break  # paused/stopped during this tick, or the link went down: not one more call
            await self._originate(loop, campaign, sel, now)

    def _cap_ratio(self, calls: int, c: Campaign, obs: Observation) -> int:
        """Predictive: never more lines than `dial_ratio` per agent, counting calls already up."""
        if c.dial_mode is not DialMode.predictive or c.dial_ratio < 1:
            return calls
        lines = math.floor(c.dial_ratio * obs.agents_logged_in)
        return max(0, min(calls, lines - len(obs.ringing) - obs.waiting - len(obs.on_call)))

    def _agents_of(self, queue: str) -> list[Any]:
        return [a for a in self.cti.tracker.agents.values() if queue in a.queues]

    def _ready_agent_ids(self, queue: str) -> set[int]:
        out = set()
        for a in self._agents_of(queue):
            info = self.cti.directory.get(a.endpoint) if a.state is AgentState.ready else None
            if info is not None and info.user_id is not None:
                out.add(info.user_id)
        return out

    def _observe(self, loop: CampaignLoop, c: Campaign, rs: RuleSet, queue: str) -> Observation:
        wall = time.time()
        mono = time.monotonic()
        ready = paused = 0
        on_call: list[float] = []
        in_wrap: list[float] = []
        states: Counter[str] = Counter()
        for a in self._agents_of(queue):
            states[a.state.value] += 1
            elapsed = max(0.0, wall - a.since)
            if a.state is AgentState.ready:
                ready += 1
            elif a.state in (AgentState.on_call, AgentState.ringing):
                on_call.append(elapsed if a.state is AgentState.on_call else 0.0)
            elif a.state is AgentState.wrap_up:
                in_wrap.append(elapsed)
            elif a.state is AgentState.paused:
                paused += 1
        loop.last_agents = dict(states)
        mine = [call for call in self.calls.values() if call.campaign_id == c.id]
        ringing = [mono - call.t0 for call in mine if call.answered_t is None]
        waiting = sum(1 for call in mine if call.waiting)
        st = loop.stats
        return Observation(
            now=mono,
            agents_ready=ready,
            on_call=on_call,
            in_wrap=in_wrap,
            agents_paused=paused,
            ringing=ringing,
            waiting=waiting,
            dials_sampled=st.dials_sampled,
            answer_rate=st.answer_rate,
            human_delays=st.human_delays.sorted,
            other_delays=st.other_delays.sorted,
            handle_times=st.handle.sorted,
            wrap_times=st.wrap.sorted,
            abandon_today=loop.abandon_today,
            abandon_period=loop.abandon_period,
            abandon_limit_percent=rs.max_abandon_rate_percent,
            abandon_after_seconds=rs.abandon_after_seconds,
            max_channels=c.max_channels,
        )

    async def _load_abandons(self, s: Any, loop: CampaignLoop, rs: RuleSet, now: datetime) -> None:
        today, period = await campaign_abandons(s, loop.campaign_id, rs, now)
        loop.abandon_period = AbandonMeasure(period.abandoned, period.live)
        loop.abandon_today = AbandonMeasure(today.abandoned, today.live)
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
    async def _originate(self, loop: CampaignLoop, campaign: dict[str, Any], sel: Any, now: datetime) -> None:
        lead: m.Lead = sel.lead
        channel_id = f"dial-{uuid.uuid4().hex}"
        call = LiveCall(
            channel_id=channel_id,
            campaign_id=campaign["id"],
            campaign_name=campaign["name"],
            script=campaign["script"],
            lead_id=lead.id,
            lead_status=lead.status,
            lead_fields=dict(lead.fields),
            e164=sel.number.e164,
            started_at=now,
            t0=time.monotonic(),
            amd=bool(campaign["amd"]),
        )
        # recorded before the action leaves: its events may arrive before Originate's response
        self.calls[channel_id] = call
        self.busy_leads.add(lead.id)
        loop.originated += 1
        caller_id = campaign["caller_id"]
        try:
            await self.cti.link.originate(
                channel=f"Local/{call.e164}@{DIAL_CONTEXT}/n",
                context=ANSWERED_CONTEXT,
                exten="s",
                channel_id=channel_id,
                caller_id=f"<{caller_id}>" if caller_id else None,
                variables={
                    "PLATEAU_QUEUE": campaign["queue"],
                    "PLATEAU_AMD": "1" if campaign["amd"] else "0",
                    "PLATEAU_ABANDON_S": str(campaign["abandon_s"]),
                    "PLATEAU_CHANNEL_ID": channel_id,
                    "PLATEAU_RING_S": str(self.ring_s),
                    "PLATEAU_NUMBER": call.e164,
                    "PLATEAU_MACHINE_ACTION": campaign["machine_action"],
                },
                timeout_ms=(self.ring_s + 10) * 1000,
            )
        except AmiUnavailable:
            # maybe placed, maybe not: never resent; the call is closed once Asterisk no longer knows it
            call.link_lost = True
        except AmiError as exc:
            log.warning("dialer: originate to lead %s refused: %s", lead.id, exc)
            call.dial_status = "CHANUNAVAIL"
            self._finish(call)

    # -- events --------------------------------------------------------------------------------------------
    def on_ami(self, ev: AmiEvent) -> None:
        """Raw AMI events (from CtiService.consume), before the tracker. No I/O here."""
        name = ev.name
        if name not in ("DialEnd", "Hangup", "UserEvent", "AgentConnect", "SoftHangupRequest"):
            return
        h = ev.headers
        call = self.calls.get(h.get("Linkedid", "")) or self.calls.get(h.get("DestLinkedid", ""))
        if call is None and name == "UserEvent":
            call = self.calls.get(h.get("ChannelId", ""))
        if call is None:
            return
        now = time.monotonic()
        if name == "DialEnd" and self._is_trunk(h.get("DestChannel", "")):
            status = h.get("DialStatus", "")
            call.dial_status = status
            if status == "ANSWER" and call.answered_t is None:
                call.answered_t = now
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
                self._resolve(call, live=call.amd_status != "MACHINE")
            elif kind == "DialerAbandon":
                call.abandon_event = True
        elif name == "SoftHangupRequest" and h.get("Cause") == SOFTHANGUP_SHUTDOWN:
            call.link_lost = True  # Asterisk is stopping or restarting: the call is cut, not unanswered
        elif name == "AgentConnect" and call.agent_t is None:
            call.agent_t = now
            call.agent = h.get("Interface") or h.get("MemberName") or None

    def on_event(self, event: Any) -> None:
        """Domain events from the CTI bus."""
        if isinstance(event, CallAnswered):
            call = self.calls.get(event.linkedid)
            if call is not None and call.agent_t is None:
                call.agent_t = time.monotonic()
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
        elif isinstance(event, AgentStateChanged) and event.state is not AgentState.wrap_up:
            pending = self._wraps.pop(event.agent, None)
            if pending is not None:
                campaign_id, talk, ended = pending
                loop = self.loops.get(campaign_id)
                if loop is not None:
                    loop.stats.call_finished(talk, max(0.0, time.monotonic() - ended))

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
            loop.stats.dial_resolved(live, max(0.0, time.monotonic() - call.t0))

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
        for call in list(self.calls.values()):
            if call.ending:
                continue
            gone = call.link_lost and mono - self._link_up_since > LOST_CALL_GRACE_S
            stale = call.answered_t is None and mono - call.t0 > self.ring_s + STALE_RING_MARGIN_S
            if (gone or stale) and call.channel_id not in self.cti.tracker.calls:
                call.link_lost = True
                self._finish(call)

    # -- the attempt -----------------------------------------------------------------------------------------
    def _finish(self, call: LiveCall) -> None:
        if call.ending:
            return
        call.ending = True
        if not call.resolved:
            self._resolve(call, live=False)
        task = asyncio.get_running_loop().create_task(self._write(call))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, call: LiveCall) -> None:
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
                await s.commit()
            self.attempts_written += 1
        except Exception:
            log.exception("dialer: could not write the attempt of lead %s (%s)", call.lead_id, result)
        finally:
            self.calls.pop(call.channel_id, None)
            self.busy_leads.discard(call.lead_id)
            loop = self.loops.get(call.campaign_id)
            if loop is not None:
                loop.abandon_loaded_at = -math.inf  # reload the abandon rate with this attempt

    # -- screen-pop and monitor ------------------------------------------------------------------------------
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
    history = [
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
    today_rs = clone_rule_set(rs, rs.name, {"abandon_period_kind": "calendar_days", "abandon_period_days": 1})
    return abandon_stats(history, today_rs, now), abandon_stats(history, rs, now)


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
