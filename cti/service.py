"""The CTI service: AMI link → tracker → bus → screen-pop, history, browsers; and the agent's call controls.

This is the I/O shell around the pure tracker. It owns the wrap-up pause (an agent whose call ends is
paused with reason `wrapup` until the disposition is saved or the wrap-up time runs out) and turns REST
requests into AMI actions on the agent's own calls only.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from core.bus import (
    Bus,
)
from core.db import Database
from core.directory import AgentDirectory
from core.recording_store import store_for
from core.settings import Settings
from cti.agent_controls import AgentControls, ControlError, PhoneNotRegistered
from cti.ami import AmiLink
from cti.ami_wire import AmiError, AmiEvent, AmiUnavailable
from cti.events import (
    CallRecord,
)
from cti.ports import FeaturesFactory, Publisher
from cti.recorder import Recorder
from cti.service_events import EventPath
from cti.service_views import LiveViews
from cti.tracker import Tracker

log = logging.getLogger(__name__)


class CtiService(EventPath, AgentControls, LiveViews):
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
            login_timeout=settings.ami_login_timeout_s,
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


__all__ = ["AmiError", "AmiUnavailable", "ControlError", "CtiService", "PhoneNotRegistered"]
