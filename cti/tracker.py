"""The call/agent/queue tracker: a pure state machine from AMI events to domain events. No I/O, no clock.

Legs are keyed by Uniqueid, calls by Linkedid. A call ends when its last leg hangs up; Asterisk may still
send AgentComplete, DialEnd or Cdr for it afterwards, so ended Linkedids are remembered (bounded) and late
events about them are ignored instead of resurrecting the call.

Agent state is derived, never stored twice: queue membership and pause come from app_queue's member
events, ringing/on-call from the phone's device state, wrap-up from the tracker itself between the end of
a call and the pause the control layer then applies (reason `wrapup`). Wrap-up shows while it lasts;
an agent who pauses for a reason of their own meanwhile ends it: that reason shows, the time is the pause's.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cti.ami_wire import AmiEvent
from cti.events import (
    AgentRingEnded,
    AgentRinging,
    AgentState,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallerId,
    CallHeld,
    CallLeftQueue,
    CallOffered,
    CallQueued,
    CallRecord,
    CallTransferred,
    Direction,
    DomainEvent,
    HeldPartyLeft,
    PhoneRegistration,
    QueueChanged,
    Snapshot,
    WrapUpStarted,
    endpoint_of,
)

WRAPUP_REASON = "wrapup"
_BUSY_CAUSES = frozenset({"17", "21"})  # user busy, call rejected
_CHANNEL_RINGING = "5"  # AST_STATE_RINGING: the phone is ringing
SOFTHANGUP_SHUTDOWN = "4"  # AST_SOFTHANGUP_SHUTDOWN, as SoftHangupRequest reports it on `core restart`
_RINGING = frozenset({"RINGING", "RINGINUSE", "6", "7"})
_BUSY = frozenset({"INUSE", "BUSY", "ONHOLD", "2", "3", "8"})
_STATUS_NAMES = {
    "0": "UNKNOWN",
    "1": "NOT_INUSE",
    "2": "INUSE",
    "3": "BUSY",
    "4": "INVALID",
    "5": "UNAVAILABLE",
    "6": "RINGING",
    "7": "RINGINUSE",
    "8": "ONHOLD",
}
_DIAL_OUTCOME = {
    "BUSY": "busy",
    "NOANSWER": "no_answer",
    "CONGESTION": "congestion",
    "CHANUNAVAIL": "failed",
    "CANCEL": "cancelled",
}
_CAUSE_OUTCOME = {
    17: "busy",
    18: "no_answer",
    19: "no_answer",
    21: "rejected",
    34: "congestion",
    38: "congestion",
    1: "failed",
    3: "failed",
}
_ENDED_MEMORY = 10_000


@dataclass
class _Leg:
    uniqueid: str
    linkedid: str
    channel: str
    endpoint: str
    caller: CallerId
    exten: str
    context: str
    created: float


@dataclass
class _Call:
    linkedid: str
    direction: Direction
    caller: CallerId
    called_number: str | None
    offered_at: float
    legs: set[str] = field(default_factory=set)
    queue: str | None = None
    queued_at: float | None = None
    left_queue_at: float | None = None
    abandoned: bool = False
    answered_at: float | None = None
    first_agent: str | None = None
    agent: str | None = None  # the agent currently on it
    agents_rung: list[str] = field(default_factory=list)
    ringing: dict[str, str] = field(default_factory=dict)  # agent leg uniqueid → agent endpoint
    hold_since: float | None = None
    hold_s: float = 0.0
    hangup_cause: int | None = None
    dial_status: str | None = None
    transfers: list[str] = field(default_factory=list)
    reached_trunk: bool = False
    cut_by_shutdown: bool = False  # Asterisk hung it up because it was stopping or restarting
    origin_answered_at: float | None = None  # the originated phone picked up (click-to-call, supervision)
    origin_leg: str | None = None  # the Uniqueid of an Originate's first leg (the phone it rings first)
    plateau_hold: bool = False  # held by Plateau's Redirect (not a phone's own hold)
    answer_pending: bool = False  # an agent picked up; AgentConnect follows QueueCallerLeave
    busy_legs: set[str] = field(default_factory=set)  # agent legs refused busy (486)


@dataclass
class _Agent:
    endpoint: str
    queues: dict[str, tuple[bool, str]] = field(default_factory=dict)  # queue → (paused, reason)
    device: str = "UNKNOWN"
    wrapup_linkedid: str | None = None
    linkedid: str | None = None
    state: AgentState = AgentState.logged_out
    reason: str | None = None
    since: float = 0.0
    seen_queues: tuple[str, ...] = ()
    registered: bool | None = None  # its phone: None until Asterisk says
    registered_since: float | None = None


class Tracker:
    def __init__(
        self,
        trunks: Iterable[str] = ("PJSIP/trunk",),
        is_agent: Callable[[str], bool] | None = None,
        wrapup: bool = True,
    ) -> None:
        self.trunks = frozenset(trunks)
        self._is_agent = is_agent or (lambda ep: ep.startswith("PJSIP/") and ep not in self.trunks)
        self.wrapup = wrapup
        self.legs: dict[str, _Leg] = {}
        self.calls: dict[str, _Call] = {}
        self.agents: dict[str, _Agent] = {}
        self.waiting: dict[str, dict[str, float]] = {}  # queue → linkedid → joined at
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._handlers = {n[4:]: getattr(self, n) for n in dir(self) if n.startswith("_on_")}

    # -- entry point ---------------------------------------------------------------------------------------
    def feed(self, ev: AmiEvent) -> list[DomainEvent]:
        handler = self._handlers.get(ev.name)
        if handler is None:
            return []
        out: list[DomainEvent] = []
        handler(ev, out)
        return out

    # -- channels ------------------------------------------------------------------------------------------
    def _leg_from(self, h: dict[str, str], prefix: str, at: float) -> _Leg:
        channel = h.get(prefix + "Channel", "")
        return _Leg(
            h.get(prefix + "Uniqueid", ""),
            h.get(prefix + "Linkedid", ""),
            channel,
            endpoint_of(channel),
            CallerId.from_ami(h.get(prefix + "CallerIDNum", ""), h.get(prefix + "CallerIDName", "")),
            h.get(prefix + "Exten", ""),
            h.get(prefix + "Context", ""),
            at,
        )

    def _add_leg(self, leg: _Leg, out: list[DomainEvent]) -> _Call | None:
        if not leg.uniqueid or not leg.linkedid or leg.linkedid in self._ended:
            return None
        self.legs.setdefault(leg.uniqueid, leg)
        call = self.calls.get(leg.linkedid)
        if call is None:
            inbound = leg.endpoint in self.trunks
            call = _Call(
                leg.linkedid,
                Direction.inbound if inbound else Direction.internal,
                leg.caller if inbound else CallerId(None, None, False),
                leg.exten if inbound and leg.exten not in ("", "s") else None,
                leg.created,
            )
            self.calls[leg.linkedid] = call
            if inbound:
                out.append(
                    CallOffered(call.linkedid, call.direction, call.caller, call.called_number, leg.created)
                )
        elif leg.endpoint in self.trunks and call.direction is not Direction.inbound:
            call.reached_trunk = True
            call.direction = Direction.outbound
        call.legs.add(leg.uniqueid)
        return call

    def _on_Newchannel(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        self._add_leg(self._leg_from(ev.headers, "", ev.ts), out)

    def _call_of(self, h: dict[str, str], prefix: str = "") -> _Call | None:
        return self.calls.get(h.get(prefix + "Linkedid", ""))

    def _on_Hangup(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        leg = self.legs.pop(ev.get("Uniqueid"), None)
        call = self._call_of(ev.headers)
        if leg is None or call is None:
            return
        call.legs.discard(leg.uniqueid)
        try:
            cause = int(ev.get("Cause", "0"))
        except ValueError:
            cause = 0
        if leg.uniqueid in call.ringing:  # rang and hung up without a DialEnd
            agent = call.ringing.pop(leg.uniqueid)
            out.append(AgentRingEnded(call.linkedid, agent, "cancel", ev.ts))
            self._refresh_agent(agent, ev.ts, out)
        if leg.endpoint in self.trunks or call.hangup_cause is None:
            call.hangup_cause = cause
        if (
            leg.uniqueid == call.origin_leg
            and call.origin_answered_at is None
            and call.dial_status is None
            and cause == 0
            and ev.get("ChannelState") == _CHANNEL_RINGING
        ):
            # an Originate's phone still ringing when its Timeout ran out: Asterisk hangs it up with no
            # cause and no DialEnd (and OriginateResponse's Reason is unreliable with chan_pjsip)
            call.dial_status = "NOANSWER"
        if not call.legs:
            self._end(call, ev.ts, out, None)
        elif call.plateau_hold:
            left = tuple(self.legs[u].channel for u in call.legs if u in self.legs)
            out.append(HeldPartyLeft(call.linkedid, left))

    def _end(self, call: _Call, at: float, out: list[DomainEvent], forced: str | None) -> None:
        self.calls.pop(call.linkedid, None)
        self._ended[call.linkedid] = None
        while len(self._ended) > _ENDED_MEMORY:
            self._ended.popitem(last=False)
        if call.answered_at is None and not call.reached_trunk and call.origin_answered_at is not None:
            call.answered_at = call.origin_answered_at  # a call between phones (supervision, internal)
        if call.hold_since is not None:
            call.hold_s += at - call.hold_since
        if call.queue and call.left_queue_at is None:
            self._leave_queue(call, "abandoned" if call.answered_at is None else "answered", at, out)
            if call.answered_at is None:
                call.abandoned = True
        for agent in call.ringing.values():
            out.append(AgentRingEnded(call.linkedid, agent, "cancel", at))
        call.ringing.clear()
        record = CallRecord(
            linkedid=call.linkedid,
            direction=call.direction,
            caller=call.caller,
            called_number=call.called_number,
            queue=call.queue,
            agent=call.first_agent,
            offered_at=call.offered_at,
            answered_at=call.answered_at,
            ended_at=at,
            wait_s=_wait(call, at),
            talk_s=(at - call.answered_at) - call.hold_s if call.answered_at else None,
            hold_s=round(call.hold_s, 3),
            outcome=forced or ("interrupted" if call.cut_by_shutdown else _outcome(call)),
            hangup_cause=call.hangup_cause,
            agents_rung=tuple(call.agents_rung),
            transfers=tuple(call.transfers),
            channel_id=call.linkedid if call.direction is Direction.outbound else None,
        )
        reached = tuple(dict.fromkeys([*call.agents_rung, *([call.agent] if call.agent else [])]))
        out.append(CallEnded(record, reached))
        for agent_ep in reached:
            agent = self.agents.get(agent_ep)
            if agent is not None and agent.linkedid == call.linkedid:
                self._release(agent, call, at, out, wrap=forced is None)

    def _release(
        self, agent: _Agent, call: _Call, at: float, out: list[DomainEvent], wrap: bool = True
    ) -> None:
        """The agent's part in the call is over (hung up, transferred away, or the call ended)."""
        agent.linkedid = None
        if (
            wrap
            and self.wrapup
            and call.answered_at is not None
            and agent.queues
            and agent.endpoint in (call.agent, call.first_agent)
        ):
            agent.wrapup_linkedid = call.linkedid
            out.append(WrapUpStarted(agent.endpoint, call.linkedid, at))
        self._refresh_agent(agent.endpoint, at, out)

    # -- dialing -------------------------------------------------------------------------------------------
    def _ring(
        self, call: _Call, agent_leg: _Leg, queue: str | None, at: float, out: list[DomainEvent]
    ) -> None:
        if agent_leg.uniqueid in call.ringing or not self._is_agent(agent_leg.endpoint):
            return
        call.ringing[agent_leg.uniqueid] = agent_leg.endpoint
        if agent_leg.endpoint not in call.agents_rung:
            call.agents_rung.append(agent_leg.endpoint)
        agent = self._agent(agent_leg.endpoint)
        agent.linkedid = call.linkedid
        out.append(
            AgentRinging(
                call.linkedid,
                agent_leg.endpoint,
                agent_leg.uniqueid,
                queue,
                call.caller,
                call.called_number,
                at,
            )
        )
        self._refresh_agent(agent_leg.endpoint, at, out)

    def _on_AgentCalled(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        call = self._call_of(ev.headers)
        if call is None:
            return
        dest = self._leg_from(ev.headers, "Dest", ev.ts)
        self._add_leg(dest, out)
        self._ring(call, self.legs.get(dest.uniqueid, dest), ev.get("Queue") or call.queue, ev.ts, out)

    def _on_DialBegin(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        dest = self._leg_from(ev.headers, "Dest", ev.ts)
        call = self._add_leg(dest, out) or self.calls.get(dest.linkedid)
        if call is None:
            return
        if "Channel" not in ev.headers:  # an Originate: the first leg is the one being dialed
            call.origin_leg = call.origin_leg or dest.uniqueid
            if (
                dest.endpoint not in self.trunks
                and call.direction is Direction.internal
                and not call.agents_rung
            ):
                call.agent = None
            return
        if dest.endpoint in self.trunks:
            call.reached_trunk = True
            if call.direction is not Direction.inbound:
                call.direction = Direction.outbound
                number = ev.get("DestExten") or ev.get("DialString").partition("@")[0]
                call.caller = CallerId.from_ami(number, "")
                call.called_number = call.caller.number
                src = endpoint_of(ev.get("Channel"))
                if self._is_agent(src) and call.agent is None:
                    call.agent = src
                    self._agent(src).linkedid = call.linkedid
                out.append(CallOffered(call.linkedid, call.direction, call.caller, call.called_number, ev.ts))
            return
        self._ring(call, dest, call.queue if call.left_queue_at is None else None, ev.ts, out)

    def _on_DialEnd(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        call = self._call_of(ev.headers, "Dest")
        if call is None:
            return
        status = ev.get("DialStatus")
        dest_uid = ev.get("DestUniqueid")
        dest_ep = endpoint_of(ev.get("DestChannel"))
        if dest_uid in call.ringing:
            agent = call.ringing.pop(dest_uid)
            reason = {"ANSWER": "answer", "NOANSWER": "noanswer", "BUSY": "busy", "CANCEL": "cancel"}.get(
                status, "unavailable"
            )
            if dest_uid in call.busy_legs:
                reason = "busy"
            out.append(AgentRingEnded(call.linkedid, agent, reason, ev.ts))
            if status == "ANSWER" and (not call.queue or call.left_queue_at):
                self._answer(call, agent, ev.ts, out)
            elif status == "ANSWER":
                call.answer_pending = True
            elif (
                status != "ANSWER" and self.agents.get(agent) and self.agents[agent].linkedid == call.linkedid
            ):
                self.agents[agent].linkedid = None
            self._refresh_agent(agent, ev.ts, out)
        elif "Channel" not in ev.headers:  # an Originate's first leg picked up (agent or supervisor phone)
            if status == "ANSWER" and call.origin_answered_at is None:
                call.origin_answered_at = ev.ts
        elif dest_ep in self.trunks:
            call.dial_status = status
            if status == "ANSWER" and "Channel" in ev.headers:
                src = endpoint_of(ev.get("Channel"))
                self._answer(call, src if self._is_agent(src) else call.agent, ev.ts, out)

    def _answer(self, call: _Call, agent: str | None, at: float, out: list[DomainEvent]) -> None:
        if agent is None:
            if call.answered_at is None:
                call.answered_at = at
            return
        if call.answered_at is None:
            call.answered_at = at
            call.first_agent = agent
        call.agent = agent
        a = self._agent(agent)
        a.linkedid = call.linkedid
        out.append(CallAnswered(call.linkedid, agent, call.queue, call.caller, _wait(call, at), at))
        self._refresh_agent(agent, at, out)

    # -- queues --------------------------------------------------------------------------------------------
    def _on_QueueCallerJoin(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        call = self._call_of(ev.headers)
        if call is None:
            return
        queue = ev.get("Queue")
        call.queue, call.queued_at, call.left_queue_at = queue, ev.ts, None
        if call.caller.number is None and call.direction is Direction.inbound:
            call.caller = CallerId.from_ami(ev.get("CallerIDNum"), ev.get("CallerIDName"))
        self.waiting.setdefault(queue, {})[call.linkedid] = ev.ts
        try:
            position = int(ev.get("Position", "0"))
        except ValueError:
            position = 0
        out.append(CallQueued(call.linkedid, queue, position, call.caller, ev.ts))
        self._queue_changed(queue, ev.ts, out)

    def _on_QueueCallerAbandon(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        call = self._call_of(ev.headers)
        if call is not None and call.answered_at is None:
            call.abandoned = True

    def _on_QueueCallerLeave(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        call = self._call_of(ev.headers)
        if call is None or call.queue is None or call.left_queue_at is not None:
            return
        reason = "abandoned" if call.abandoned else "answered" if call.answer_pending else "left"
        self._leave_queue(call, reason, ev.ts, out)

    def _leave_queue(self, call: _Call, reason: str, at: float, out: list[DomainEvent]) -> None:
        assert call.queue is not None
        call.left_queue_at = at
        self.waiting.get(call.queue, {}).pop(call.linkedid, None)
        out.append(
            CallLeftQueue(call.linkedid, call.queue, reason, round(at - (call.queued_at or at), 3), at)
        )
        self._queue_changed(call.queue, at, out)

    def _queue_changed(self, queue: str, at: float, out: list[DomainEvent]) -> None:
        waiting = self.waiting.get(queue, {})
        out.append(QueueChanged(queue, len(waiting), min(waiting.values()) if waiting else None, at))

    def _on_AgentConnect(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        call = self._call_of(ev.headers)
        if call is None:
            return
        agent = endpoint_of(ev.get("DestChannel")) or ev.get("Interface")
        call.ringing.pop(ev.get("DestUniqueid"), None)
        if call.queue and call.left_queue_at is None:
            self._leave_queue(call, "answered", ev.ts, out)
        self._answer(call, agent, ev.ts, out)

    # -- mid-call ------------------------------------------------------------------------------------------
    def _on_Hold(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        call = self._call_of(ev.headers)
        if call is not None and call.hold_since is None and call.answered_at is not None:
            call.hold_since = ev.ts
            out.append(CallHeld(call.linkedid, True, ev.ts))

    def _on_Unhold(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        call = self._call_of(ev.headers)
        if call is not None and call.hold_since is not None:
            call.hold_s += ev.ts - call.hold_since
            call.hold_since = None
            out.append(CallHeld(call.linkedid, False, ev.ts))

    def _on_HangupRequest(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        # app_queue reports a phone that answered 486 as NOANSWER; the request's cause tells the truth
        call = self._call_of(ev.headers)
        if call is not None and ev.get("Uniqueid") in call.ringing and ev.get("Cause") in _BUSY_CAUSES:
            call.busy_legs.add(ev.get("Uniqueid"))

    def _on_SoftHangupRequest(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        call = self._call_of(ev.headers)
        if call is not None and ev.get("Cause") == SOFTHANGUP_SHUTDOWN:
            call.cut_by_shutdown = True

    def _on_UserEvent(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        if ev.get("UserEvent") != "PlateauHold":
            return
        call = self._call_of(ev.headers)
        if call is not None and call.hold_since is None:
            call.hold_since, call.plateau_hold = ev.ts, True
            out.append(CallHeld(call.linkedid, True, ev.ts))

    def _on_BridgeEnter(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        call = self._call_of(ev.headers)
        if call is not None and call.plateau_hold and ev.get("BridgeNumChannels") == "2":
            assert call.hold_since is not None
            call.hold_s += ev.ts - call.hold_since
            call.hold_since, call.plateau_hold = None, False
            out.append(CallHeld(call.linkedid, False, ev.ts))

    def _on_BlindTransfer(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        call = self._call_of(ev.headers, "Transferee") or self._call_of(ev.headers, "Transferer")
        if call is None or ev.get("Result") not in ("Success", ""):
            return
        target = ev.get("Extension")
        call.transfers.append(f"blind:{target}")
        by = endpoint_of(ev.get("TransfererChannel"))
        out.append(CallTransferred(call.linkedid, "blind", by if self._is_agent(by) else None, target, ev.ts))

    def _on_AttendedTransfer(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        call = self._call_of(ev.headers, "OrigTransferer")
        if call is None or ev.get("Result") not in ("Success", ""):
            return
        target = ev.get("TransferTargetExten") or endpoint_of(ev.get("TransferTargetChannel"))
        call.transfers.append(f"attended:{target}")
        by = endpoint_of(ev.get("OrigTransfererChannel"))
        out.append(
            CallTransferred(call.linkedid, "attended", by if self._is_agent(by) else None, target, ev.ts)
        )
        if call.hold_since is not None:  # the transferee leaves music on hold without an Unhold event
            call.hold_s += ev.ts - call.hold_since
            call.hold_since = None
            out.append(CallHeld(call.linkedid, False, ev.ts))
        second = self.calls.get(ev.get("SecondTransfererLinkedid"))
        if second is not None and second is not call:  # a consultation made as a separate call merges in
            self.calls.pop(second.linkedid, None)
            self._ended[second.linkedid] = None
            call.legs |= second.legs
        agent = self.agents.get(by)
        if agent is not None and agent.linkedid == call.linkedid:
            self._release(agent, call, ev.ts, out)

    # -- agents --------------------------------------------------------------------------------------------
    def _agent(self, endpoint: str) -> _Agent:
        agent = self.agents.get(endpoint)
        if agent is None:
            agent = self.agents[endpoint] = _Agent(endpoint)
        return agent

    def _member(self, ev: AmiEvent, out: list[DomainEvent], present: bool) -> None:
        endpoint = ev.get("Interface") or ev.get("Location")
        if not endpoint:
            return
        agent = self._agent(endpoint)
        queue = ev.get("Queue")
        if present:
            agent.queues[queue] = (ev.get("Paused") == "1", ev.get("PausedReason") or ev.get("Reason"))
            status = _STATUS_NAMES.get(ev.get("Status"))
            if status and status != agent.device:
                agent.device = status
                if self._left_call(agent, ev.ts, out):
                    return
        else:
            agent.queues.pop(queue, None)
        if (
            ev.name == "QueueMemberPause"
            and (ev.get("Paused") == "0" or (ev.get("PausedReason") or ev.get("Reason")) != WRAPUP_REASON)
        ) or not agent.queues:
            # unpaused after the disposition, paused by the agent for a reason of their own (its time is
            # that pause's, not handling time), or logged out: wrap-up is over
            agent.wrapup_linkedid = None
        self._refresh_agent(endpoint, ev.ts, out)

    def _on_QueueMemberAdded(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        self._member(ev, out, True)

    def _on_QueueMemberStatus(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        self._member(ev, out, True)

    def _on_QueueMemberPause(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        self._member(ev, out, True)

    def _on_QueueMemberRemoved(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        self._member(ev, out, False)

    def _on_DeviceStateChange(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        device = ev.get("Device")
        agent = self.agents.get(device)
        if agent is None:
            if not self._is_agent(device):
                return
            agent = self._agent(device)
        agent.device = ev.get("State")
        self._registration(agent, reachable(agent.device), ev.ts, out)
        if not self._left_call(agent, ev.ts, out):
            self._refresh_agent(device, ev.ts, out)

    def _on_ContactStatus(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        """A phone registered (Created) or went away (Removed: unregistered or expired)."""
        endpoint = f"PJSIP/{ev.get('EndpointName') or ev.get('AOR') or ''}"
        status = ev.get("ContactStatus")
        if not self._is_agent(endpoint) or status not in ("Created", "Removed"):
            return
        self._registration(self._agent(endpoint), status == "Created", ev.ts, out)

    def _registration(
        self, agent: _Agent, registered: bool | None, at: float | None, out: list[DomainEvent]
    ) -> None:
        if registered is None or registered == agent.registered:
            return
        agent.registered, agent.registered_since = registered, at
        out.append(PhoneRegistration(agent.endpoint, registered, at))

    def resync_devices(self, devices: list[dict[str, str]]) -> list[DomainEvent]:
        """`DeviceStateList` after a (re)connect: which phones are reachable now (since: unknown)."""
        out: list[DomainEvent] = []
        for d in devices:
            device = d.get("Device", "")
            if self._is_agent(device):
                self._registration(self._agent(device), reachable(d.get("State", "")), None, out)
        return out

    def phone_views(self) -> list[PhoneRegistration]:
        return [
            PhoneRegistration(a.endpoint, a.registered, a.registered_since)
            for a in self.agents.values()
            if a.registered is not None and self._is_agent(a.endpoint)
        ]

    def _left_call(self, agent: _Agent, at: float, out: list[DomainEvent]) -> bool:
        """The phone went idle while the agent was on an answered call: their part is over."""
        call = self.calls.get(agent.linkedid or "")
        if (
            call is None
            or agent.device in _RINGING
            or agent.device in _BUSY
            or call.answered_at is None
            or agent.endpoint not in (call.agent, call.first_agent)
        ):
            return False
        self._release(agent, call, at, out)
        return True

    def _refresh_agent(self, endpoint: str, at: float, out: list[DomainEvent]) -> None:
        agent = self._agent(endpoint)
        paused = [r for p, r in agent.queues.values() if p]
        reason: str | None = None
        if agent.device in _RINGING:
            state = AgentState.ringing
        elif agent.device in _BUSY:
            state = AgentState.on_call
        elif not agent.queues:
            state = AgentState.logged_out
        elif agent.wrapup_linkedid:  # until the disposition, or a pause the agent asks for meanwhile
            state = AgentState.wrap_up
        elif own := [r for r in paused if r != WRAPUP_REASON]:  # the agent's own pause, in any queue
            state, reason = AgentState.paused, own[0] or None
        elif paused:  # Plateau's wrap-up pause alone
            state = AgentState.wrap_up
        else:
            state = AgentState.ready
        queues = tuple(sorted(agent.queues))
        if (state, reason) != (agent.state, agent.reason) or agent.since == 0.0:
            agent.state, agent.reason, agent.since = state, reason, at
        elif queues == agent.seen_queues:
            return
        agent.seen_queues = queues  # joining or leaving a queue is news too, even in the same state
        out.append(AgentStateChanged(endpoint, state, reason, agent.since, queues, agent.linkedid))

    # -- resync after a (re)connect ------------------------------------------------------------------------
    def resync(self, snap: Snapshot, at: float) -> list[DomainEvent]:
        """Rebuild from what Asterisk says now; calls that vanished while we were away end `interrupted`."""
        return self.resync_channels(snap.channels, at) + self.resync_queues(snap.members, snap.entries, at)

    def resync_channels(self, channels: list[dict[str, str]], at: float) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        live = {c.get("Uniqueid", ""): c for c in channels}
        for uid in [u for u in self.legs if u not in live]:
            leg = self.legs.pop(uid)
            call = self.calls.get(leg.linkedid)
            if call is not None:
                call.legs.discard(uid)
                call.ringing.pop(uid, None)
        for call in [c for c in self.calls.values() if not c.legs]:
            self._end(call, at, out, "interrupted")
        for uid, ch in live.items():
            if uid and uid not in self.legs:
                self._add_leg(self._leg_from(ch, "", at), out)
        return out

    def resync_queues(
        self, members_in: list[dict[str, str]], entries: list[dict[str, str]], at: float
    ) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        members: dict[str, dict[str, tuple[bool, str]]] = {}
        devices: dict[str, str] = {}
        for m in members_in:
            ep = m.get("Location") or m.get("Interface") or m.get("StateInterface", "")
            paused = (m.get("Paused") == "1", m.get("PausedReason", ""))
            members.setdefault(ep, {})[m.get("Queue", "")] = paused
            devices[ep] = _STATUS_NAMES.get(m.get("Status", ""), "UNKNOWN")
        for ep in set(self.agents) | set(members):
            agent = self._agent(ep)
            agent.queues = members.get(ep, {})
            if ep in devices:
                agent.device = devices[ep]
            if agent.linkedid and agent.linkedid not in self.calls:
                agent.linkedid = None
            if agent.wrapup_linkedid and not agent.queues:
                agent.wrapup_linkedid = None
            self._refresh_agent(ep, at, out)
        self.waiting = {}
        for e in entries:
            call = self.calls.get(e.get("Linkedid", "")) or self.calls.get(e.get("Uniqueid", ""))
            if call is None:
                continue
            queue = e.get("Queue", "")
            try:
                wait = float(e.get("Wait", "0"))
            except ValueError:
                wait = 0.0
            call.queue, call.queued_at, call.left_queue_at = queue, at - wait, None
            self.waiting.setdefault(queue, {})[call.linkedid] = at - wait
        for queue in {m.get("Queue", "") for m in members_in} | set(self.waiting):
            self._queue_changed(queue, at, out)
        return out

    def leg_of(self, linkedid: str, interface: str) -> str | None:
        """The channel name of `interface`'s leg in the call (what Hangup, Redirect, transfers act on)."""
        call = self.calls.get(linkedid)
        if call is None:
            return None
        for uid in call.legs:
            leg = self.legs.get(uid)
            if leg is not None and leg.endpoint == interface:
                return leg.channel
        return None

    def other_leg(self, linkedid: str, interface: str) -> str | None:
        """The customer's side of an agent's call: the first leg that is not the agent's."""
        call = self.calls.get(linkedid)
        if call is None:
            return None
        for uid in sorted(call.legs):
            leg = self.legs.get(uid)
            if leg is not None and leg.endpoint != interface and not leg.channel.startswith("Local/"):
                return leg.channel
        return None

    def call_of_agent(self, interface: str) -> str | None:
        agent = self.agents.get(interface)
        return agent.linkedid if agent else None

    def wait_of(self, linkedid: str, at: float) -> float | None:
        """Queue wait of a call in progress so far (what its record will say if it were to end at `at`)."""
        call = self.calls.get(linkedid)
        return _wait(call, at) if call is not None else None

    def agent_views(self) -> list[AgentStateChanged]:
        return [
            AgentStateChanged(a.endpoint, a.state, a.reason, a.since, tuple(sorted(a.queues)), a.linkedid)
            for a in self.agents.values()
            if self._is_agent(a.endpoint)
        ]

    def queue_views(self, at: float) -> list[QueueChanged]:
        return [QueueChanged(q, len(w), min(w.values()) if w else None, at) for q, w in self.waiting.items()]


def reachable(device_state: str) -> bool | None:
    """A PJSIP endpoint's device state says whether it has a registered contact: UNAVAILABLE without one."""
    if device_state in ("UNAVAILABLE", "INVALID"):
        return False
    if device_state in ("", "UNKNOWN"):
        return None
    return True


def _wait(call: _Call, at: float) -> float | None:
    if call.queued_at is None:
        return None
    end = call.left_queue_at or call.answered_at or at
    return round(max(0.0, end - call.queued_at), 3)


def _outcome(call: _Call) -> str:
    if call.answered_at is not None:
        return "answered"
    if call.direction is Direction.inbound:
        if call.abandoned or (call.queue and call.left_queue_at is None):
            return "abandoned"
        if call.queue:
            return "unanswered"
        if call.agents_rung:
            return "missed"
        return "abandoned"
    if call.dial_status in _DIAL_OUTCOME:
        return _DIAL_OUTCOME[call.dial_status]
    return _CAUSE_OUTCOME.get(call.hangup_cause or 0, "failed")
