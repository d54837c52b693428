"""The simulator's state: event kinds, agent states, agents, calls in flight, the lead source and the
run's result.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from dialer.leads_model import AttemptResult
from dialer.sim.model import CallRecord

# event kinds
(
    TICK,
    RESOLVE,
    ROUTED,
    DEADLINE,
    TALK_END,
    WRAP_END,
    LOGIN,
    LOGOUT,
    PAUSE,
    UNPAUSE,
    CLICK,
    DEPART,
) = range(12)
# agent states
OFF, READY, TALK, WRAP, PAUSED, PREVIEW = range(6)

# Agent dispositions of live calls (share of live calls), for the lead life cycle.
DISPOSITIONS: tuple[tuple[AttemptResult, float], ...] = (
    (AttemptResult.CONTACT, 0.35),
    (AttemptResult.SUCCESS, 0.10),
    (AttemptResult.REFUSED, 0.30),
    (AttemptResult.CALLBACK, 0.12),
    (AttemptResult.WRONG_NUMBER, 0.05),
    (AttemptResult.DO_NOT_CALL, 0.08),
)


class LeadSource(Protocol):
    """Where dialled leads come from and where their outcomes go (the hopper, or an endless list)."""

    def take(self, n: int, t: float) -> list[Any]:
        """Up to `n` handles to dial at simulated second `t` (fewer when nothing may be dialled)."""
        ...

    def finished(self, handle: Any, record: CallRecord, result: AttemptResult, t: float) -> None:
        """The attempt on `handle` ended at `t` with `result`."""
        ...


class EndlessLeads:
    """A lead source that never runs out and checks nothing: isolates pacing (the benchmark)."""

    def take(self, n: int, t: float) -> list[Any]:
        return [None] * n

    def finished(self, handle: Any, record: CallRecord, result: AttemptResult, t: float) -> None:
        return None


class SimAgent:
    __slots__ = ("call", "calls", "id", "pending", "present_since", "since", "state", "talk")

    def __init__(self, agent_id: int) -> None:
        self.id = agent_id
        self.state = OFF
        self.since = 0.0  # entered the current state
        self.present_since = 0.0  # logged in and not paused since
        self.pending: int | None = None  # OFF or PAUSED once the current call is done
        self.talk = 0.0
        self.call: SimCall | None = None
        self.calls = 0


class SimCall:
    __slots__ = ("agent", "done", "handle", "human", "rec")

    def __init__(self, handle: Any, rec: CallRecord, human: bool, agent: SimAgent | None) -> None:
        self.handle = handle
        self.rec = rec
        self.human = human  # a person (else a machine passed to agents, or a failure)
        self.agent = agent  # preview: the agent who clicked
        self.done = False


class AbandonPeriod:
    """Abandoned/live sums per hour, for today's and the rule set's period counters."""

    def __init__(self, hours: int) -> None:
        self.ab = [0.0] * hours
        self.live = [0.0] * hours

    def add(self, t: float, ab: float, live: float) -> None:
        h = int(t // 3600)
        self.ab[h] += ab
        self.live[h] += live


@dataclass
class SimResult:
    records: list[CallRecord]
    busy_s: float  # talk + wrap-up
    present_s: float  # logged in, not paused
    agent_waits: list[float]  # idle time before each call, per call
    decisions: Counter[str] = field(default_factory=Counter)  # by mode
    agent_calls: int = 0

    @property
    def occupancy(self) -> float:
        return self.busy_s / self.present_s if self.present_s else 0.0

    @property
    def agent_wait_p95(self) -> float:
        return quantile(sorted(self.agent_waits), 0.95)


def quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    idx = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[idx]
