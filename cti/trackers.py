"""Several servers' trackers read as one (pure: no I/O, no clock).

Each server has its own `cti.tracker.Tracker`, fed by its own link. What the pages, the controls and the
dialer read (calls, legs, agents, queues) is their union: calls and legs never collide (each server's
systemname prefixes its ids); an agent's phone endpoint may exist on every server, so an agent is read from
the server it belongs to (`home`); a queue served on several servers waits the callers of all of them.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Mapping, Sequence

from cti.events import PhoneRegistration
from cti.tracker import Tracker
from cti.tracking.state import AgentSlot, Call, Leg
from cti.tracking.views import Views


class TrackerSet(Views):
    """The read side of `Tracker` (cti/tracking/views.py) over several trackers; events are fed to each
    server's own tracker, never to this."""

    def __init__(self, trackers: Sequence[Tracker], home: Callable[[str], int]) -> None:
        self.trackers = list(trackers)
        self._home = home  # agent interface → index of their server's tracker

    @property
    def calls(self) -> Mapping[str, Call]:  # type: ignore[override]
        return ChainMap(*(t.calls for t in self.trackers))

    @property
    def legs(self) -> Mapping[str, Leg]:  # type: ignore[override]
        return ChainMap(*(t.legs for t in self.trackers))

    @property
    def agents(self) -> dict[str, AgentSlot]:  # type: ignore[override]
        out: dict[str, AgentSlot] = {}
        for index, tracker in enumerate(self.trackers):
            for interface, agent in tracker.agents.items():
                if self._home(interface) == index:
                    out[interface] = agent
        return out

    @property
    def waiting(self) -> dict[str, dict[str, float]]:  # type: ignore[override]
        out: dict[str, dict[str, float]] = {}
        for tracker in self.trackers:
            for queue, callers in tracker.waiting.items():
                out.setdefault(queue, {}).update(callers)
        return out

    def _is_agent(self, endpoint: str) -> bool:
        return self.trackers[self._home(endpoint)]._is_agent(endpoint)

    def phone_views(self) -> list[PhoneRegistration]:
        return [v for i, t in enumerate(self.trackers) for v in t.phone_views() if self._home(v.agent) == i]
