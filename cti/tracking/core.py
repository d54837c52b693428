"""The tracker's state and the steps every event family shares: legs, answers, call ends, agent state."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from cti.events import (
    AgentRingEnded,
    AgentState,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallerId,
    CallLeftQueue,
    CallOffered,
    CallRecord,
    Direction,
    DomainEvent,
    PhoneRegistration,
    QueueChanged,
    WrapUpStarted,
    endpoint_of,
)
from cti.tracking.state import (
    BUSY,
    ENDED_MEMORY,
    RINGING,
    WRAPUP_REASON,
    AgentSlot,
    Call,
    Leg,
    outcome_of,
    queue_wait,
)


class TrackerCore:
    """State and shared steps; `cti.tracker.Tracker` sets the attributes up and adds the event handlers."""

    trunks: frozenset[str]
    _is_agent: Callable[[str], bool]
    wrapup: bool
    legs: dict[str, Leg]
    calls: dict[str, Call]
    agents: dict[str, AgentSlot]
    waiting: dict[str, dict[str, float]]  # queue → linkedid → joined at
    _ended: OrderedDict[str, None]

    def _leg_from(self, h: dict[str, str], prefix: str, at: float) -> Leg:
        channel = h.get(prefix + "Channel", "")
        return Leg(
            h.get(prefix + "Uniqueid", ""),
            h.get(prefix + "Linkedid", ""),
            channel,
            endpoint_of(channel),
            CallerId.from_ami(h.get(prefix + "CallerIDNum", ""), h.get(prefix + "CallerIDName", "")),
            h.get(prefix + "Exten", ""),
            h.get(prefix + "Context", ""),
            at,
        )

    def _add_leg(self, leg: Leg, out: list[DomainEvent]) -> Call | None:
        if not leg.uniqueid or not leg.linkedid or leg.linkedid in self._ended:
            return None
        self.legs.setdefault(leg.uniqueid, leg)
        call = self.calls.get(leg.linkedid)
        if call is None:
            inbound = leg.endpoint in self.trunks
            call = Call(
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

    def _call_of(self, h: dict[str, str], prefix: str = "") -> Call | None:
        return self.calls.get(h.get(prefix + "Linkedid", ""))

    def _end(self, call: Call, at: float, out: list[DomainEvent], forced: str | None) -> None:
        self.calls.pop(call.linkedid, None)
        self._ended[call.linkedid] = None
        while len(self._ended) > ENDED_MEMORY:
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
            wait_s=queue_wait(call, at),
            talk_s=(at - call.answered_at) - call.hold_s if call.answered_at else None,
            hold_s=round(call.hold_s, 3),
            outcome=forced or ("interrupted" if call.cut_by_shutdown else outcome_of(call)),
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
        self, agent: AgentSlot, call: Call, at: float, out: list[DomainEvent], wrap: bool = True
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

    def _answer(self, call: Call, agent: str | None, at: float, out: list[DomainEvent]) -> None:
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
        out.append(CallAnswered(call.linkedid, agent, call.queue, call.caller, queue_wait(call, at), at))
        self._refresh_agent(agent, at, out)

    def _leave_queue(self, call: Call, reason: str, at: float, out: list[DomainEvent]) -> None:
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

    def _agent(self, endpoint: str) -> AgentSlot:
        agent = self.agents.get(endpoint)
        if agent is None:
            agent = self.agents[endpoint] = AgentSlot(endpoint)
        return agent

    def _refresh_agent(self, endpoint: str, at: float, out: list[DomainEvent]) -> None:
        agent = self._agent(endpoint)
        paused = [r for p, r in agent.queues.values() if p]
        reason: str | None = None
        if agent.device in RINGING:
            state = AgentState.ringing
        elif agent.device in BUSY:
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

    def _registration(
        self, agent: AgentSlot, registered: bool | None, at: float | None, out: list[DomainEvent]
    ) -> None:
        if registered is None or registered == agent.registered:
            return
        agent.registered, agent.registered_since = registered, at
        out.append(PhoneRegistration(agent.endpoint, registered, at))
