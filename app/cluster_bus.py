"""Several nodes on one PostgreSQL: the browser messages this node's CTI publishes (pops, agent states, calls,
queues) reach the desks and wallboards connected to the other nodes, through core/bus_relay.py.

Here is what core must not know: the wire form of a hub message (its audience and payload) and what a gap
means for the browsers (their sockets are closed; they reconnect and take a fresh snapshot).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from app.ws_hub import Hub
from core.bus import Message, ToAgent, ToAgentAndSupervisors, ToAgentsAndSupervisors, ToSupervisors
from core.bus_relay import BusRelay, relay_id
from core.settings import Settings
from cti.agent_controls import FORWARDED_ERRORS
from cti.ami_wire import AmiError, AmiUnavailable
from cti.service import CtiService

log = logging.getLogger(__name__)

RESYNC_CLOSE = (1012, "events missed; reconnect to resync")


# as the hub's json.dumps(default=str) writes them: datetimes and dataclasses through str()
_ORJSON = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


@dataclass(frozen=True)
class ControlAsked:
    """A control for an agent of a server this node does not run: done by the node that runs it."""

    id: str
    lease: str  # `pbx:<name>` of the server
    control: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ControlDone:
    id: str
    result: Any = None
    error: list[str] | None = None  # [the exception's class name, its message]


def encode(message: Message | ControlAsked | ControlDone) -> bytes:
    """A hub message as UTF-8 JSON: `{"a": <audience>, "p": <payload>}`; a control asked or done:
    `{"c": "asked" | "done", ...}`."""
    if isinstance(message, ControlAsked):
        body = {"c": "asked", "id": message.id, "lease": message.lease, "control": message.control}
        return orjson.dumps(body | {"arguments": message.arguments}, default=str, option=_ORJSON)
    if isinstance(message, ControlDone):
        body = {"c": "done", "id": message.id, "result": message.result, "error": message.error}
        return orjson.dumps(body, default=str, option=_ORJSON)
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


def decode(body: Any) -> Message | ControlAsked | ControlDone:
    """The inverse of `encode`, from the parsed JSON; raises on anything else."""
    if body.get("c") == "asked":
        control, arguments = str(body["control"]), dict(body["arguments"])
        return ControlAsked(str(body["id"]), str(body["lease"]), control, arguments)
    if body.get("c") == "done":
        error = body.get("error")
        return ControlDone(str(body["id"]), body.get("result"), [str(e) for e in error] if error else None)
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


class ControlForwarder:
    """Controls (cti/agent_controls.py) for a server another node runs: asked over the bus, done by the node
    that runs its link, and its result or error sent back to the node that asked (a request and its reply
    on the relay). Every node hears a request; only the one running the server answers it."""

    def __init__(self, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s
        self.relay: BusRelay | None = None
        self.cti: CtiService | None = None
        self._waiting: dict[str, asyncio.Future[Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def forward(self, lease: str, control: str, arguments: dict[str, Any]) -> Any:
        assert self.relay is not None
        asked = ControlAsked(uuid.uuid4().hex, lease, control, arguments)
        future = self._waiting[asked.id] = asyncio.get_running_loop().create_future()
        try:
            self.relay.offer(asked)
            return await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError:
            raise AmiUnavailable(f"no node runs the link to {lease} now; try again in a moment") from None
        finally:
            self._waiting.pop(asked.id, None)

    def deliver(self, hub: Hub, item: Message | ControlAsked | ControlDone) -> None:
        if isinstance(item, ControlAsked):
            cti = self.cti
            if cti is not None and any(u.owned and u.lease == item.lease for u in cti.units):
                task = asyncio.get_running_loop().create_task(self._do(cti, item))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        elif isinstance(item, ControlDone):
            future = self._waiting.get(item.id)
            if future is None or future.done():
                return  # another node's, or given up
            if item.error is None:
                future.set_result(item.result)
            else:
                name, message = item.error
                future.set_exception(FORWARDED_ERRORS.get(name, AmiError)(message))
        else:
            hub.publish(item)

    async def _do(self, cti: CtiService, asked: ControlAsked) -> None:
        try:
            done = ControlDone(asked.id, await cti.run_forwarded(asked.control, asked.arguments))
        except Exception as exc:  # given back to the node that asked, as it would have been raised there
            done = ControlDone(asked.id, error=[type(exc).__name__, str(exc)])
        if self.relay is not None:
            self.relay.offer(done)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def cluster_relay(settings: Settings, hub: Hub, controls: ControlForwarder | None = None) -> BusRelay | None:
    """The relay of this node, or None when the bus stays in-process (the default, and always on SQLite);
    `controls`: what carries the controls for servers another node runs."""
    if not settings.cluster_bus or settings.is_sqlite:
        return None
    relay = BusRelay(
        settings.database_url,
        node=relay_id(settings.node_name),
        encode=encode,
        decode=decode,
        deliver=hub.publish if controls is None else lambda item: controls.deliver(hub, item),
        on_gap=lambda: resync_desks(hub),
    )
    if controls is not None:
        controls.relay = relay
    return relay
