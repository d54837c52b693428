"""The CTI service: AMI link → tracker → bus → screen-pop, history, browsers; and the agent's call controls.

This is the I/O shell around the pure tracker. It owns the wrap-up pause (an agent whose call ends is
paused with reason `wrapup` until the disposition is saved or the wrap-up time runs out) and turns REST
requests into AMI actions on the agent's own calls only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from core.bus import (
    Bus,
    Message,
    Principal,
    ToAgentAndSupervisors,
    ToAgentsAndSupervisors,
    ToSupervisors,
    interface_of,
    oversees,
)
from core.db import Database
from core.directory import AgentDirectory
from core.recording_store import store_for
from core.settings import Settings
from cti import cdr
from cti.ami import AmiLink, ChannelsSnapshot, DevicesSnapshot, LinkState, QueueItem, QueuesSnapshot
from cti.ami_wire import AUTO_ANSWER, AmiError, AmiEvent, AmiUnavailable
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
from cti.numbers import parse
from cti.ports import FeaturesFactory, Publisher
from cti.recorder import Recorder
from cti.tracker import WRAPUP_REASON, Tracker, reachable

log = logging.getLogger(__name__)


SPY_MODES = ("listen", "whisper", "barge")
# events shown to the agent concerned and to supervisors as they are
_TO_THE_AGENT = (AgentRinging, AgentRingEnded, CallAnswered, WrapUpStarted, PhoneRegistration)

# Ended calls stay among the live facts this long: the history writer batches its rows (and retries), and
# until a row is written the call must still count; once written, the history row is the one counted.
RECENT_ENDED_S = 300.0


class ControlError(RuntimeError):
    """A call control the agent may not do now (no such call, not theirs)."""


class PhoneNotRegistered(RuntimeError):
    """The agent's phone has no registration: they cannot be offered calls."""


