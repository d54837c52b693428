"""In-process publish/subscribe for domain events, and the audiences that route them to browsers.

An audience says who may see an event (`admits`) and for whom it is their own business (`direct`: the agent
whose phone rings or whose state changed). The hub sends the latter at once and lets onlookers (wallboards)
have theirs at its next tick.

Subscribers are plain callables run in order; one that raises is logged and the others still run.
Anything slow (database, lookups) is queued by the subscriber itself, never done inline: the bus runs on
the AMI event path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

SUPERVISING_ROLES = frozenset({"supervisor", "manager", "admin"})
_STAFF_GROUPS = tuple(f"role:{r}" for r in sorted(SUPERVISING_ROLES))


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is at the other end of a connection, as far as routing events goes."""

    user_id: int
    username: str
    role: str
    team_id: int | None = None
    sip_endpoint: str | None = None

    @property
    def routing_key(self) -> tuple[str, int | None, str | None]:
        return (self.role, self.team_id, self.sip_endpoint)


def _ep_group(interface: str) -> str:
    """The hub's group of the connections of the user on that phone (see app/ws_hub.py `_groups_of`)."""
    return "ep:" + interface.removeprefix("PJSIP/")


def interface_of(sip_endpoint: str | None) -> str | None:
    """A user's SIP endpoint (`agent1`) as Asterisk names the device and queue member (`PJSIP/agent1`)."""
    return f"PJSIP/{sip_endpoint}" if sip_endpoint else None


def oversees(who: Principal, team_ids: Iterable[int | None]) -> bool:
    """Whether `who` watches agents of those teams: a supervisor their own team's (one without a team,
    nobody's), managers and admins everyone's. Decided on the routing key alone (role and team)."""
    if who.role == "supervisor":
        return who.team_id is not None and who.team_id in team_ids
    return who.role in SUPERVISING_ROLES


@dataclass(frozen=True, slots=True)
class ToAgent:
    """Only the agent on that device: screen-pops never reach anyone else."""

    interface: str

    def admits(self, who: Principal) -> bool:
        return interface_of(who.sip_endpoint) == self.interface

    def direct(self, who: Principal) -> bool:
        return True

    def groups(self) -> tuple[str, ...]:
        return (_ep_group(self.interface),)


@dataclass(frozen=True, slots=True)
class ToSupervisors:
    def admits(self, who: Principal) -> bool:
        return who.role in SUPERVISING_ROLES

    def direct(self, who: Principal) -> bool:
        return False

    def groups(self) -> tuple[str, ...]:
        return _STAFF_GROUPS


@dataclass(frozen=True, slots=True)
class ToAgentAndSupervisors:
    """The agent on that device, and whoever oversees the agent's team."""

    interface: str
    team_id: int | None

    def admits(self, who: Principal) -> bool:
        return oversees(who, (self.team_id,)) or interface_of(who.sip_endpoint) == self.interface

    def direct(self, who: Principal) -> bool:
        return interface_of(who.sip_endpoint) == self.interface

    def groups(self) -> tuple[str, ...]:
        return (*_STAFF_GROUPS, _ep_group(self.interface))


@dataclass(frozen=True, slots=True)
class ToAgentAndStaff:
    """The agent on that device, and every supervisor, manager and admin whatever their team."""

    interface: str

    def admits(self, who: Principal) -> bool:
        return who.role in SUPERVISING_ROLES or interface_of(who.sip_endpoint) == self.interface

    def direct(self, who: Principal) -> bool:
        return interface_of(who.sip_endpoint) == self.interface

    def groups(self) -> tuple[str, ...]:
        return (*_STAFF_GROUPS, _ep_group(self.interface))


@dataclass(frozen=True, slots=True)
class ToAgentsAndSupervisors:
    interfaces: frozenset[str]
    team_ids: frozenset[int | None]

    def admits(self, who: Principal) -> bool:
        return oversees(who, self.team_ids) or interface_of(who.sip_endpoint) in self.interfaces

    def direct(self, who: Principal) -> bool:
        return interface_of(who.sip_endpoint) in self.interfaces

    def groups(self) -> tuple[str, ...]:
        return (*_STAFF_GROUPS, *(_ep_group(i) for i in self.interfaces))


@dataclass(frozen=True, slots=True)
class Message:
    """A wire message for the WebSocket hub: a JSON-ready payload and who may see it."""

    audience: ToAgent | ToSupervisors | ToAgentAndSupervisors | ToAgentAndStaff | ToAgentsAndSupervisors
    payload: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        return self.payload


class Bus:
    def __init__(self) -> None:
        self._subscribers: list[Callable[[Any], None]] = []
        self.errors = 0

    def subscribe(self, fn: Callable[[Any], None]) -> None:
        self._subscribers.append(fn)

    def publish(self, event: Any) -> None:
        for fn in self._subscribers:
            try:
                fn(event)
            except Exception:
                self.errors += 1
                log.exception("bus: subscriber %r failed on %s", fn, type(event).__name__)
