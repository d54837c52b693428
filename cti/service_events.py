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
        if isinstance(item, ChannelsSnapshot) and unit.lease in self.history.adopting:
            prefix = self.calls_prefix(unit)
            if prefix is not None:  # a link taken over: the previous owner's notes of its calls
                self.history.adopting.discard(unit.lease)
                self._spawn(self.history.adopt(prefix, lambda: set(self.tracker.calls), now))
        if isinstance(item, ChannelsSnapshot) and unit is self.units[0]:  # PLATEAU_PBX_CDR_FILE is its
            # on every (re)connect: the calls that began and ended while Plateau was not looking, from
            # Asterisk's call records; the calls up are the tracker's. On the first since start, the calls a
            # killed run left noted in progress that ended while it was away are written from their notes.
            live = set(self.tracker.calls)
            skip = live | set(self.history.recovered)
            if self.history.recovered:
                self.history.close_unseen(live, now)
            self._spawn(self._backfill(skip, now))

    async def _backfill(self, skip: set[str], until: float) -> None:
        """Write the inbound calls Asterisk recorded (its CDR file) that ended after the last call written
        and before this snapshot, and that Plateau did not see: once each (ON CONFLICT by Linkedid)."""
        path, since = self.settings.pbx_cdr_file, self._cdr_since
        if since is None:  # nothing written yet: no outage to fill
            self._cdr_since = until
            return
        try:
            lines, bad = await asyncio.to_thread(cdr.read_tail, path)
            calls = [
                c
                for c in cdr.calls_from_lines(lines, since - cdr.MARGIN_S, until)
                if c.linkedid not in skip and c.linkedid not in self._ended_recently
            ]
        except Exception:
            log.exception("history: Asterisk's call records %s could not be read", path)
            return
        if bad:
            log.warning("history: %d line(s) of %s are not call records; skipped", bad, path)
        self._cdr_since = max(since, until)  # the tracker saw the calls that ended since this snapshot
        self.history.backfill(calls)
        if calls:
            log.info("history: %d call(s) found in Asterisk's call records (not seen by Plateau)", len(calls))

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
