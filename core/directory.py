"""Who is behind each agent phone: Asterisk speaks of devices (`PJSIP/agent1`), Plateau of users."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select

from core.bus import interface_of
from core.db import Database
from core.models import User


@dataclass(frozen=True, slots=True)
class AgentInfo:
    user_id: int
    username: str
    display_name: str
    team_id: int | None
    interface: str
    pbx: str | None = None  # the server the phone registers on (None: the first)


class AgentDirectory:
    def __init__(self, db: Database, refresh_s: float = 30.0) -> None:
        self.db = db
        self.refresh_s = refresh_s
        self.by_interface: dict[str, AgentInfo] = {}
        self._loaded_at = 0.0

    async def load(self) -> None:
        async with self.db.session() as s:
            users = (await s.scalars(select(User).where(User.sip_endpoint.is_not(None), User.active))).all()
        table = {}
        for u in users:
            iface = interface_of(u.sip_endpoint)
            if iface:
                table[iface] = AgentInfo(u.id, u.username, u.display_name, u.team_id, iface, u.pbx)
        self.by_interface = table
        self._loaded_at = time.monotonic()

    async def refresh_if_stale(self) -> None:
        if time.monotonic() - self._loaded_at > self.refresh_s:
            await self.load()

    def get(self, interface: str | None) -> AgentInfo | None:
        return self.by_interface.get(interface or "")
