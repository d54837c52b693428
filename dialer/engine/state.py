"""The engine's shared state: constants, a campaign's loop, a preview reservation, and the base the shells
(loops, originate, attempts, preview, monitor) build on."""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.db import Database
from core.dialer_tables import Campaign, DialMode
from core.leases import LeaseKeeper
from dialer import leads_model as m
from dialer.compliance import RuleSet
from dialer.engine.call_book import CallBook, Effect, LiveCall
from dialer.engine.facts import utc_now
from dialer.engine.ports import AmiLinkPort, CtiPort
from dialer.leads import Selection
from dialer.pacing import AbandonMeasure, PacingStats, Policy

log = logging.getLogger("dialer.engine")

PREVIEW_HOLD_S = 120.0  # a previewed lead stays with its agent this long without a click
PREVIEW_SKIP_S = 600.0  # a skipped lead is not shown to the same agent again for this long
POLICY_OF_MODE = {
    DialMode.preview: "preview",
    DialMode.progressive: "progressive",
    DialMode.predictive: "plateau",
}
DECISIONS_KEPT = 120  # two minutes of decisions per campaign for the monitor
ABANDON_REFRESH_S = 10.0
# Transitions wake the loops at once (agent states from the CTI bus, campaign changes from the API); these
# polls are only the safety net (a campaign changed by another process, a lost wake-up, pacing by time).
SAFETY_TICK_S = 2.0
SAFETY_POLL_S = 1.0
MIN_TICK_GAP_S = 0.1  # a burst of transitions makes one tick, not one per event


def campaign_lease(campaign_id: int) -> str:
    return f"campaign:{campaign_id}"


def campaign_of_lease(name: str) -> int | None:
    prefix, _, rest = name.partition(":")
    return int(rest) if prefix == "campaign" and rest.isdigit() else None


@dataclass
class CampaignLoop:
    campaign_id: int
    policy: Policy
    stats: PacingStats = field(default_factory=PacingStats)
    decisions: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=DECISIONS_KEPT))
    task: asyncio.Task[None] | None = None
    active: bool = True
    originated: int = 0
    abandon_today: AbandonMeasure = field(default_factory=AbandonMeasure)
    abandon_period: AbandonMeasure = field(default_factory=AbandonMeasure)
    abandon_24h: AbandonMeasure = field(default_factory=AbandonMeasure)
    abandon_loaded_at: float = -math.inf
    last_agents: dict[str, int] = field(default_factory=dict)
    queue: str | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # an agent or campaign transition: tick now


@dataclass
class Reservation:
    """A lead shown to one agent in preview: nobody else gets it until `until` (monotonic)."""

    lead_id: int
    campaign_id: int
    user_id: int
    e164: str
    until: float


class PreviewError(Exception):
    """A preview request that cannot be served; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class EngineState:
    """What every shell of the engine shares: the CTI, the database, the clock, the loops and the book."""

    def __init__(
        self,
        cti: CtiPort,
        db: Database,
        *,
        clock: Callable[[], datetime] = utc_now,
        tick_s: float = SAFETY_TICK_S,
        poll_s: float = SAFETY_POLL_S,
        ring_s: int = 20,
        leases: LeaseKeeper | None = None,
    ) -> None:
        self.cti = cti
        self.db = db
        # a campaign's loop runs, and its calls are placed, only on the node holding `campaign:<id>`
        self.leases = leases or LeaseKeeper.single()
        self.leases.on_change(self._lease_changed)
        self.clock = clock
        self.tick_s = tick_s
        self.poll_s = poll_s
        self.ring_s = ring_s
        self.loops: dict[int, CampaignLoop] = {}
        settings = getattr(cti, "settings", None)  # a service built for its reports only has no CTI
        self.book = CallBook(settings.ami_trunks if settings is not None else ())
        self.attempts_written = 0
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # the link's connect count when Asterisk refused an Originate because it is shutting down: no dial
        # until the link has connected again (to the restarted PBX), or every tick would try once more
        self._pbx_stopping_at: int | None = None
        self._wake = asyncio.Event()
        self._changed_at: dict[int, float] = {}  # campaign → when the API last changed its state
        self.reservations: dict[int, Reservation] = {}  # lead → its preview reservation
        self._skipped: dict[tuple[int, int], float] = {}  # (user, lead) → skipped until (monotonic)
        self._written: dict[str, asyncio.Event] = {}  # linkedid → set once its attempt is written

    @property
    def calls(self) -> dict[str, LiveCall]:
        return self.book.calls

    @property
    def busy_leads(self) -> set[int]:
        return self.book.busy_leads

    def _pbx_up(self) -> bool:
        """The link is up, and not to a PBX that said it is shutting down (wait for the restarted one)."""
        if self._pbx_stopping_at is not None and self.cti.link.stats.connects > self._pbx_stopping_at:
            self._pbx_stopping_at = None
        if len(self.cti.units) > 1:  # several servers: the campaign's calls go where one is up (spread.py)
            return any(unit.ready for unit in self.cti.units)
        return self.cti.link.ready and self._pbx_stopping_at is None

    def _lease_changed(self, name: str, token: int | None) -> None:
        campaign_id = campaign_of_lease(name)
        if campaign_id is None:  # a PBX link gained or lost here: which campaigns this node contends for
            self._wake.set()
            return
        loop = self.loops.get(campaign_id)
        if token is None and loop is not None:
            loop.active = False  # lost: not one more call from this node (every originate checks it)
            loop.wake.set()
        if not self.leases.local:
            if token is None:  # its calls in flight are the next holder's: their rows stay, for it to adopt
                for call in self.book.of_campaign(campaign_id):
                    self.book.release(call)
            else:  # the calls a previous holder left in flight (a lone node adopts them all at start)
                self._spawn(self._recover(campaign_id))
        self._wake.set()  # gained: the supervisor starts the loop now

    def wake(self) -> None:
        """Something changed (a campaign's state, a freed lead): every loop looks now, not at its poll."""
        self._wake.set()
        for loop in self.loops.values():
            loop.wake.set()

    def _release(self, call: LiveCall) -> None:
        self.book.release(call)
        done = self._written.pop(call.channel_id, None)
        if done is not None:
            done.set()
        self.wake()  # a line, an agent or a lead is free

    def _spawn(self, coro: Any) -> None:
        """A write off the event path, awaited by `stop`."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- implemented by the shells (the service class combines them) ---------------------------------------
    def _sweep(self) -> None:
        raise NotImplementedError

    async def _recover(self, campaign_id: int | None = None) -> None:
        raise NotImplementedError

    async def _originate(
        self,
        campaign: dict[str, Any],
        lead: m.Lead,
        e164: str,
        now: datetime,
        *,
        loop: CampaignLoop | None,
        for_agent: str | None = None,
        link: AmiLinkPort | None = None,
    ) -> LiveCall | None:
        raise NotImplementedError

    async def _candidates(
        self,
        s: Any,
        c: Campaign,
        rs: RuleSet,
        now: datetime,
        n: int,
        agents: set[int],
        exclude: set[int] | frozenset[int] = frozenset(),
        guaranteed: bool = False,
    ) -> list[Selection]:
        raise NotImplementedError

    async def _forget(self, call: LiveCall) -> None:
        raise NotImplementedError

    def _apply(self, effects: list[Effect]) -> None:
        raise NotImplementedError
