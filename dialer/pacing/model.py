"""The pacing interface: one `Observation` in, one `Decision` out (see `dialer.pacing` for the contract)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

DEFAULT_ABANDON_LIMIT_PERCENT = 3.0


@dataclass(frozen=True, slots=True)
class AbandonMeasure:
    """Abandoned and live-answered calls over one period, by the rule set's definition.

    Floats because the Ofcom definition adds an *estimate* of AMD false positives to both terms
    (`dialer.compliance.abandon_stats` computes it the same way).
    """

    abandoned: float = 0.0
    live: float = 0.0

    @property
    def rate(self) -> float | None:
        """Abandoned / live as a fraction (0.03 = 3 %), None before the first live call."""
        return self.abandoned / self.live if self.live > 0 else None


@dataclass(frozen=True, slots=True)
class Observation:
    """What a pacing policy sees of one campaign at one instant. Pure data; times in seconds.

    Agents are the campaign's logged-in agents; paused ones only appear in `agents_paused`.
    Sample sequences are read-only views, **sorted ascending** (`PacingStats` keeps them so), over a
    recent window of the campaign's calls.
    """

    now: float  # a monotonic clock in seconds (only differences matter)
    agents_ready: int  # idle, waiting for a call
    on_call: Sequence[float] = ()  # elapsed talk time of each agent on a call
    in_wrap: Sequence[float] = ()  # elapsed wrap-up time of each agent in wrap-up
    # aligned with on_call / in_wrap when given: True for an agent who asked to pause or log out after
    # this call (they will not take another one)
    on_call_leaving: Sequence[bool] = ()
    in_wrap_leaving: Sequence[bool] = ()
    # aligned with in_wrap when given: talk time of the call wrapped up (None: not known for that agent)
    in_wrap_talk: Sequence[float | None] = ()
    agents_paused: int = 0
    ringing: Sequence[float] = ()  # elapsed time since originate of each unresolved call in flight
    waiting: int = 0  # answered people waiting for an agent right now
    preview_requests: int = 0  # preview mode: agents who clicked "dial" since the last decision
    # measured on recent calls (PacingStats)
    dials_sampled: int = 0  # resolved dials behind `answer_rate`
    answer_rate: float | None = None  # live (human) answers / resolved dials
    connect_rate: float | None = None  # answered by a person or a machine / resolved dials (the ASR)
    human_delays: Sequence[float] = ()  # originate → ready for an agent, live answers
    other_delays: Sequence[float] = ()  # originate → resolution, every other outcome
    handle_times: Sequence[float] = ()  # talk + wrap-up of finished calls
    wrap_times: Sequence[float] = ()  # wrap-up of finished calls
    talk_wrap: Sequence[tuple[float, float]] = ()  # (talk, wrap-up) of finished calls, sorted by talk
    # abandon rate by the rule set's definition
    abandon_today: AbandonMeasure = field(default_factory=AbandonMeasure)
    abandon_period: AbandonMeasure = field(default_factory=AbandonMeasure)  # the rule set's period
    abandon_24h: AbandonMeasure | None = None  # trailing 24 h, when the engine keeps it
    abandon_limit_percent: float | None = DEFAULT_ABANDON_LIMIT_PERCENT
    abandon_after_seconds: float = 2.0
    dials_today: int = 0
    max_channels: int | None = None  # trunk limit for this campaign (calls in flight + connected)
    clock_hhmm: int | None = None  # the server's wall clock as HHMM, for policies that taper by time

    @property
    def agents_logged_in(self) -> int:
        """Agents who count for pacing: ready, on a call or in wrap-up (not paused)."""
        return self.agents_ready + len(self.on_call) + len(self.in_wrap)

    @property
    def abandon_measures(self) -> tuple[AbandonMeasure, ...]:
        extra = () if self.abandon_24h is None else (self.abandon_24h,)
        return (self.abandon_today, self.abandon_period, *extra)

    @property
    def limit(self) -> float:
        """The abandon-rate limit as a fraction; no limit configured reads as the 3 % default."""
        pct = self.abandon_limit_percent
        return (DEFAULT_ABANDON_LIMIT_PERCENT if pct is None else pct) / 100


@dataclass(frozen=True, slots=True)
class Decision:
    """How many calls to originate now, and why: `inputs` is logged and shown on the campaign monitor."""

    calls: int
    policy: str
    mode: str  # what the policy actually did: "predictive", "progressive-fallback", "preview"…
    inputs: Mapping[str, float | int | str | None]


class Policy(Protocol):
    """A pacing policy. May keep state between calls (VICIdial's dial level); never does I/O."""

    name: str

    def decide(self, obs: Observation) -> Decision: ...


def cap_channels(calls: int, obs: Observation) -> int:
    """Never exceed the trunk limit counting calls already ringing, waiting or connected."""
    calls = max(0, calls)
    if obs.max_channels is None:
        return calls
    busy = len(obs.ringing) + obs.waiting + len(obs.on_call)
    return max(0, min(calls, obs.max_channels - busy))


def progressive_calls(obs: Observation) -> int:
    """One call per free agent: ready agents not already covered by a call in flight or waiting."""
    return max(0, obs.agents_ready - len(obs.ringing) - obs.waiting)


def median(sorted_values: Sequence[float], default: float) -> float:
    n = len(sorted_values)
    if not n:
        return default
    mid = n // 2
    return float(sorted_values[mid]) if n % 2 else (sorted_values[mid - 1] + sorted_values[mid]) / 2


def mean(values: Sequence[float], default: float) -> float:
    return math.fsum(values) / len(values) if values else default
