"""Several nodes on one PostgreSQL: the browser messages this node's CTI publishes (pops, agent states, calls,
queues) reach the desks and wallboards connected to the other nodes, through core/bus_relay.py.

Here is what core must not know: the wire form of a hub message (its audience and payload) and what a gap
means for the browsers (their sockets are closed; they reconnect and take a fresh snapshot). And what makes
that snapshot the whole centre's: each node sends its full state now and then, the others mirror it
(`ClusterView`, app/cluster_mirror.py). And controls for an agent whose server another node runs, asked of
that node and answered over the same bus (`ControlForwarder`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from app.cluster_mirror import Mirror
from app.ws_hub import Hub
from core.bus import (
    Message,
    Principal,
    ToAgent,
    ToAgentAndStaff,
    ToAgentAndSupervisors,
    ToAgentsAndSupervisors,
    ToSupervisors,
)
from core.bus_relay import BusRelay, relay_id
from core.settings import Settings
from cti.agent_controls import forwarded_error_name, raised_again
from cti.ami_wire import AmiUnavailable
from cti.service import CtiService

log = logging.getLogger(__name__)

RESYNC_CLOSE = (1012, "events missed; reconnect to resync")


# as the hub's json.dumps(default=str) writes them: datetimes and dataclasses through str()
_ORJSON = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


@dataclass(frozen=True, slots=True)
class StateFrame:
    """A node's full browser-facing state per PBX: what its snapshot could show anyone, with audiences."""

    groups: dict[str, list[Message]]


@dataclass(frozen=True, slots=True)
class StateWanted:
    """A node asks the others for their StateFrame (it started, or missed events)."""


@dataclass(frozen=True, slots=True)
class NodeLeaving:
    """A node stops cleanly: the others drop its mirrored state at once rather than after the bound."""


@dataclass(frozen=True, slots=True)
class ControlAsked:
    """A control for an agent of a server this node does not run: done by the node that runs it."""

    id: str
    lease: str  # `pbx:<name>` of the server
    control: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ControlDone:
    id: str
    result: Any = None
    error: list[str] | None = None  # [the exception's class name, its message]


BusEvent = Message | StateFrame | StateWanted | NodeLeaving | ControlAsked | ControlDone

Audience = ToAgent | ToSupervisors | ToAgentAndSupervisors | ToAgentAndStaff | ToAgentsAndSupervisors


def _audience_wire(a: Audience) -> list[Any]:
    if isinstance(a, ToAgent):
        return ["agent", a.interface]
    if isinstance(a, ToAgentAndSupervisors):
        return ["agent+sup", a.interface, a.team_id]
    if isinstance(a, ToAgentAndStaff):
        return ["agent+staff", a.interface]
    if isinstance(a, ToAgentsAndSupervisors):
        return ["agents+sup", sorted(a.interfaces), sorted(a.team_ids, key=lambda t: (t is None, t or 0))]
    if isinstance(a, ToSupervisors):
        return ["sup"]
    raise TypeError(f"no wire form for the audience {type(a).__name__}")


def _audience(wire: Any) -> Audience:
    kind, *args = wire
    if kind == "agent":
        return ToAgent(str(args[0]))
    if kind == "agent+sup":
        return ToAgentAndSupervisors(str(args[0]), args[1])
    if kind == "agent+staff":
        return ToAgentAndStaff(str(args[0]))
    if kind == "agents+sup":
        return ToAgentsAndSupervisors(frozenset(args[0]), frozenset(args[1]))
    if kind == "sup":
        return ToSupervisors()
    raise ValueError(f"unknown audience {kind!r}")


def _message(wire: Any) -> Message:
    audience, payload = wire
    if not isinstance(payload, dict):
        raise ValueError("a payload is an object")
    return Message(_audience(audience), payload)


def encode(event: BusEvent) -> bytes:
    """A hub message as UTF-8 JSON, `{"a": <audience>, "p": <payload>}`; a state frame as
    `{"s": {<pbx>: [[<audience>, <payload>], …]}}`; `{"q": 1}` asks for them; `{"bye": 1}` says goodbye;
    a control asked or done: `{"c": "asked" | "done", …}`."""
    body: dict[str, Any]
    if isinstance(event, Message):
        body = {"a": _audience_wire(event.audience), "p": event.payload}
    elif isinstance(event, StateFrame):
        body = {
            "s": {
                pbx: [[_audience_wire(m.audience), m.payload] for m in messages]
                for pbx, messages in event.groups.items()
            }
        }
    elif isinstance(event, StateWanted):
        body = {"q": 1}
    elif isinstance(event, NodeLeaving):
        body = {"bye": 1}
    elif isinstance(event, ControlAsked):
        body = {"c": "asked", "id": event.id, "lease": event.lease, "control": event.control}
        body["arguments"] = event.arguments
    elif isinstance(event, ControlDone):
        body = {"c": "done", "id": event.id, "result": event.result, "error": event.error}
    else:
        raise TypeError(f"no wire form for {type(event).__name__}")
    return orjson.dumps(body, default=str, option=_ORJSON)


