"""The CTI service: AMI link → tracker → bus → screen-pop, history, browsers; and the agent's call controls.

This is the I/O shell around the pure tracker. It owns the wrap-up pause (an agent whose call ends is
paused with reason `wrapup` until the disposition is saved or the wrap-up time runs out) and turns REST
requests into AMI actions on the agent's own calls only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from core.bus import (
    Bus,
)
from core.db import Database
from core.directory import AgentDirectory
from core.errors import NotFound, Unavailable
from core.leases import LeaseKeeper, run_while_held
from core.recording_store import store_for
from core.settings import Settings
from cti import pbx_map
from cti.agent_controls import AgentControls, ControlError, PhoneNotRegistered
from cti.ami import AmiLink
from cti.ami_wire import AmiError, AmiEvent, AmiUnavailable
from cti.events import (
    CallRecord,
)
from cti.pbx_unit import PbxUnit
from cti.ports import FeaturesFactory, Publisher
from cti.recorder import Recorder
from cti.service_events import EventPath
from cti.service_views import LiveViews
from cti.tracker import Tracker
from cti.trackers import TrackerSet

log = logging.getLogger(__name__)


class CtiService(EventPath, AgentControls, LiveViews):
    def __init__(
        self,
        settings: Settings,
        db: Database,
        hub: Publisher,
        features: FeaturesFactory,
        leases: LeaseKeeper | None = None,
    ) -> None:
        """`features` builds the application's parts (screen pop, history, state log) around this service:
        app/cti_wiring.py's `cti_features`. `leases`: each server's link runs only on the node holding
        `pbx:<name>` (a lone node, the default, holds them all)."""
        self.settings = settings
        self.leases = leases or LeaseKeeper.single(settings.node_name)
        self._owners: list[asyncio.Task[None]] = []
        self.db = db
        self.hub = hub
        self.bus = Bus()
        self.directory = AgentDirectory(db)
        # one unit (link + tracker) per Asterisk server; `link` and `tracker` are the first's when there is
        # one server (as before several), and `tracker` reads all of them as one when there are several
        servers = settings.pbx_list()
        self.units = [
            PbxUnit(server, settings, self.consume, self._identify, several=len(servers) > 1)
            for server in servers
        ]
        self.link = self.units[0].link
        self.tracker: Tracker | TrackerSet = (
            self.units[0].tracker
            if len(self.units) == 1
            else TrackerSet([u.tracker for u in self.units], self.home_index)
        )
        plugged = features(self)
        self.screenpop = plugged.screenpop
        self.history = plugged.history
        self.state_log = plugged.state_log
        self._background = plugged.background
        self.recorder = Recorder(settings, db, store_for(settings), self.link, self.directory)
        self.recorder.link_of_call = self.link_of_call
        self.bus.subscribe(self.screenpop.on_event)
        self.bus.subscribe(self.state_log.on_event)
        self.bus.subscribe(self.history.on_event)
        self.bus.subscribe(self.recorder.on_event)
        self.bus.subscribe(self._to_browsers)
        self.bus.subscribe(self._on_control_event)
        self._wrapup_timers: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._channels_seen = False
        # per server's lease: its Asterisk's call records are read from there on (re)connect; unset, from
        # the last call of the server written (read at the first snapshot since start or since gained)
        self._cdr_since: dict[str, float] = {}
        self._ended_recently: OrderedDict[str, tuple[float, CallRecord]] = OrderedDict()
        # called with every validated AmiEvent before the tracker (the dialer follows its own channels)
        self.raw_listeners: list[Callable[[AmiEvent], None]] = [self.recorder.on_raw]
        # run each time the AMI link is (re)established
        self.on_link_up: list[Callable[[], Awaitable[object]]] = []

    async def start(self) -> None:
        await self.directory.load()
        await self.screenpop.warm()
        if self.leases.local:  # calls a killed run left in progress: closed after the snapshot
            await self.history.load_open()  # (several nodes: each server's, when its link is gained)
        self.history.start()
        self.state_log.start()
        for job in self._background:
            self._spawn(job())
        if not self.settings.ami_enabled:
            return
        if self.leases.local:  # one node: every link is its own, started here as before
            for unit in self.units:
                unit.owned = True
                await unit.start()
            return
        for unit in self.units:
            work = partial(self._own, unit)
            self._owners.append(asyncio.create_task(run_while_held(self.leases, unit.lease, work)))

    async def _own(self, unit: PbxUnit) -> None:
        """While this node holds the server's lease: its link runs, and with it everything its events drive
        (history, pops, the dialer's calls there). A loss stops the link at once (fencing)."""
        unit.owned = True
        log.info("cti: this node owns the link to %s", unit.lease)
        # the notes of the server's calls the previous owner left in progress: read after the first snapshot
        self.history.adopting.add(unit.lease)
        try:
            await unit.start()
            await asyncio.Event().wait()  # until the lease is lost (cancelled)
        finally:
            unit.owned = False
            await unit.stop()
            self._forget(unit)
            log.warning("cti: this node no longer owns the link to %s", unit.lease)

    def _forget(self, unit: PbxUnit) -> None:
        """What this node knew of a server it no longer owns is the new owner's: nothing more is written
        from it here (the notes of its calls in progress stay in the database for the new owner)."""
        prefix = self.calls_prefix(unit)
        unit.forget_calls()
        self._cdr_since.pop(unit.lease, None)  # the next owner writes what ends from now on
        if isinstance(self.tracker, TrackerSet):
            self.tracker.trackers[self.units.index(unit)] = unit.tracker
        else:
            self.tracker = unit.tracker
        if prefix is not None:
            self.history.forget(prefix)

    async def stop(self) -> None:
        for task in self._owners:
            task.cancel()
        for task in self._owners:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._owners = []
        for unit in self.units:
            await unit.stop()
        for task in [*self._wrapup_timers.values(), *self._tasks]:
            task.cancel()
        await self.recorder.stop()
        await self.history.stop()
        await self.state_log.stop()
        await self.screenpop.close()

    # -- which server is whose -------------------------------------------------------------------------------
    def _identify(self, unit: PbxUnit, system_name: str) -> str | None:
        others = [u.link.system_name for u in self.units if u is not unit and u.ready]
        return pbx_map.refusal(system_name, others, several=len(self.units) > 1)

    def home_index(self, interface: str) -> int:
        info = self.directory.get(interface)
        return pbx_map.home(info.pbx if info else None, [u.name for u in self.units])

    def unit_of(self, interface: str) -> PbxUnit:
        """The server an agent's phone registers on (the user's `pbx`; the first server by default)."""
        return self.units[self.home_index(interface)] if len(self.units) > 1 else self.units[0]

    def link_for(self, interface: str) -> AmiLink:
        unit = self.unit_of(interface)
        if not unit.owned and not self.leases.local:
            raise AmiUnavailable(f"the link to {unit.lease} is run by another node, or by none right now")
        return unit.link

    def link_of_call(self, linkedid: str) -> AmiLink:
        """The link of the server a call is on: the one whose systemname starts its id, else the first."""
        return self.units[pbx_map.server_of_id(linkedid, [u.id_prefix for u in self.units])].link

    def calls_prefix(self, unit: PbxUnit) -> str | None:
        """What starts the ids of `unit`'s calls: every id with one server, else its systemname's prefix
        (None until it has answered)."""
        return "" if len(self.units) == 1 else unit.id_prefix

    def unit_named(self, name: str) -> PbxUnit | None:
        return next((u for u in self.units if u.name == name), None)

    def id_prefix_of(self, name: str) -> str:
        """The prefix of server `name`'s call ids, for reports of that server alone (`?pbx=`)."""
        unit = self.unit_named(name)
        if unit is None:
            raise NotFound(f"pbx: no server named {name!r}")
        if unit.id_prefix is None:
            raise Unavailable(f"pbx: {name} has not answered yet; its call ids are not known")
        return unit.id_prefix


__all__ = ["AmiError", "AmiUnavailable", "ControlError", "CtiService", "PhoneNotRegistered"]
