"""One Asterisk server of the CTI: its AMI link and its tracker, started and stopped on its own.

The service (cti/service.py) holds one unit per server of PLATEAU_PBX_SERVERS and feeds every unit's events
through the same path (bus, pop, history, browsers). A unit is what the node holding the server's lease
(`pbx:<name>`) starts and stops: `start()`, `stop()`, `ready`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.settings import PbxServer, Settings
from cti import pbx_map
from cti.ami import AmiLink, QueueItem
from cti.tracker import Tracker

UNNAMED = "pbx"  # the one server of the ami_* settings, until its SystemName is read


class PbxUnit:
    def __init__(
        self,
        server: PbxServer,
        settings: Settings,
        consume: Callable[[QueueItem, PbxUnit], None],
        identify: Callable[[PbxUnit, str], str | None],
        several: bool = False,
    ) -> None:
        self.server = server
        self.settings = settings
        # while this node holds the lease `pbx:<name>` (always on one node): only then is the link started
        self.owned = False
        self.tracker = Tracker(trunks=[f"PJSIP/{t}" for t in server.trunks], wrapup=settings.wrapup_enabled)
        self.link = AmiLink(
            server.ami_host,
            server.ami_port,
            server.ami_user,
            server.ami_secret.get_secret_value(),
            lambda item: consume(item, self),
            ping_interval=settings.ami_ping_interval_s,
            ping_timeout=settings.ami_ping_timeout_s,
            login_timeout=settings.ami_login_timeout_s,
            identify=lambda system_name: identify(self, system_name),
            namespaced=several,
        )

    @property
    def name(self) -> str:
        """The configured name; for the one server of the ami_* settings, its Asterisk's SystemName."""
        return self.server.name or self.link.system_name or UNNAMED

    @property
    def lease(self) -> str:
        """The lease whose holder runs this server's link (its configured name: known before login)."""
        return f"pbx:{self.server.name or UNNAMED}"

    def forget_calls(self) -> None:
        """The link is lost to another node: what this tracker knew of the server's calls and agents is
        that node's to follow now; a fresh tracker is filled by the snapshot of the next gain."""
        self.tracker = Tracker(trunks=self.tracker.trunks, wrapup=self.settings.wrapup_enabled)

    @property
    def ready(self) -> bool:
        return self.link.ready

    @property
    def channels_in_use(self) -> int:
        return len(self.tracker.legs)

    async def start(self) -> None:
        await self.link.start()

    async def stop(self) -> None:
        await self.link.stop()

    @property
    def id_prefix(self) -> str | None:
        """The prefix of this server's call ids (None: not known yet, it has not answered)."""
        return pbx_map.id_prefix(self.link.system_name) if self.link.system_name else None

    def status(self) -> dict[str, Any]:
        return {
            "name": self.name,
            **self.link.status(),
            "calls": len(self.tracker.calls),
            "channels": self.channels_in_use,
            "channel_limit": self.server.channel_limit,
        }
