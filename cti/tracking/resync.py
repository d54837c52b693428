"""Resync after a (re)connect: rebuild legs, calls, agents and queues from what Asterisk lists now."""

from __future__ import annotations

from cti.events import (
    Direction,
    DomainEvent,
    Snapshot,
)
from cti.tracking.core import TrackerCore
from cti.tracking.state import (
    CHANNEL_UP,
    STATUS_NAMES,
)


class Resync(TrackerCore):
    """Rebuilding state from Asterisk's lists."""

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
        # a call's first channel (its Uniqueid is the Linkedid) first: it tells the call's direction
        for uid, ch in sorted(live.items(), key=lambda item: item[0] != item[1].get("Linkedid")):
            if uid and uid not in self.legs:
                self._add_leg(self._leg_from(ch, "", at), out)
        for uid, ch in live.items():  # an agent's phone up on a call not known answered: answered unseen
            leg = self.legs.get(uid)
            call = self.calls.get(leg.linkedid) if leg is not None else None
            if (
                leg is not None
                and call is not None
                and call.direction is Direction.inbound
                and call.answered_at is None
                and ch.get("ChannelState") == CHANNEL_UP
                and leg.endpoint not in self.trunks
                and self._is_agent(leg.endpoint)
            ):
                if call.queue and call.left_queue_at is None:
                    self._leave_queue(call, "answered", at, out)
                self._answer(call, leg.endpoint, at, out)
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
            devices[ep] = STATUS_NAMES.get(m.get("Status", ""), "UNKNOWN")
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
