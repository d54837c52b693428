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

from cti.ami_wire import AmiEvent
from cti.events import DomainEvent
from cti.tracking.agents import AgentEvents
from cti.tracking.channels import ChannelEvents
from cti.tracking.dialing import DialEvents
from cti.tracking.midcall import MidCallEvents
from cti.tracking.queues import QueueEvents
from cti.tracking.resync import Resync
from cti.tracking.state import SOFTHANGUP_SHUTDOWN, WRAPUP_REASON, reachable
from cti.tracking.views import Views

__all__ = ["SOFTHANGUP_SHUTDOWN", "WRAPUP_REASON", "Tracker", "reachable"]


class Tracker(ChannelEvents, DialEvents, QueueEvents, MidCallEvents, AgentEvents, Resync, Views):
    """Each `_on_<Event>` method of the mixins handles the AMI event of that name (see `cti/tracking/`)."""

    def __init__(
        self,
        trunks: Iterable[str] = ("PJSIP/trunk",),
        is_agent: Callable[[str], bool] | None = None,
        wrapup: bool = True,
    ) -> None:
        self.trunks = frozenset(trunks)
        self._is_agent = is_agent or (lambda ep: ep.startswith("PJSIP/") and ep not in self.trunks)
        self.wrapup = wrapup
        self.legs = {}
        self.calls = {}
        self.agents = {}
        self.waiting = {}
        self._ended = OrderedDict()
        self._handlers = {n[4:]: getattr(self, n) for n in dir(self) if n.startswith("_on_")}

    def feed(self, ev: AmiEvent) -> list[DomainEvent]:
        handler = self._handlers.get(ev.name)
        if handler is None:
            return []
        out: list[DomainEvent] = []
        handler(ev, out)
        return out
