"""Agents and their phones: queue membership and pause, device state, and registration."""

from __future__ import annotations

from cti.ami_wire import AmiEvent
from cti.events import (
    DomainEvent,
    PhoneRegistration,
)
from cti.tracking.core import TrackerCore
from cti.tracking.state import (
    BUSY,
    RINGING,
    STATUS_NAMES,
    WRAPUP_REASON,
    AgentSlot,
    reachable,
)


class AgentEvents(TrackerCore):
    """Queue member events, DeviceStateChange and ContactStatus."""

    def _member(self, ev: AmiEvent, out: list[DomainEvent], present: bool) -> None:
        endpoint = ev.get("Interface") or ev.get("Location")
        if not endpoint:
            return
        agent = self._agent(endpoint)
        queue = ev.get("Queue")
        if present:
            agent.queues[queue] = (ev.get("Paused") == "1", ev.get("PausedReason") or ev.get("Reason"))
            status = STATUS_NAMES.get(ev.get("Status"))
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

    def _left_call(self, agent: AgentSlot, at: float, out: list[DomainEvent]) -> bool:
        """The phone went idle while the agent was on an answered call: their part is over."""
        call = self.calls.get(agent.linkedid or "")
        if (
            call is None
            or agent.device in RINGING
            or agent.device in BUSY
            or call.answered_at is None
            or agent.endpoint not in (call.agent, call.first_agent)
        ):
            return False
        self._release(agent, call, at, out)
        return True