class CtiService:
    def __init__(self, settings: Settings, db: Database, hub: Publisher, features: FeaturesFactory) -> None:
        """`features` builds the application's parts (screen pop, history, state log) around this service:
        app/cti_wiring.py's `cti_features`."""
        self.settings = settings
        self.db = db
        self.hub = hub
        self.bus = Bus()
        self.tracker = Tracker(
            trunks=[f"PJSIP/{t}" for t in settings.trunk_names], wrapup=settings.wrapup_enabled
        )
        self.directory = AgentDirectory(db)
        plugged = features(self)
        self.screenpop = plugged.screenpop
        self.history = plugged.history
        self.state_log = plugged.state_log
        self._background = plugged.background
        self.link = AmiLink(
            settings.ami_host,
            settings.ami_port,
            settings.ami_user,
            settings.ami_secret.get_secret_value(),
            self.consume,
            ping_interval=settings.ami_ping_interval_s,
            ping_timeout=settings.ami_ping_timeout_s,
        )
        self.recorder = Recorder(settings, db, store_for(settings), self.link, self.directory)
        self.bus.subscribe(self.screenpop.on_event)
        self.bus.subscribe(self.state_log.on_event)
        self.bus.subscribe(self.history.on_event)
        self.bus.subscribe(self.recorder.on_event)
        self.bus.subscribe(self._to_browsers)
        self.bus.subscribe(self._on_control_event)
        self._wrapup_timers: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._channels_seen = False
        self._cdr_since: float | None = None  # Asterisk's call records are read from there on (re)connect
        self._ended_recently: OrderedDict[str, tuple[float, CallRecord]] = OrderedDict()
        # called with every validated AmiEvent before the tracker (the dialer follows its own channels)
        self.raw_listeners: list[Callable[[AmiEvent], None]] = [self.recorder.on_raw]
        # run each time the AMI link is (re)established
        self.on_link_up: list[Callable[[], Awaitable[object]]] = []

    async def start(self) -> None:
        await self.directory.load()
        await self.screenpop.warm()
        await self.history.load_open()  # calls a killed run left in progress: closed after the snapshot
        self._cdr_since = (
            await self.history.last_ended_at()
        )  # the backfill reads Asterisk's records from there
        self.history.start()
        self.state_log.start()
        for job in self._background:
            self._spawn(job())
        if self.settings.ami_enabled:
            await self.link.start()

    async def stop(self) -> None:
        await self.link.stop()
        for task in [*self._wrapup_timers.values(), *self._tasks]:
            task.cancel()
        await self.recorder.stop()
        await self.history.stop()
        await self.state_log.stop()
        await self.screenpop.close()

    # -- the event path ---------------------------------------------------------------------------------
    def consume(self, item: QueueItem) -> None:
        """Runs for every AMI event, in order. Keep it free of I/O."""
        now = time.time()
        if isinstance(item, AmiEvent):
            for listener in self.raw_listeners:
                try:
                    listener(item)
                except Exception:  # a listener's bug must not stop the event path
                    log.exception("cti: raw AMI listener failed on %s", item.name)
            events = self.tracker.feed(item)
        elif isinstance(item, ChannelsSnapshot):
            events = self.tracker.resync_channels(item.channels, now)
        elif isinstance(item, QueuesSnapshot):
            events = self.tracker.resync_queues(item.members, item.entries, now)
        elif isinstance(item, DevicesSnapshot):
            events = self.tracker.resync_devices(item.devices)
        elif isinstance(item, LinkState):
            if item.up:
                self.recorder.on_link_up()
                for hook in self.on_link_up:  # e.g. provisioning what changed while the PBX was away
                    self._spawn(hook())
            self.hub.publish(
                Message(
                    ToSupervisors(), {"type": "pbx_link", "up": item.up, "reason": item.reason, "at": now}
                )
            )
            return
        else:
            return
        for event in events:
            self.bus.publish(event)
        if isinstance(item, ChannelsSnapshot):
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
            self._spawn(self._hangup_channels(event.channels))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- wrap-up ------------------------------------------------------------------------------------------
    async def _start_wrapup(self, interface: str) -> None:
        try:
            await self.link.send("QueuePause", Interface=interface, Paused="true", Reason=WRAPUP_REASON)
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
        await self.link.send("QueuePause", Interface=interface, Paused="false")

    async def _hangup_channels(self, channels: tuple[str, ...]) -> None:
        for channel in channels:
            with contextlib.suppress(AmiError):
                await self.link.send("Hangup", Channel=channel, Cause=16)

    # -- agent controls -----------------------------------------------------------------------------------
    async def check_phone(self, interface: str) -> None:
        """An agent whose phone is not registered may not take calls: the queue would ring nothing.
        Unknown to the tracker yet (just connected, never seen), Asterisk is asked."""
        agent = self.tracker.agents.get(interface)
        registered = agent.registered if agent is not None else None
        if registered is None:
            reply = await self.link.send("DeviceStateList")
            states = {
                str(i.get("Device")): str(i.get("State"))
                for i in (reply if isinstance(reply, list) else [reply])
                if i.get("Event") == "DeviceStateChange"
            }
            registered = reachable(states.get(interface, ""))
        if not registered:
            raise PhoneNotRegistered(
                f"your phone ({interface.removeprefix('PJSIP/')}) is not registered: start your softphone "
                "or desk phone and sign it in with its own SIP user and password, then try again"
            )

    async def login(self, interface: str, member_name: str, queues: Mapping[str, int]) -> None:
        """Join each queue with the agent's penalty there (their skill, cti/queues_conf.py)."""
        await self.check_phone(interface)
        for queue, penalty in sorted(queues.items()):
            await self.join_queue(interface, member_name, queue, penalty)

    async def join_queue(self, interface: str, member_name: str, queue: str, penalty: int) -> None:
        try:
            await self.link.send(
                "QueueAdd",
                Queue=queue,
                Interface=interface,
                MemberName=member_name,
                StateInterface=interface,
                Penalty=penalty,
                Paused="false",
            )
        except AmiError as exc:
            if "Already there" not in str(exc):
                raise
            # already a member (a second login, or astdb kept them): the penalty is still today's
            await self.link.send("QueuePenalty", Queue=queue, Interface=interface, Penalty=penalty)

    async def logout(self, interface: str) -> None:
        agent = self.tracker.agents.get(interface)
        for queue in list(agent.queues if agent else []):
            with contextlib.suppress(AmiError):
                await self.link.send("QueueRemove", Queue=queue, Interface=interface)

    async def pause(self, interface: str, reason: str) -> None:
        await self.link.send("QueuePause", Interface=interface, Paused="true", Reason=reason)

    async def ready(self, interface: str) -> None:
        await self.check_phone(interface)
        timer = self._wrapup_timers.pop(interface, None)
        if timer is not None:
            timer.cancel()
        await self.link.send("QueuePause", Interface=interface, Paused="false")

    def _own_channel(self, interface: str, linkedid: str) -> str:
        channel = self.tracker.leg_of(linkedid, interface)
        if channel is None:
            raise ControlError("no such call on your phone")
        return channel

    async def hangup(self, interface: str, linkedid: str) -> None:
        await self.link.send("Hangup", Channel=self._own_channel(interface, linkedid), Cause=16)

    async def transfer(self, interface: str, linkedid: str, target: str, attended: bool) -> None:
        channel = self._own_channel(interface, linkedid)
        exten = self.transfer_exten(target)
        if attended:
            await self.link.send("Atxfer", Channel=channel, Exten=exten, Context="plateau-transfer")
        else:
            await self.link.send("BlindTransfer", Channel=channel, Exten=exten, Context="plateau-transfer")

    def transfer_exten(self, target: str) -> str:
        """An agent extension (7001…) as it is, any other number in E.164 (validated, never raw)."""
        target = target.strip()
        if target.isdigit() and len(target) == 4 and target.startswith("7"):
            return target
        return parse(target, self.settings.default_region).e164

    async def hold(self, interface: str, linkedid: str) -> None:
        channel = self._own_channel(interface, linkedid)
        customer = self.tracker.other_leg(linkedid, interface)
        if customer is None:
            raise ControlError("nobody to hold on this call")
        await self.link.send(
            "Redirect",
            Channel=customer,
            ExtraChannel=channel,
            Context="plateau-hold",
            Exten="customer",
            ExtraContext="plateau-hold",
            ExtraExten="agent",
            Priority=1,
            ExtraPriority=1,
        )

    async def send_to_survey(self, interface: str, linkedid: str) -> None:
        """The customer goes to the post-call survey (`[plateau-survey]`); the agent's leg ends with the
        bridge. The call keeps its Linkedid, so the answers are stored with it."""
        self._own_channel(interface, linkedid)
        customer = self.tracker.other_leg(linkedid, interface)
        if customer is None:
            raise ControlError("nobody to survey on this call")
        await self.link.send("Redirect", Channel=customer, Context="plateau-survey", Exten="s", Priority=1)

    def queue_of(self, linkedid: str) -> str | None:
        call = self.tracker.calls.get(linkedid)
        return call.queue if call is not None else None

    async def unhold(self, interface: str, linkedid: str) -> None:
        channel = self._own_channel(interface, linkedid)
        customer = self.tracker.other_leg(linkedid, interface)
        if customer is None:
            raise ControlError("nobody on hold on this call")
        await self.link.send("Bridge", Channel1=customer, Channel2=channel, Tone="no")

    async def pause_recording(self, interface: str, linkedid: str, paused: bool, user_id: int | None) -> None:
        """Pause (or resume) the recording of the agent's own call: it runs on the caller's channel."""
        self._own_channel(interface, linkedid)
        customer = self.tracker.other_leg(linkedid, interface)
        if customer is None:
            raise ControlError("no recording on this call")
        await self.recorder.mute(customer, linkedid, paused, user_id=user_id, source="desk")

    async def start_recording(self, interface: str, linkedid: str, user_id: int | None) -> None:
        """Start the `on_demand` recording of the agent's own call (it waits muted since the bridge)."""
        self._own_channel(interface, linkedid)
        try:
            await self.recorder.start(linkedid, user_id=user_id)
        except LookupError as exc:
            raise ControlError(str(exc)) from None

    async def click_to_call(self, interface: str, number: str, caller_id: str | None = None) -> str:
        """Ring the agent's phone first, then the customer. Returns the call's ChannelId (its Linkedid)."""
        e164 = parse(number, self.settings.default_region).e164
        channel_id = f"c2c-{uuid.uuid4().hex[:16]}"
        await self.link.originate(
            channel=interface,
            context="plateau-click-to-call",
            exten=e164,
            channel_id=channel_id,
            caller_id=caller_id or self.settings.outbound_caller_id,
            timeout_ms=30_000,
            variables=AUTO_ANSWER,  # the agent asked for this call: their browser phone takes it at once
        )
        return channel_id

    async def spy(self, supervisor: str, target: str, mode: str) -> str:
        """Ring the supervisor's phone into ChanSpy on the agent's channel: listen, whisper or barge."""
        if mode not in SPY_MODES:
            raise ValueError(f"mode: one of {', '.join(SPY_MODES)}")
        if self.tracker.call_of_agent(target) is None:
            raise ControlError("this agent is not on a call")
        channel_id = f"spy-{uuid.uuid4().hex[:16]}"
        await self.link.originate(
            channel=supervisor,
            context="plateau-spy",
            exten=mode,
            channel_id=channel_id,
            caller_id=f'"Supervision" <{mode}>',
            variables={"SPY_TARGET": target, **AUTO_ANSWER},
            timeout_ms=20_000,
        )
        return channel_id

    # -- what the KPIs and the wallboard need from calls not in the history yet ----------------------------
    def _forget_ended(self, now: float) -> None:
        while self._ended_recently:
            linkedid, (at, _) = next(iter(self._ended_recently.items()))
            if now - at < RECENT_ENDED_S:
                break
            del self._ended_recently[linkedid]

    def recently_ended(self, now: float) -> list[CallRecord]:
        """Calls ended in the last few minutes (RECENT_ENDED_S): the history may not hold them yet."""
        self._forget_ended(now)
        return [rec for _, rec in self._ended_recently.values()]

    def user_id(self, interface: str | None) -> int | None:
        info = self.directory.get(interface)
        return info.user_id if info else None

    def call_views(self) -> list[dict[str, Any]]:
        """Calls an agent is on, as the wallboard's "current call" shows them: the caller (number, and the
        contact their number matched), the queue and when the agent answered."""
        out = []
        for call in list(self.tracker.calls.values()):
            if not (call.agent or call.first_agent):
                continue
            out.append(
                {
                    "type": "call_live",
                    "linkedid": call.linkedid,
                    "caller": {
                        "number": call.caller.number,
                        "name": call.caller.name,
                        "withheld": call.caller.withheld,
                    },
                    "contact": self.screenpop.contact_name(call.linkedid),
                    "queue": call.queue,
                    "agent": call.agent or call.first_agent,
                    "answered_at": call.answered_at,
                }
            )
        return out

    # -- snapshots for (re)connecting browsers ---------------------------------------------------------------
    async def snapshot(self, who: Principal) -> list[dict[str, Any]]:
        mine = interface_of(who.sip_endpoint)
        supervising = who.role in ("supervisor", "manager", "admin")
        items: list[dict[str, Any]] = []
        for view in self.tracker.agent_views():  # a supervisor sees their team's agents, as over REST
            if view.agent == mine or oversees(who, (self._team_of(view.agent),)):
                items.append(to_wire(view, self._agent_fields(view.agent)))
        items.extend(to_wire(p) for p in self.tracker.phone_views() if supervising or p.agent == mine)
        if supervising:
            items.extend(to_wire(q) for q in self.tracker.queue_views(time.time()))
            items.extend(self.call_views())
        items.extend(self.screenpop.snapshot_for(mine))
        items.append({"type": "pbx_link", "up": self.link.ready, "reason": self.link.stats.last_error or ""})
        return items

    def health(self) -> dict[str, Any]:
        if not self.settings.ami_enabled:
            return {"ok": True, "enabled": False}
        return {
            "enabled": True,
            **self.link.status(),
            "calls": len(self.tracker.calls),
            "history_written": self.history.written,
        }

    def history_health(self) -> dict[str, Any]:
        """The history writer: `ok` false while finished calls wait in memory (database away or full)."""
        return self.history.health()


__all__ = ["AmiError", "AmiUnavailable", "ControlError", "CtiService", "PhoneNotRegistered"]