def decode(body: Any) -> BusEvent:
    """The inverse of `encode`, from the parsed JSON; raises on anything else."""
    if body.get("c") == "asked":
        control, arguments = str(body["control"]), dict(body["arguments"])
        return ControlAsked(str(body["id"]), str(body["lease"]), control, arguments)
    if body.get("c") == "done":
        error = body.get("error")
        return ControlDone(str(body["id"]), body.get("result"), [str(e) for e in error] if error else None)
    if "a" in body:
        return _message((body["a"], body["p"]))
    if "s" in body:
        return StateFrame({str(pbx): [_message(m) for m in ms] for pbx, ms in body["s"].items()})
    if "q" in body:
        return StateWanted()
    if "bye" in body:
        return NodeLeaving()
    raise ValueError("not a bus event")


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

    def deliver(self, item: ControlAsked | ControlDone) -> None:
        if isinstance(item, ControlAsked):
            cti = self.cti
            if cti is not None and any(u.owned and u.lease == item.lease for u in cti.units):
                task = asyncio.get_running_loop().create_task(self._do(cti, item))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            return
        future = self._waiting.get(item.id)
        if future is None or future.done():
            return  # another node's, or given up
        if item.error is None:
            future.set_result(item.result)
        else:
            name, message = item.error
            future.set_exception(raised_again(name, message))

    async def _do(self, cti: CtiService, asked: ControlAsked) -> None:
        try:
            done = ControlDone(asked.id, await cti.run_forwarded(asked.control, asked.arguments))
        except Exception as exc:  # given back to the node that asked, as it would have been raised there
            done = ControlDone(asked.id, error=[forwarded_error_name(exc), str(exc)])
        if self.relay is not None:
            self.relay.offer(done)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


OwnSnapshot = Callable[[Principal, str | None], Awaitable[list[dict[str, Any]]]]


