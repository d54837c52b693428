"""Dialing: agents rung by a queue or a Dial, trunks dialed out, and how each ring ended."""

from __future__ import annotations

from cti.ami_wire import AmiEvent
from cti.events import (
    AgentRingEnded,
    AgentRinging,
    CallerId,
    CallOffered,
    Direction,
    DomainEvent,
    endpoint_of,
)
from cti.tracking.core import TrackerCore
from cti.tracking.state import (
    Call,
    Leg,
)


class DialEvents(TrackerCore):
    """AgentCalled, DialBegin and DialEnd."""

    def _ring(self, call: Call, agent_leg: Leg, queue: str | None, at: float, out: list[DomainEvent]) -> None:
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
