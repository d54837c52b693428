"""The service's event path: AMI events through the tracker to the bus, the browsers and wrap-up timers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from core.bus import Message, ToAgentAndSupervisors, ToAgentsAndSupervisors, ToSupervisors
from cti import cdr
from cti.ami import ChannelsSnapshot, DevicesSnapshot, LinkState, QueueItem, QueuesSnapshot
from cti.ami_wire import AmiError, AmiEvent
from cti.events import (
    AgentRingEnded,
    AgentRinging,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallHeld,
    CallLeftQueue,
    CallOffered,
    CallQueued,
    CallRecord,
    CallTransferred,
    Direction,
    HeldPartyLeft,
    PhoneRegistration,
    QueueChanged,
    WrapUpStarted,
    to_wire,
)
from cti.tracker import WRAPUP_REASON

if TYPE_CHECKING:
    from cti.pbx_unit import PbxUnit

log = logging.getLogger(__name__)
# events shown to the agent concerned and to supervisors as they are
_TO_THE_AGENT = (AgentRinging, AgentRingEnded, CallAnswered, WrapUpStarted, PhoneRegistration)


class EventPath:
    """AMI events in, domain events out: the tracker, the backfill, the browsers, and wrap-up."""

    # -- the event path ---------------------------------------------------------------------------------
    def consume(self, item: QueueItem, unit: PbxUnit | None = None) -> None:
        """Runs for every AMI event of `unit`'s server (None: the first), in order. Keep it free of I/O."""
        now = time.time()
        unit = unit or self.units[0]
        tracker = unit.tracker
        if isinstance(item, AmiEvent):
            for listener in self.raw_listeners:
                try:
                    listener(item)
                except Exception:  # a listener's bug must not stop the event path
                    log.exception("cti: raw AMI listener failed on %s", item.name)
            events = tracker.feed(item)
        elif isinstance(item, ChannelsSnapshot):
            events = tracker.resync_channels(item.channels, now)
        elif isinstance(item, QueuesSnapshot):
            events = tracker.resync_queues(item.members, item.entries, now)
        elif isinstance(item, DevicesSnapshot):
            events = tracker.resync_devices(item.devices)
        elif isinstance(item, LinkState):
            if item.up:
                self.recorder.on_link_up(unit.link)  # each server's dialplan reads the policies
            if item.up and unit is self.units[0]:  # queue provisioning: the first server
                for hook in self.on_link_up:  # e.g. provisioning what changed while the PBX was away
                    self._spawn(hook())
            self.hub.publish(
                Message(
                    ToSupervisors(),
                    {
                        "type": "pbx_link",
                        **self._link_id(unit),
                        "up": item.up,
                        "reason": item.reason,
                        "at": now,
                    },
                )
            )
            return
        else:
            return
        for event in events:
            self.bus.publish(event)
        if isinstance(item, ChannelsSnapshot) and (prefix := self.calls_prefix(unit)) is not None:
            # on every (re)connect or takeover: the server's calls that ended while no one followed them,
            # from the notes left of those in progress and from Asterisk's records; the calls up are the
            # tracker's (adopted)
            taken = unit.lease in self.history.adopting
            self.history.adopting.discard(unit.lease)
            if taken:
                self.history.hold_notes(prefix)
            self._spawn(self._close_gap(unit, prefix, set(unit.tracker.calls), taken, now))

    async def _close_gap(self, unit: PbxUnit, prefix: str, live: set[str], taken: bool, until: float) -> None:
        """Write the calls of `unit`'s server (ids starting with `prefix`) that ended before this snapshot
        unseen: those noted in progress (by a killed run, or by the node the link was `taken` from) that
        Asterisk no longer carries, and the inbound calls its records (the server's `cdr_file`) say ended
        after the last one of the server written. Once each (ON CONFLICT by Linkedid)."""
        try:
            if taken:
                await self.history.take_notes(prefix)
            since = self._cdr_since.get(unit.lease)
            if since is None:  # first snapshot since start or since the link was gained: what is written
                noted = [
                    float(note["offered_at"])
                    for linkedid, note in self.history.recovered.items()
                    if linkedid.startswith(prefix) and note.get("offered_at") is not None
                ]
                since = cdr.read_from(await self.history.last_ended_at(prefix), noted)
            found = await self._records(unit, prefix, since, until)
        except Exception:
            log.exception("history: the calls of %s that ended unseen could not be read", unit.lease)
            found = []
        if not unit.owned and not self.leases.local:
            return  # the link was lost meanwhile: its next owner writes them
        self._cdr_since[unit.lease] = max(until, self._cdr_since.get(unit.lease) or until)
        self.history.close_gap(prefix, live, found, set(self._ended_recently), until)

    async def _records(
        self, unit: PbxUnit, prefix: str, since: float | None, until: float
    ) -> list[CallRecord]:
        """The inbound calls of Asterisk's records of `unit` that ended between `since` (less a margin) and
        `until`, not written yet. None before anything of the server was written: no outage to fill."""
        path = unit.server.cdr_file
        if since is None or path is None:
            return []
        await asyncio.sleep(cdr.SETTLE_S)  # the records of the calls that ended just before the snapshot
        lines, bad = await asyncio.to_thread(cdr.read_tail, path)
        if bad:
            log.warning("history: %d line(s) of %s are not call records; skipped", bad, path)
        calls = [
            c
            for c in cdr.calls_from_lines(lines, since - cdr.MARGIN_S, until)
            if c.linkedid.startswith(prefix)
        ]
        new = await self.history.unwritten([c.linkedid for c in calls])
        if new:
            log.info("history: %d call(s) of %s found in Asterisk's call records", len(new), unit.lease)
        return [c for c in calls if c.linkedid in new]

    def direction_of(self, linkedid: str) -> Direction | None:
        call = self.tracker.calls.get(linkedid)
        return call.direction if call is not None else None

    def _agent_fields(self, interface: str | None) -> dict[str, Any]:
        info = self.directory.get(interface)
        return (
            {
                "user_id": info.user_id,
                "username": info.username,
                "display_name": info.display_name,
                "team_id": info.team_id,
            }
            if info
            else {"user_id": None, "username": None, "display_name": None, "team_id": None}
        )

    def _team_of(self, interface: str | None) -> int | None:
        info = self.directory.get(interface)
        return info.team_id if info else None

    def _to_browsers(self, event: Any) -> None:
        audience: Any
        if isinstance(event, AgentStateChanged):
            audience = ToAgentAndSupervisors(event.agent, self._team_of(event.agent))
            payload = to_wire(event, self._agent_fields(event.agent))
        elif isinstance(event, CallAnswered):  # the wallboard's "current call": who, from the caller's lookup
            audience = ToAgentAndSupervisors(event.agent, self._team_of(event.agent))
            payload = to_wire(event, {"contact": self.screenpop.contact_name(event.linkedid)})
        elif isinstance(event, _TO_THE_AGENT):
            audience = ToAgentAndSupervisors(event.agent, self._team_of(event.agent))
            payload = to_wire(event)
        elif isinstance(event, CallEnded):
            teams = frozenset(self._team_of(a) for a in event.agents)
            audience = ToAgentsAndSupervisors(frozenset(event.agents), teams)
            payload = to_wire(event)
        elif isinstance(event, (CallHeld, CallTransferred)):
            call = self.tracker.calls.get(event.linkedid)
            current = call.agent if call else None
            audience = ToAgentAndSupervisors(current, self._team_of(current)) if current else ToSupervisors()
            payload = to_wire(event)
        elif isinstance(event, (CallOffered, CallQueued, CallLeftQueue, QueueChanged)):
            audience, payload = ToSupervisors(), to_wire(event)
        else:
            return
        self.hub.publish(Message(audience, payload))

    def _on_control_event(self, event: Any) -> None:
        if isinstance(event, CallEnded):
            self._ended_recently[event.record.linkedid] = (time.time(), event.record)
            self._forget_ended(time.time())
        elif isinstance(event, WrapUpStarted):
            self._spawn(self._start_wrapup(event.agent))
        elif isinstance(event, HeldPartyLeft):
            self._spawn(self._hangup_channels(event.linkedid, event.channels))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- wrap-up ------------------------------------------------------------------------------------------
    async def _start_wrapup(self, interface: str) -> None:
        try:
            await self.link_for(interface).send(
                "QueuePause", Interface=interface, Paused="true", Reason=WRAPUP_REASON
            )
        except AmiError as exc:
            log.warning("cti: could not pause %s for wrap-up: %s", interface, exc)
            return
        old = self._wrapup_timers.pop(interface, None)
        if old is not None:
            old.cancel()
        if self.settings.wrapup_timeout_s > 0:
            self._wrapup_timers[interface] = asyncio.create_task(self._wrapup_timeout(interface))

    async def _wrapup_timeout(self, interface: str) -> None:
        await asyncio.sleep(self.settings.wrapup_timeout_s)
        self._wrapup_timers.pop(interface, None)
        with contextlib.suppress(AmiError):
            await self.end_wrapup(interface)

    async def end_wrapup(self, interface: str) -> None:
        """Disposition saved (or wrap-up time over): ready again, unless the agent paused for a reason."""
        timer = self._wrapup_timers.pop(interface, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        agent = self.tracker.agents.get(interface)
        if agent is None or not agent.queues:
            return
        paused_reasons = {r for p, r in agent.queues.values() if p}
        if paused_reasons and paused_reasons != {WRAPUP_REASON}:
            return  # the agent chose a pause during wrap-up: keep it
        await self.link_for(interface).send("QueuePause", Interface=interface, Paused="false")

    async def _hangup_channels(self, linkedid: str, channels: tuple[str, ...]) -> None:
        link = self.link_of_call(linkedid)
        for channel in channels:
            with contextlib.suppress(AmiError):
                await link.send("Hangup", Channel=channel, Cause=16)
