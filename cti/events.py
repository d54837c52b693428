"""Domain events the tracker emits. Plain frozen dataclasses: the bus moves them, the edges serialise them."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any

from cti.numbers import is_withheld  # one rule for what a hidden number looks like

_PHONEISH = re.compile(r"\+?[0-9*#]{1,32}")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")  # a name is one line of text: CR, LF, TAB… become a space


class AgentState(enum.StrEnum):
    logged_out = "logged_out"
    ready = "ready"
    ringing = "ringing"
    on_call = "on_call"
    wrap_up = "wrap_up"
    paused = "paused"


class Direction(enum.StrEnum):
    inbound = "inbound"
    outbound = "outbound"
    internal = "internal"


@dataclass(frozen=True, slots=True)
class CallerId:
    """Who is calling, as a stranger told us: the number is kept only if it looks like one."""

    number: str | None
    name: str | None
    withheld: bool

    @classmethod
    def from_ami(cls, num: str, name: str) -> CallerId:
        num = num.strip()
        name = unescape_c(name)
        if not name.isprintable():
            name = _CONTROLS.sub(" ", name)
        name = name.strip()
        name_out = None if is_withheld(name) else name[:200]
        if is_withheld(num):
            return cls(None, name_out, True)
        if not _PHONEISH.fullmatch(num):
            return cls(None, name_out, False)
        return cls(num, name_out, False)


def unescape_c(value: str) -> str:
    r"""Undo Asterisk's ast_escape_c on CallerIDName: `José \"Pepe\"` → `José "Pepe"`."""
    if "\\" not in value:
        return value
    out = []
    it = iter(value)
    table = {
        "n": "\n",
        "t": "\t",
        "r": "\r",
        "\\": "\\",
        '"': '"',
        "'": "'",
        "?": "?",
        "a": "\a",
        "b": "\b",
        "f": "\f",
        "v": "\v",
    }
    for ch in it:
        if ch == "\\":
            nxt = next(it, "")
            out.append(table.get(nxt, nxt))
        else:
            out.append(ch)
    return "".join(out)


def endpoint_of(channel: str) -> str:
    """`PJSIP/agent1-0000002a` → `PJSIP/agent1` (the queue member interface and device name)."""
    head, sep, _tail = channel.rpartition("-")
    return head if sep and "/" in head else channel


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call, as the contact history stores it (one row per Linkedid)."""

    linkedid: str
    direction: Direction
    caller: CallerId
    called_number: str | None
    queue: str | None
    agent: str | None  # endpoint of the first agent who answered
    offered_at: float
    answered_at: float | None
    ended_at: float
    wait_s: float | None
    talk_s: float | None
    hold_s: float
    outcome: str
    hangup_cause: int | None
    agents_rung: tuple[str, ...] = ()
    transfers: tuple[str, ...] = ()
    channel_id: str | None = None


@dataclass(frozen=True, slots=True)
class CallOffered:
    linkedid: str
    direction: Direction
    caller: CallerId
    called_number: str | None
    at: float


@dataclass(frozen=True, slots=True)
class CallQueued:
    linkedid: str
    queue: str
    position: int
    caller: CallerId
    at: float


@dataclass(frozen=True, slots=True)
class CallLeftQueue:
    linkedid: str
    queue: str
    reason: str  # answered | abandoned | left
    wait_s: float
    at: float


@dataclass(frozen=True, slots=True)
class AgentRinging:
    """The moment to pop: the agent's phone rings for this call."""

    linkedid: str
    agent: str
    agent_leg: str
    queue: str | None
    caller: CallerId
    called_number: str | None
    at: float


@dataclass(frozen=True, slots=True)
class AgentRingEnded:
    linkedid: str
    agent: str
    reason: str  # answer | noanswer | busy | cancel | unavailable
    at: float


@dataclass(frozen=True, slots=True)
class CallAnswered:
    linkedid: str
    agent: str
    queue: str | None
    caller: CallerId
    wait_s: float | None
    at: float


@dataclass(frozen=True, slots=True)
class CallHeld:
    linkedid: str
    held: bool
    at: float


@dataclass(frozen=True, slots=True)
class CallTransferred:
    linkedid: str
    kind: str  # blind | attended
    by_agent: str | None
    target: str
    at: float


@dataclass(frozen=True, slots=True)
class HeldPartyLeft:
    """One side hung up while Plateau held the call: the other side's channels must be hung up too."""

    linkedid: str
    channels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CallEnded:
    record: CallRecord
    agents: tuple[str, ...]  # every agent the call reached (for their desks)


@dataclass(frozen=True, slots=True)
class AgentStateChanged:
    agent: str
    state: AgentState
    reason: str | None
    since: float
    queues: tuple[str, ...]
    linkedid: str | None = None


@dataclass(frozen=True, slots=True)
class PhoneRegistration:
    """Whether an agent's phone is registered (Asterisk can reach it), and since when (None: registered
    before Plateau connected, time unknown)."""

    agent: str
    registered: bool
    since: float | None


@dataclass(frozen=True, slots=True)
class WrapUpStarted:
    """An agent's call ended: the control layer pauses them until the disposition is saved."""

    agent: str
    linkedid: str
    at: float


@dataclass(frozen=True, slots=True)
class QueueChanged:
    queue: str
    waiting: int
    oldest_since: float | None
    at: float


DomainEvent = (
    CallOffered
    | CallQueued
    | CallLeftQueue
    | AgentRinging
    | AgentRingEnded
    | CallAnswered
    | CallHeld
    | CallTransferred
    | CallEnded
    | AgentStateChanged
    | WrapUpStarted
    | QueueChanged
    | PhoneRegistration
)


_KINDS: dict[type, tuple[str, tuple[str, ...]]] = {}


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def to_wire(event: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """JSON-ready dict with a snake_case `type` (e.g. `agent_state_changed`). Shallow and cached: hot path."""
    cls = type(event)
    meta = _KINDS.get(cls)
    if meta is None:
        meta = _KINDS[cls] = (
            re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower(),
            tuple(cls.__dataclass_fields__),
        )
    body = {"type": meta[0]}
    for name in meta[1]:
        body[name] = _plain(getattr(event, name))
    if extra:
        body.update(extra)
    return body


@dataclass
class Snapshot:
    """What `CoreShowChannels` + `QueueStatus` said after a (re)connect."""

    channels: list[dict[str, str]] = field(default_factory=list)
    members: list[dict[str, str]] = field(default_factory=list)
    entries: list[dict[str, str]] = field(default_factory=list)
