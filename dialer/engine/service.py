"""The live dialer service: the shells of the engine put together, started and stopped with the app."""

from __future__ import annotations

import asyncio
import contextlib

from dialer.engine.attempts import Attempts
from dialer.engine.loops import CampaignLoops
from dialer.engine.monitor import MonitorView
from dialer.engine.originate import Originator
from dialer.engine.preview import Preview
from dialer.engine.state import log


class DialerService(CampaignLoops, Originator, Attempts, Preview, MonitorView):
    """Starts and stops one `CampaignLoop` per running campaign; follows the calls they place."""

    async def start(self) -> None:
        try:
            if self.leases.local:  # several nodes: each campaign's calls, when its lease is gained
                await self._recover()
        except Exception:  # the leads stay blocked by their rows: nothing is dialled twice meanwhile
            log.exception("dialer: could not adopt the calls in flight")
        self.cti.raw_listeners.append(self.on_ami)
        self.cti.bus.subscribe(self.on_event)
        self.cti.screenpop.extras.append(self.pop_fields)
        self.cti.recorder.campaign_of = self.campaign_of
        self._task = asyncio.create_task(self._supervise(), name="dialer-supervisor")

    async def stop(self) -> None:
        # calls still up are left to the next start (their rows stay): nothing is written for them now
        self.book.stop()
        with contextlib.suppress(ValueError):
            self.cti.raw_listeners.remove(self.on_ami)
        with contextlib.suppress(ValueError):
            self.cti.screenpop.extras.remove(self.pop_fields)
        tasks = [t for t in (self._task, *(lp.task for lp in self.loops.values())) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
