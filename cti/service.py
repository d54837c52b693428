"""The CTI service: AMI link → tracker → bus → screen-pop, history, browsers; and the agent's call controls.

This is the I/O shell around the pure tracker. It owns the wrap-up pause (an agent whose call ends is
paused with reason `wrapup` until the disposition is saved or the wrap-up time runs out) and turns REST
requests into AMI actions on the agent's own calls only.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from app.agent_state_log import AgentStateLogWriter
from app.bus import Bus
from app.call_history import CallHistoryWriter
from app.db import Database
from app.directory import AgentDirectory
from app.recording_store import store_for
from app.settings import Settings
from app.unhappy_segment import SegmentCache
from app.ws_hub import Hub
from cti.agent_controls import AgentControls, ControlError, PhoneNotRegistered
from cti.ami import AmiError, AmiLink, AmiUnavailable
from cti.ami_wire import AmiEvent
from cti.events import CallRecord
from cti.recorder import Recorder
from cti.screenpop import ScreenPop
from cti.service_events import EventPath
from cti.service_views import LiveViews
from cti.tracker import Tracker


def _ivr_summary() -> Any:
    try:
        from cti.ivr.history import ivr_summary
    except ImportError:  # the IVR is optional
        return None
    return ivr_summary


class CtiService(EventPath, AgentControls, LiveViews):
    def __init__(self, settings: Settings, db: Database, hub: Hub) -> None:
        self.settings = settings
        self.db = db
        self.hub = hub
        self.bus = Bus()
        self.tracker = Tracker(
            trunks=[f"PJSIP/{t}" for t in settings.trunk_names], wrapup=settings.wrapup_enabled
        )
        self.directory = AgentDirectory(db)
        # the IVR's part of a call is only read (one more query per pop and per call) when it runs here
        summary = _ivr_summary() if settings.ivr_enabled else None
        self.unhappy = SegmentCache()  # the unhappy-customers file, for the pop's badge
        self.screenpop = ScreenPop(
            db,
            hub.publish,
            settings.default_region,
            lookup_timeout_s=settings.pop_lookup_timeout_s,
            ivr_summary=summary,
            unhappy=self.unhappy.reasons,
        )
        self.history = CallHistoryWriter(
            db,
            self.directory,
            settings.default_region,
            matches=self.screenpop.matches,
            ivr_summary=summary,
            dead_letter=settings.history_dead_letter,
            direction_of=self._direction_of,
        )
        self.link = AmiLink(
            settings.ami_host,
            settings.ami_port,
            settings.ami_user,
            settings.ami_secret.get_secret_value(),
            self.consume,
            ping_interval=settings.ami_ping_interval_s,
            ping_timeout=settings.ami_ping_timeout_s,
        )
        self.state_log = AgentStateLogWriter(db, self.directory)
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
        self._spawn(self.unhappy.run(self.db))
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
