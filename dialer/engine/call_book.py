"""The dialer's call book: every call the engine placed, from before its Originate until its attempt. Pure.

It is fed `(event, now)`: raw AMI events as the CTI parses them (`on_ami`), domain events of the CTI bus
(`on_bus`), the expiry of a timer it asked for (`timer_expired`), the outcome of an Originate
(`originate_refused`, `originate_lost`) and the link's view of the PBX (`sweep`). It answers with effects as
data, which the engine's shells carry out: note a fact on the call's row, feed the pacing statistics,
schedule a timer, write (or drop) the attempt, wake the campaign loops. No I/O, no clock, no asyncio:
`now` is a monotonic time in seconds given by the caller.

Outcomes come from channel events, never from OriginateResponse: DialEnd and Hangup of the trunk leg
(Linkedid = our ChannelId), the AMDResult / DialerAbandon UserEvents of `[plateau-dialer-answered]`,
AgentConnect, and the bus's CallAnswered / CallEnded.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from cti.ami_wire import AmiEvent
from cti.events import AgentState, AgentStateChanged, CallAnswered, CallEnded
from cti.tracker import SOFTHANGUP_SHUTDOWN
from dialer import leads_model as m
from dialer.outcomes import CallSignals, classify
from dialer.pacing import AbandonMeasure, Observation, PacingStats

LOST_CALL_GRACE_S = 3.0  # after the link is back, a call Asterisk no longer knows is over
STALE_RING_MARGIN_S = 30.0  # an unanswered call never heard of again (lost event) is closed after this
FINISH_DELAY_S = 0.3  # the originated half hung up: let the trunk leg's Hangup land before writing
_FOLLOWED = frozenset({"DialBegin", "DialEnd", "Hangup", "UserEvent", "AgentConnect", "SoftHangupRequest"})


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


# -- effects: what the shells do for the book ------------------------------------------------------------
@dataclass(frozen=True)
class NoteCall:
    """Keep facts a restarted engine must know (answered, agent) on the call's `dialer_calls` row."""

    channel_id: str
    values: Mapping[str, Any]


@dataclass(frozen=True)
class DialResolved:
    """The dial stopped ringing: feed the campaign's pacing statistics."""

    campaign_id: int
    live: bool
    delay_s: float
    answered: bool


@dataclass(frozen=True)
class WrapMeasured:
    """An agent left the wrap-up of one of the campaign's calls: its talk and wrap-up times."""

    campaign_id: int
    talk_s: float
    wrap_s: float


@dataclass(frozen=True)
class ScheduleTimer:
    """Call `timer_expired(call, now)` after `delay_s`."""

    call: LiveCall
    delay_s: float


@dataclass(frozen=True)
class WriteAttempt:
    """The call is over: write its attempt (or drop its row when it dialled nobody), then free its lead."""

    call: LiveCall


@dataclass(frozen=True)
class ForgetCall:
    """The call dialled nobody: no attempt, its row goes, its lead is free again."""

    call: LiveCall


@dataclass(frozen=True)
class WakeQueues:
    """Agents of these queues changed state: their campaign loops look now."""

    queues: tuple[str, ...]


Effect = NoteCall | DialResolved | WrapMeasured | ScheduleTimer | WriteAttempt | ForgetCall | WakeQueues


class AgentView(Protocol):
    """What the book reads of a tracked agent."""

    endpoint: str
    state: AgentState
    since: float  # wall clock
    queues: Mapping[str, Any]


@dataclass(frozen=True)
class PacingInputs:
    """What a campaign loop knows besides the calls and agents: its statistics and rule set's limits."""

    campaign_id: int
    stats: PacingStats
    abandon_today: AbandonMeasure = field(default_factory=AbandonMeasure)
    abandon_period: AbandonMeasure = field(default_factory=AbandonMeasure)
    abandon_24h: AbandonMeasure | None = None
    abandon_limit_percent: float | None = None
    abandon_after_seconds: float = 2.0
    max_channels: int | None = None


