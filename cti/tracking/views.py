"""Read-only views of the tracker's state for the control layer and the pages."""

from __future__ import annotations

from cti.events import (
    AgentStateChanged,
    QueueChanged,
)
from cti.tracking.core import TrackerCore
from cti.tracking.state import (
    queue_wait,
)


class Views(TrackerCore):
    """Lookups and snapshots; no event handling."""

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
        return queue_wait(call, at) if call is not None else None

    def agent_views(self) -> list[AgentStateChanged]:
        return [
            AgentStateChanged(a.endpoint, a.state, a.reason, a.since, tuple(sorted(a.queues)), a.linkedid)
            for a in self.agents.values()
            if self._is_agent(a.endpoint)
        ]

    def queue_views(self, at: float) -> list[QueueChanged]:
        return [QueueChanged(q, len(w), min(w.values()) if w else None, at) for q, w in self.waiting.items()]
