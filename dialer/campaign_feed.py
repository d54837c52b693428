"""Campaign tiles for the supervisor wallboard, pushed through the WebSocket hub.

Once a second the feed reads the running campaigns' live figures from the dialer (`live_view`: dial
level, calls in flight, waiting, connected, agents) and their abandon rates (today, and over the rule
set's period, by its definition: `dialer.engine.campaign_abandons`), and publishes a `campaign_tile`
message to supervisors **only when a tile changed**. One computation per second serves every wallboard,
however many are open; a poll per browser would multiply the database reads by the number of screens.
The abandon rates are read again only when the dialer wrote an attempt (at most every MIN_AGE_S) or
every REFRESH_S (the day's roll-over), so an idle campaign costs no query and a busy one one read in two
seconds at most. A campaign that stops running gets a last message
with `gone: true`. A wallboard that connects reads the current tiles once (`current()`, through
GET /api/v1/campaign-tiles), then follows the messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from sqlalchemy import select

from core.bus import Message, ToSupervisors
from core.db import Database
from core.dialer_tables import Campaign, CampaignState
from dialer.compliance import AbandonStats
from dialer.engine import campaign_abandons
from dialer.store import rule_set_named

log = logging.getLogger(__name__)

TILE = "campaign_tile"
REFRESH_S = 30.0  # abandon rates are re-read at least this often (midnight, the rolling period)
MIN_AGE_S = 2.0  # and at most this often, however fast a busy campaign writes attempts


def abandon_wire(st: AbandonStats | None) -> dict[str, Any] | None:
    if st is None:
        return None
    return {
        "abandoned": round(st.abandoned, 3),
        "live": round(st.live, 3),
        "rate_percent": None if st.rate_percent is None else round(st.rate_percent, 3),
        "since": st.since.isoformat(),
    }


class CampaignFeed:
    def __init__(self, dialer: Any, hub: Any, db: Database, *, interval_s: float = 1.0) -> None:
        self.dialer = dialer  # dialer.engine.DialerService
        self.hub = hub
        self.db = db
        self.interval_s = interval_s
        self.tiles: dict[int, dict[str, Any]] = {}
        self._abandons: dict[int, tuple[int, float, dict[str, Any]]] = {}  # id → (attempts seen, at, wire)
        self._task: asyncio.Task[None] | None = None

    def current(self) -> list[dict[str, Any]]:
        return [self.tiles[k] for k in sorted(self.tiles, key=lambda k: self.tiles[k]["name"])]

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="campaign-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.tick()
            except Exception:
                log.exception("campaign feed: tick failed")
            await asyncio.sleep(max(0.1, self.interval_s - (time.monotonic() - started)))

    async def tick(self) -> int:
        """Publish the tiles that changed; returns how many messages were published."""
        async with self.db.session() as s:
            running = list(await s.scalars(select(Campaign).where(Campaign.state == CampaignState.running)))
            fresh: dict[int, dict[str, Any]] = {}
            for c in running:
                fresh[c.id] = {
                    "type": TILE,
                    "campaign_id": c.id,
                    "name": c.name,
                    "state": c.state.value,
                    "dial_mode": c.dial_mode.value,
                    **self._live(c.id),
                    **await self._abandon(s, c),
                }
        sent = 0
        for cid in [k for k in self.tiles if k not in fresh]:
            gone = self.tiles.pop(cid)
            self._abandons.pop(cid, None)
            self._publish({"type": TILE, "campaign_id": cid, "name": gone["name"], "gone": True})
            sent += 1
        for cid, tile in fresh.items():
            if self.tiles.get(cid) != tile:
                self.tiles[cid] = tile
                self._publish(tile)
                sent += 1
        return sent

    def _live(self, campaign_id: int) -> dict[str, Any]:
        v = self.dialer.live_view(campaign_id) if self.dialer is not None else {}
        return {
            "running": bool(v.get("running")),
            "dial_level": v.get("dial_level"),
            "calls_in_flight": v.get("calls_in_flight", 0),
            "waiting_for_agent": v.get("waiting_for_agent", 0),
            "connected": v.get("connected", 0),
            "agents": v.get("agents", {}),
        }

    async def _abandon(self, s: Any, c: Campaign) -> dict[str, Any]:
        written = getattr(self.dialer, "attempts_written", 0)
        cached = self._abandons.get(c.id)
        age = time.monotonic() - cached[1] if cached is not None else REFRESH_S
        if cached is not None and (age < MIN_AGE_S or (cached[0] == written and age < REFRESH_S)):
            return cached[2]
        rs = await rule_set_named(s, c.rule_set)
        wire: dict[str, Any] = {
            "abandon_today": None,
            "abandon_period": None,
            "abandon_limit_percent": None,
            "abandon_period_days": None,
            "abandon_definition": None,
        }
        if rs is not None:
            now = self.dialer.clock() if self.dialer is not None else None
            if now is not None:
                today, period = await campaign_abandons(s, c.id, rs, now)
                wire |= {"abandon_today": abandon_wire(today), "abandon_period": abandon_wire(period)}
            wire |= {
                "abandon_limit_percent": rs.max_abandon_rate_percent,
                "abandon_period_days": rs.abandon_period_days,
                "abandon_definition": rs.abandon_definition,
            }
        self._abandons[c.id] = (written, time.monotonic(), wire)
        return wire

    def _publish(self, payload: dict[str, Any]) -> None:
        self.hub.publish(Message(ToSupervisors(), payload))