class ClusterView:
    """This node's part in the centre-wide snapshot: its own state sent to the others (every
    `every_s`, and when one asks), theirs mirrored (app/cluster_mirror.py), both in every snapshot here."""

    def __init__(self, hub: Hub, every_s: float, controls: ControlForwarder | None = None) -> None:
        self.hub = hub
        self.every_s = every_s
        self.controls = controls
        self.mirror = Mirror(stale_after_s=3 * every_s)
        self.relay: BusRelay | None = None
        self._own: OwnSnapshot | None = None
        self._state: Callable[[], dict[str, list[Message]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._answer_due = False
        self._asked_at = -math.inf
        self.frames_sent = 0
        self.heard = 0  # the other nodes' messages for the browsers here

    # -- what the relay hands over --------------------------------------------------------------------------
    def deliver(self, sender: str, event: Any) -> None:
        now = time.monotonic()
        if isinstance(event, Message):
            self.heard += 1
            self.hub.publish(event)
            if self.mirror.delta(sender, event, now):
                self.ask(now)
        elif isinstance(event, StateFrame):
            self.mirror.frame(sender, event.groups, now)
        elif isinstance(event, StateWanted):
            self._answer_soon()
        elif isinstance(event, NodeLeaving):
            self.mirror.forget(sender)
        elif isinstance(event, ControlAsked | ControlDone) and self.controls is not None:
            self.controls.deliver(event)

    def on_gap(self) -> None:
        """Events were missed: the desks here resync, from a mirror the others refresh at once."""
        self.ask(time.monotonic(), force=True)
        self._answer_soon()  # they may have missed ours too
        resync_desks(self.hub)

    def ask(self, now: float, force: bool = False) -> None:
        """Ask every node for its full state (at most once a second unless forced)."""
        if self.relay is not None and (force or now - self._asked_at >= 1.0):
            self._asked_at = now
            self.relay.offer(StateWanted())

    def _answer_soon(self) -> None:
        if not self._answer_due:  # several requests in one burst: one frame
            self._answer_due = True
            asyncio.get_running_loop().call_soon(self.send_state)

    def send_state(self) -> None:
        """This node's full state, offered now: in the stream, after every delta already offered."""
        self._answer_due = False
        if self.relay is None or self._state is None or not self.relay.connected:
            return  # PostgreSQL away: no stale frames piling up in the backlog; a fresh one follows the gap
        try:
            frame = StateFrame(self._state())
        except Exception:  # a bug must not end the periodic frames: the others would drop this node
            log.exception("bus: this node's state could not be read")
            return
        self.relay.offer(frame)
        self.frames_sent += 1

    # -- life ----------------------------------------------------------------------------------------------
    async def start(self, own: OwnSnapshot, state: Callable[[], dict[str, list[Message]]]) -> None:
        """`own`: this node's snapshot for one user; `state`: its full state per PBX, with audiences."""
        self._own, self._state = own, state
        self.ask(time.monotonic(), force=True)
        self._task = asyncio.create_task(self._periodically(), name="cluster-state")

    async def _periodically(self) -> None:
        if self.relay is not None:  # the first frame as soon as the bus is up
            with contextlib.suppress(TimeoutError):
                await self.relay.wait_up(self.every_s)
        while True:
            self.send_state()
            self.mirror.prune(time.monotonic())  # a gone node's state is not kept until the next snapshot
            await asyncio.sleep(self.every_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.relay is not None and self.relay.connected:
            self.relay.offer(NodeLeaving())
            await self.relay.flush(1.0)  # best effort: else the others drop our state after the bound

    # -- what this node shows -------------------------------------------------------------------------------
    async def snapshot(self, who: Principal, pbx: str | None = None) -> list[dict[str, Any]]:
        """What the other nodes' snapshots show `who`, then this node's (of one PBX with `pbx`)."""
        own = await self._own(who, pbx) if self._own is not None else []
        # this node's items last: an item both show (a PBX just moved here) is keyed alike, and the last wins
        return self.mirror.snapshot(who, time.monotonic(), pbx) + own

    def replay(self, who: Principal) -> list[Message]:
        return self.mirror.replay(who, time.monotonic())

    def link_elsewhere(self, pbx: str) -> dict[str, Any] | None:
        """The pbx_link of server `pbx` as the node running its link last said (None: no live node says)."""
        latest = {o: p for o, p in self.mirror.payloads("pbx_link", time.monotonic()) if p.get("pbx") == pbx}
        # a node killed while running it says "up" until its state goes stale: any node saying up is right
        # for that while, since the link moves within the leases' bound
        return next((p for p in latest.values() if p.get("up")), next(iter(latest.values()), None))

    def health(self) -> dict[str, Any]:
        mirrored = self.mirror.status(time.monotonic())
        return {"frames_sent": self.frames_sent, "heard": self.heard, "mirrored": mirrored}


class _Views(Protocol):
    units: Sequence[Any]

    def state_messages(self, pbx: str | None = None) -> list[Message]: ...

    def link_messages(self, pbx: str) -> list[Message]: ...


def state_by_pbx(cti: _Views) -> dict[str, list[Message]]:
    """This node's full browser-facing state, per PBX (each name once: several nodes' items are told apart
    by the browsers by their ids, a mirror by its origin and PBX). A PBX whose link runs elsewhere is empty
    here: its tracker was reset when the link left (cti/service.py `_forget`)."""
    return {unit.name: cti.state_messages(unit.name) + cti.link_messages(unit.name) for unit in cti.units}


def resync_desks(hub: Hub) -> None:
    """Events were missed: every socket of this node closes, and its browser reconnects to a snapshot."""
    for conn in hub.connected(lambda _who: True):
        hub.close(conn, *RESYNC_CLOSE)


def cluster_relay(
    settings: Settings, hub: Hub, controls: ControlForwarder | None = None
) -> tuple[BusRelay, ClusterView] | None:
    """The relay of this node and its view of the others, or None when the bus stays in-process (the
    default, and always on SQLite); `controls`: what carries the controls for servers another node runs."""
    if not settings.cluster_bus or settings.is_sqlite:
        return None
    view = ClusterView(hub, settings.cluster_state_every_s, controls)
    view.relay = BusRelay(
        settings.database_url,
        node=relay_id(settings.node_name),
        encode=encode,
        decode=decode,
        deliver=view.deliver,
        on_gap=view.on_gap,
    )
    if controls is not None:
        controls.relay = view.relay
    return view.relay, view