class CallBook:
    """The calls in flight, their busy leads, and the wrap-ups the pacing waits to measure."""

    def __init__(self, trunks: Iterable[str] = ()) -> None:
        self.trunks = [f"PJSIP/{t}" for t in trunks]
        self.calls: dict[str, LiveCall] = {}
        self.busy_leads: set[int] = set()
        self.wraps: dict[str, tuple[int, float, float]] = {}  # agent → (campaign, talk s, ended at)
        self.link_up_since: float | None = None
        self.stopped = False  # the bus has no unsubscribe: its events are ignored from then on

    # -- the calls -----------------------------------------------------------------------------------------
    def add(self, call: LiveCall) -> None:
        """Claimed before any await: neither a concurrent tick nor an adopted row dials the lead again."""
        self.calls[call.channel_id] = call
        self.busy_leads.add(call.lead_id)

    def release(self, call: LiveCall) -> None:
        self.calls.pop(call.channel_id, None)
        self.busy_leads.discard(call.lead_id)

    def stop(self) -> None:
        self.stopped = True

    def targets(self) -> set[str]:
        """Agents an agent-first call is ringing or connected to: not free for another call."""
        return {c.for_agent for c in self.calls.values() if c.for_agent and not c.ending}

    def of_campaign(self, campaign_id: int) -> list[LiveCall]:
        return [c for c in self.calls.values() if c.campaign_id == campaign_id]

    # -- events --------------------------------------------------------------------------------------------
    def on_ami(self, ev: AmiEvent, now: float) -> list[Effect]:
        """A raw AMI event (before the tracker)."""
        name = ev.name
        if self.stopped or name not in _FOLLOWED:
            return []
        h = ev.headers
        call = self.calls.get(h.get("Linkedid", "")) or self.calls.get(h.get("DestLinkedid", ""))
        if call is None and name == "UserEvent":
            call = self.calls.get(h.get("ChannelId", ""))
        if call is None:
            return []
        out: list[Effect] = []
        if name == "DialBegin" and self._is_trunk(h.get("DestChannel", "")):
            call.dialled = True
        elif name == "DialEnd" and self._is_trunk(h.get("DestChannel", "")):
            status = h.get("DialStatus", "")
            call.dial_status = status
            call.dialled = True
            if status == "ANSWER" and call.answered_t is None:
                call.answered_t = now
                out.append(NoteCall(call.channel_id, {"answered_at": call.at(now)}))
                if not call.amd:
                    out += self._resolve(call, now, live=True)
            elif status != "ANSWER":
                out += self._resolve(call, now, live=False)
        elif name == "Hangup":
            if self._is_trunk(h.get("Channel", "")):
                with contextlib.suppress(ValueError):
                    call.hangup_cause = int(h.get("Cause", ""))
            if h.get("Uniqueid") == call.channel_id:
                out.append(ScheduleTimer(call, FINISH_DELAY_S))  # the originated half is gone
        elif name == "UserEvent":
            kind = h.get("UserEvent")
            if kind == "AMDResult":
                call.amd_status = h.get("AMDStatus") or None
                out.append(NoteCall(call.channel_id, {"amd_status": (call.amd_status or "")[:16] or None}))
                out += self._resolve(call, now, live=call.amd_status != "MACHINE")
            elif kind == "DialerAbandon":
                call.abandon_event = True
        elif name == "SoftHangupRequest" and h.get("Cause") == SOFTHANGUP_SHUTDOWN:
            call.link_lost = True  # Asterisk is stopping or restarting: the call is cut, not unanswered
        elif name == "AgentConnect" and call.agent_t is None:
            call.agent_t = now
            call.agent = h.get("Interface") or h.get("MemberName") or None
            out.append(
                NoteCall(
                    call.channel_id,
                    {"agent_connected_at": call.at(now), "agent": (call.agent or "")[:80] or None},
                )
            )
        return out

    def on_bus(self, event: Any, now: float) -> list[Effect]:
        """A domain event of the CTI bus."""
        if self.stopped:
            return []
        if isinstance(event, CallAnswered):
            call = self.calls.get(event.linkedid)
            out: list[Effect] = []
            if call is not None and call.agent_t is None:
                call.agent_t = now
                out.append(
                    NoteCall(call.channel_id, {"agent_connected_at": call.at(now), "agent": event.agent[:80]})
                )
            if call is not None:
                call.agent = event.agent
            return out
        if isinstance(event, CallEnded):
            call = self.calls.get(event.record.linkedid)
            if call is None:
                return []
            if call.agent_t is not None and call.agent:
                talk = event.record.talk_s or max(0.0, now - call.agent_t)
                self.wraps[call.agent] = (call.campaign_id, talk, now)
            return self.finish(call, now)
        if isinstance(event, AgentStateChanged):
            out = [WakeQueues(tuple(event.queues))]
            pending = self.wraps.pop(event.agent, None) if event.state is not AgentState.wrap_up else None
            if pending is not None:
                campaign_id, talk, ended = pending
                out.append(WrapMeasured(campaign_id, talk, max(0.0, now - ended)))
            return out
        return []

    def timer_expired(self, call: LiveCall, now: float) -> list[Effect]:
        return self.finish(call, now)

    # -- the Originate's own outcome -----------------------------------------------------------------------
    def originate_lost(self, call: LiveCall) -> None:
        """The link went with the action: maybe placed, maybe not; closed once Asterisk no longer knows it."""
        call.link_lost = True

    def originate_refused(self, call: LiveCall, message: str, now: float) -> list[Effect]:
        if "shutting down" in message.lower():
            # refused before any channel existed (Asterisk stopping, its hang-ups freed an agent): nobody
            # was dialled, so no attempt counts against the lead; it is dialled after the restart
            return [ForgetCall(call)]
        call.dial_status = "CHANUNAVAIL"
        return self.finish(call, now)

    # -- the link's view -----------------------------------------------------------------------------------
    def sweep(
        self,
        now: float,
        link_ready: bool,
        carried: Mapping[str, str | None],
        ring_s: int,
        on_link: Callable[[str], bool] | None = None,
    ) -> list[Effect]:
        """Close calls Asterisk forgot: lost with the link (restart), or never heard of again.

        `carried`: the calls the tracker knows, by Linkedid, with the agent endpoint on one of their legs.
        `on_link`: with several servers, whether a call's own server's link is up here (else it waits)."""
        if not link_ready:
            self.link_up_since = None
            for call in self.calls.values():
                call.link_lost = True
            return []
        if self.link_up_since is None:
            self.link_up_since = now
        settled = now - self.link_up_since > LOST_CALL_GRACE_S  # the channel snapshot is in the tracker
        out: list[Effect] = []
        for call in list(self.calls.values()):
            if call.ending:
                continue
            if on_link is not None and not on_link(call.channel_id):
                call.link_lost = True  # its server's link is down here: nothing known of it yet
                continue
            known = call.channel_id in carried
            if call.recovered and settled and known:
                out += self._adopt(call, carried[call.channel_id], now)
                continue
            gone = (call.link_lost or call.recovered) and settled
            stale = call.answered_t is None and now - call.t0 > ring_s + STALE_RING_MARGIN_S
            if (gone or stale) and not known:
                call.link_lost = True
                out += self.finish(call, now)
        return out

    def _adopt(self, call: LiveCall, agent: str | None, now: float) -> list[Effect]:
        """A call from before the restart that Asterisk still carries: from now on its events decide. An
        agent leg in it means an agent took it while no engine was watching."""
        call.recovered = False
        if call.agent_t is not None or agent is None:
            return []
        call.agent_t = now
        call.agent = agent
        return [NoteCall(call.channel_id, {"agent_connected_at": call.at(now), "agent": agent[:80]})]

    # -- the end -------------------------------------------------------------------------------------------
    def finish(self, call: LiveCall, now: float) -> list[Effect]:
        if call.ending or self.stopped:
            return []
        call.ending = True
        out = [] if call.resolved else self._resolve(call, now, live=False)
        return [*out, WriteAttempt(call)]

    def _resolve(self, call: LiveCall, now: float, live: bool) -> list[Effect]:
        if call.resolved:
            return []
        call.resolved = True
        # answered by the network (a person or a machine): the connect rate some peers pace on
        return [DialResolved(call.campaign_id, live, max(0.0, now - call.t0), call.answered_t is not None)]

    def _is_trunk(self, channel: str) -> bool:
        return any(channel.startswith(t + "/") or channel.startswith(t + "-") for t in self.trunks)

    # -- what the pacing and the monitor see ---------------------------------------------------------------
    def observe(
        self, pacing: PacingInputs, agents: Sequence[AgentView], wall: float, now: float
    ) -> tuple[Observation, dict[str, int]]:
        """The pacing policy's inputs for one campaign, and its agents by state (for the monitor).

        `agents`: the campaign queue's agents; `wall`: the wall clock their `since` is on."""
        ready = paused = 0
        on_call: list[float] = []
        in_wrap: list[float] = []
        in_wrap_talk: list[float | None] = []
        states: Counter[str] = Counter()
        targets = self.targets()
        for a in agents:
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
                wrapped = self.wraps.get(a.endpoint)
                mine = wrapped is not None and wrapped[0] == pacing.campaign_id
                in_wrap_talk.append(wrapped[1] if wrapped is not None and mine else None)
            elif a.state is AgentState.paused:
                paused += 1
        mine = self.of_campaign(pacing.campaign_id)
        # agent-first calls already hold their agent (counted above): not lines waiting for one
        ringing = [now - call.t0 for call in mine if call.answered_t is None and call.for_agent is None]
        waiting = sum(1 for call in mine if call.waiting)
        st = pacing.stats
        # Leaving agents (`on_call_leaving`, `in_wrap_leaving`) stay unknown here: Asterisk pauses an
        # agent at once, and a paused agent is counted in `agents_paused` from that moment.
        obs = Observation(
            now=now,
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
            abandon_today=pacing.abandon_today,
            abandon_period=pacing.abandon_period,
            abandon_24h=pacing.abandon_24h,
            abandon_limit_percent=pacing.abandon_limit_percent,
            abandon_after_seconds=pacing.abandon_after_seconds,
            max_channels=pacing.max_channels,
        )
        return obs, dict(states)

    def counts(self, campaign_id: int) -> dict[str, int]:
        """The campaign's calls by phase, for the monitor."""
        mine = [c for c in self.of_campaign(campaign_id) if not c.ending]
        return {
            "lines": len(mine),
            "calls_in_flight": sum(1 for c in mine if c.answered_t is None),
            "waiting_for_agent": sum(1 for c in mine if c.waiting),
            "connected": sum(1 for c in mine if c.agent_t is not None),
        }


def attempt_of(call: LiveCall, ended_t: float, agent_id: int | None) -> tuple[m.Attempt, datetime]:
    """The attempt a finished call writes, and when it ended on the engine's clock."""
    ended = call.at(ended_t)
    assert ended is not None
    attempt = m.Attempt(
        lead_id=call.lead_id,
        e164=call.e164,
        started_at=call.started_at,
        result=classify(call.signals()),
        answered_at=call.at(call.answered_t),
        agent_connected_at=call.at(call.agent_t),
        amd_machine=call.amd_status == "MACHINE",
        agent_id=agent_id,
        campaign_id=call.campaign_id,
    )
    return attempt, ended
