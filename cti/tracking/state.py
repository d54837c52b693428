"""What the tracker remembers (legs, calls, agents), Asterisk's codes it reads, and pure helpers on them."""

from __future__ import annotations

from dataclasses import dataclass, field

from cti.events import (
    AgentState,
    CallerId,
    Direction,
)

WRAPUP_REASON = "wrapup"
BUSY_CAUSES = frozenset({"17", "21"})  # user busy, call rejected
CHANNEL_RINGING = "5"  # AST_STATE_RINGING: the phone is ringing
CHANNEL_UP = "6"  # AST_STATE_UP: answered
SOFTHANGUP_SHUTDOWN = "4"  # AST_SOFTHANGUP_SHUTDOWN, as SoftHangupRequest reports it on `core restart`
RINGING = frozenset({"RINGING", "RINGINUSE", "6", "7"})
BUSY = frozenset({"INUSE", "BUSY", "ONHOLD", "2", "3", "8"})
STATUS_NAMES = {
    "0": "UNKNOWN",
    "1": "NOT_INUSE",
    "2": "INUSE",
    "3": "BUSY",
    "4": "INVALID",
    "5": "UNAVAILABLE",
    "6": "RINGING",
    "7": "RINGINUSE",
    "8": "ONHOLD",
}
DIAL_OUTCOME = {
    "BUSY": "busy",
    "NOANSWER": "no_answer",
    "CONGESTION": "congestion",
    "CHANUNAVAIL": "failed",
    "CANCEL": "cancelled",
}
CAUSE_OUTCOME = {
    17: "busy",
    18: "no_answer",
    19: "no_answer",
    21: "rejected",
    34: "congestion",
    38: "congestion",
    1: "failed",
    3: "failed",
}
ENDED_MEMORY = 10_000


@dataclass
class Leg:
    uniqueid: str
    linkedid: str
    channel: str
    endpoint: str
    caller: CallerId
    exten: str
    context: str
    created: float


@dataclass
class Call:
    linkedid: str
    direction: Direction
    caller: CallerId
    called_number: str | None
    offered_at: float
    legs: set[str] = field(default_factory=set)
    queue: str | None = None
    queued_at: float | None = None
    left_queue_at: float | None = None
    abandoned: bool = False
    answered_at: float | None = None
    first_agent: str | None = None
    agent: str | None = None  # the agent currently on it
    agents_rung: list[str] = field(default_factory=list)
    ringing: dict[str, str] = field(default_factory=dict)  # agent leg uniqueid → agent endpoint
    hold_since: float | None = None
    hold_s: float = 0.0
    hangup_cause: int | None = None
    dial_status: str | None = None
    transfers: list[str] = field(default_factory=list)
    reached_trunk: bool = False
    cut_by_shutdown: bool = False  # Asterisk hung it up because it was stopping or restarting
    origin_answered_at: float | None = None  # the originated phone picked up (click-to-call, supervision)
    origin_leg: str | None = None  # the Uniqueid of an Originate's first leg (the phone it rings first)
    plateau_hold: bool = False  # held by Plateau's Redirect (not a phone's own hold)
    answer_pending: bool = False  # an agent picked up; AgentConnect follows QueueCallerLeave
    busy_legs: set[str] = field(default_factory=set)  # agent legs refused busy (486)


@dataclass
class AgentSlot:
    endpoint: str
    queues: dict[str, tuple[bool, str]] = field(default_factory=dict)  # queue → (paused, reason)
    device: str = "UNKNOWN"
    wrapup_linkedid: str | None = None
    linkedid: str | None = None
    state: AgentState = AgentState.logged_out
    reason: str | None = None
    since: float = 0.0
    seen_queues: tuple[str, ...] = ()
    registered: bool | None = None  # its phone: None until Asterisk says
    registered_since: float | None = None


def reachable(device_state: str) -> bool | None:
    """A PJSIP endpoint's device state says whether it has a registered contact: UNAVAILABLE without one."""
    if device_state in ("UNAVAILABLE", "INVALID"):
        return False
    if device_state in ("", "UNKNOWN"):
        return None
    return True


def queue_wait(call: Call, at: float) -> float | None:
    if call.queued_at is None:
        return None
    end = call.left_queue_at or call.answered_at or at
    return round(max(0.0, end - call.queued_at), 3)


def outcome_of(call: Call) -> str:
    if call.answered_at is not None:
        return "answered"
    if call.direction is Direction.inbound:
        if call.abandoned or (call.queue and call.left_queue_at is None):
            return "abandoned"
        if call.queue:
            return "unanswered"
        if call.agents_rung:
            return "missed"
        return "abandoned"
    if call.dial_status in DIAL_OUTCOME:
        return DIAL_OUTCOME[call.dial_status]
    return CAUSE_OUTCOME.get(call.hangup_cause or 0, "failed")
