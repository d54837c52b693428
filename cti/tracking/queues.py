"""Queue entries: callers joining, abandoning and leaving a queue, and the agent who took the call."""

from __future__ import annotations

from cti.ami_wire import AmiEvent
from cti.events import (
    CallerId,
    CallQueued,
    Direction,
    DomainEvent,
    endpoint_of,
)
from cti.tracking.core import TrackerCore


class QueueEvents(TrackerCore):
    """QueueCallerJoin, QueueCallerAbandon, QueueCallerLeave and AgentConnect."""

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

    def _on_AgentConnect(self, ev: AmiEvent, out: list[DomainEvent]) -> None:
        call = self._call_of(ev.headers)
        if call is None:
            return
        agent = endpoint_of(ev.get("DestChannel")) or ev.get("Interface")
        call.ringing.pop(ev.get("DestUniqueid"), None)
        if call.queue and call.left_queue_at is None:
            self._leave_queue(call, "answered", ev.ts, out)
        self._answer(call, agent, ev.ts, out)
