"""Simulator inputs (call-outcome and timing distributions, shifts) and per-call records.

Defaults follow `reference/dialer-and-compliance.md` §4 (benchmark recipe) and §1.11 (routing delay):
live answer rate p, machines 20 %, busy 5 %, congestion 3 %, no answer for the rest; time to answer
lognormal with median 9 s (few after 20 s) cut at the ring timeout; talk lognormal with mean 150 s and
a coefficient of variation of 1; wrap-up 20 s; AMD deciding within 3–4 s for machines, at the end of
the greeting for people, with false positives and negatives; routing 0.1 s (1.5 s for 5 % of calls).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def lognormal_params(mean: float, cv: float) -> tuple[float, float]:
    """(mu, sigma) of the underlying normal for a lognormal of this mean and coefficient of variation."""
    sigma2 = math.log(1.0 + cv * cv)
    return math.log(mean) - sigma2 / 2, math.sqrt(sigma2)


@dataclass(frozen=True, slots=True)
class Shift:
    """Agents logged in from `start_h` to `end_h` (hours after each simulated day's UTC midnight)."""

    start_h: float
    end_h: float
    agents: int
    spread_s: float = 600.0  # logins and logouts are staggered over this many seconds
    break_s: float = 600.0  # each agent takes one break of this length mid-shift (0: none)

    def __post_init__(self) -> None:
        if not 0 <= self.start_h < self.end_h <= 48:
            raise ValueError(f"a shift runs forward within two days, got {self.start_h}-{self.end_h} h")
        if self.agents < 0:
            raise ValueError(f"agents must be >= 0, got {self.agents}")


@dataclass(frozen=True, slots=True)
class SimConfig:
    answer_rate: float = 0.25  # live (human) answers per dial
    machine_rate: float = 0.20
    busy_rate: float = 0.05
    congestion_rate: float = 0.03
    answer_median_s: float = 9.0
    answer_sigma: float = 0.45
    ring_timeout_s: float = 20.0
    talk_mean_s: float = 150.0
    talk_cv: float = 1.0
    wrap_s: float = 20.0
    amd: bool = True
    amd_machine_s: float = 3.5  # AMD verdict on a machine, after the answer
    greeting_s: tuple[float, float] = (0.8, 2.0)  # a person's greeting (uniform); AMD passes at its end
    amd_false_positive: float = 0.05  # people hung up as machines
    amd_false_negative: float = 0.15  # machines passed to agents
    machine_agent_s: float = 8.0  # an agent hearing a machine before dispositioning it
    routing_fast_s: float = 0.1
    routing_slow_s: float = 1.5
    routing_slow_share: float = 0.05
    depart_grace_s: float = 20.0  # a ready agent who asks for a pause still takes a call placed for them
    preview_s: float = 8.0  # preview mode: reading the lead before clicking
    tick_s: float = 1.0  # the engine loop: one pacing decision per tick
    evening: tuple[float, float] | None = None  # (hour after UTC midnight, new answer rate) each day
    shifts: tuple[Shift, ...] = field(default_factory=lambda: (Shift(8.0, 12.0, 20),))

    def __post_init__(self) -> None:
        rates = (self.answer_rate, self.machine_rate, self.busy_rate, self.congestion_rate)
        if any(r < 0 for r in rates) or sum(rates) > 1 + 1e-9:
            raise ValueError(f"outcome rates must be >= 0 and sum to at most 1, got {rates}")
        if self.evening is not None and not 0 <= self.evening[1] <= 1 - sum(rates[1:]):
            raise ValueError(f"the evening answer rate leaves no room for the other outcomes: {self.evening}")
        if self.tick_s <= 0 or self.ring_timeout_s <= 0 or self.talk_mean_s <= 0:
            raise ValueError("tick, ring timeout and talk mean must be positive")


@dataclass(slots=True)
class CallRecord:
    """One dial as the metrics see it; times in simulated seconds, None when it did not happen."""

    start: float
    live: bool  # counted as live-answered (denominator)
    answered: float | None = None  # when the person was ready for an agent (end of greeting)
    connected: float | None = None  # agent bridged
    amd_machine: bool = False  # hung up by AMD as a machine
    abandoned: bool = False  # live and no agent within the abandon seconds
