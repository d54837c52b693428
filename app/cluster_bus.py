"""Several nodes on one PostgreSQL: the browser messages this node's CTI publishes (pops, agent states, calls,
queues) reach the desks and wallboards connected to the other nodes, through core/bus_relay.py.

Here is what core must not know: the wire form of a hub message (its audience and payload) and what a gap
means for the browsers (their sockets are closed; they reconnect and take a fresh snapshot).
"""

from __future__ import annotations

from typing import Any

import orjson

from app.ws_hub import Hub
from core.bus import Message, ToAgent, ToAgentAndSupervisors, ToAgentsAndSupervisors, ToSupervisors
from core.bus_relay import BusRelay, relay_id
from core.settings import Settings

RESYNC_CLOSE = (1012, "events missed; reconnect to resync")


# as the hub's json.dumps(default=str) writes them: datetimes and dataclasses through str()
_ORJSON = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def encode(message: Message) -> bytes:
    """A hub message as UTF-8 JSON: `{"a": <audience>, "p": <payload>}`."""
    a = message.audience
    audience: list[Any]
    if isinstance(a, ToAgent):
        audience = ["agent", a.interface]
    elif isinstance(a, ToAgentAndSupervisors):
        audience = ["agent+sup", a.interface, a.team_id]
    elif isinstance(a, ToAgentsAndSupervisors):
        audience = ["agents+sup", sorted(a.interfaces), sorted(a.team_ids, key=lambda t: (t is None, t or 0))]
    elif isinstance(a, ToSupervisors):
        audience = ["sup"]
    else:
        raise TypeError(f"no wire form for the audience {type(a).__name__}")
    return orjson.dumps({"a": audience, "p": message.payload}, default=str, option=_ORJSON)


def decode(body: Any) -> Message:
    """The inverse of `encode`, from the parsed JSON; raises on anything else."""
    kind, *args = body["a"]
    audience: ToAgent | ToSupervisors | ToAgentAndSupervisors | ToAgentsAndSupervisors
    if kind == "agent":
        audience = ToAgent(str(args[0]))
    elif kind == "agent+sup":
        audience = ToAgentAndSupervisors(str(args[0]), args[1])
    elif kind == "agents+sup":
        audience = ToAgentsAndSupervisors(frozenset(args[0]), frozenset(args[1]))
    elif kind == "sup":
        audience = ToSupervisors()
    else:
        raise ValueError(f"unknown audience {kind!r}")
    payload = body["p"]
    if not isinstance(payload, dict):
        raise ValueError("a payload is an object")
    return Message(audience, payload)


class ClusterPublisher:
    """What the CTI publishes goes to this node's browsers and, through the relay, to the other nodes'.

    Messages heard from the other nodes go straight to the hub (`BusRelay.deliver`), never through here:
    that is what keeps them from being relayed again."""

    def __init__(self, hub: Hub, relay: BusRelay) -> None:
        self.hub = hub
        self.relay = relay

    def publish(self, message: Message) -> None:
        self.hub.publish(message)
        self.relay.offer(message)


def resync_desks(hub: Hub) -> None:
    """Events were missed: every socket of this node closes, and its browser reconnects to a snapshot."""
    for conn in hub.connected(lambda _who: True):
        hub.close(conn, *RESYNC_CLOSE)


def cluster_relay(settings: Settings, hub: Hub) -> BusRelay | None:
    """The relay of this node, or None when the bus stays in-process (the default, and always on SQLite)."""
    if not settings.cluster_bus or settings.is_sqlite:
        return None
    return BusRelay(
        settings.database_url,
        node=relay_id(settings.node_name),
        encode=encode,
        decode=decode,
        deliver=hub.publish,
        on_gap=lambda: resync_desks(hub),
    )
