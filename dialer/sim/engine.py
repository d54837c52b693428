"""The discrete-event simulator: one campaign, its agents, calls and pacing policy. Pure and seeded.

One heap of timed events (`heapq`), one `random.Random(seed)`: the same seed, configuration and policy
give the same run. Every `tick_s` the engine builds an `Observation` exactly as the live engine would
(agents by state with elapsed times, calls in flight, measured rates from `PacingStats`, abandon rates
today and over the rule set's period by its definition), asks the policy, takes that many leads from
the `LeadSource` and dials them. A live answer is routed to the longest-idle ready agent; without one
within the rule set's abandon seconds after the greeting, the abandon message plays and the call is
abandoned. Agents log in and out by shifts, take a break, and finish their call before leaving.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter, deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from dialer.compliance import RuleSet
from dialer.compliance_zones import zone_info
from dialer.pacing import PacingStats, Policy
from dialer.sim.agents import AgentEvents
from dialer.sim.calls import CallEvents
from dialer.sim.model import CallRecord, SimConfig, lognormal_params
from dialer.sim.pacing_step import PacingStep
from dialer.sim.state import (
    LOGIN,
    LOGOUT,
    OFF,
    PAUSE,
    PAUSED,
    UNPAUSE,
    AbandonPeriod,
    LeadSource,
    SimAgent,
    SimCall,
    SimResult,
)


class Simulation(AgentEvents, PacingStep, CallEvents):
    def __init__(
        self,
        config: SimConfig,
        policy: Policy,
        source: LeadSource,
        rule_set: RuleSet,
        *,
        start: datetime,
        days: int,
        seed: int,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be a timezone-aware datetime")
        if days < 1:
            raise ValueError(f"days must be >= 1, got {days}")
        self.cfg, self.policy, self.source, self.rs = config, policy, source, rule_set
        self.start = start.astimezone(UTC)
        self.days = days
        self.end = days * 86400.0
        self.rng = random.Random(seed)
        self.stats = PacingStats()
        self.heap: list[tuple[float, int, int, Any]] = []
        self.seq = 0
        self.agents: dict[int, SimAgent] = {}
        self.ready: dict[SimAgent, None] = {}  # insertion order: longest idle first
        # dicts, not sets: iteration must not depend on object addresses (determinism across runs)
        self.talking: dict[SimAgent, None] = {}
        self.wrapping: dict[SimAgent, None] = {}
        self.clicked: deque[SimAgent] = deque()
        self.ringing: dict[SimCall, float] = {}
        self.waiting: deque[SimCall] = deque()
        self.n_waiting = 0
        self.departing = 0  # ready agents who asked to pause or log out (not counted for pacing)
        self.records: list[CallRecord] = []
        self.busy_s = 0.0
        self.present_s = 0.0
        self.waits: list[float] = []
        self.decisions: Counter[str] = Counter()
        self.dials_today = 0
        self.tick_pending = False
        hours = (days + 2) * 24
        self.hourly = AbandonPeriod(hours)
        self.fp = rule_set.amd_false_positive_percent / 100 if rule_set.abandon_definition == "ofcom" else 0.0
        self._midnights = self._reference_midnights()
        self._day = 0
        self._talk_mu, self._talk_sigma = lognormal_params(config.talk_mean_s, config.talk_cv)
        self._ans_mu = math.log(config.answer_median_s)

    # -- set-up ---------------------------------------------------------------------------------------

    def _reference_midnights(self) -> list[float]:
        zone = zone_info(self.rs.reference_zone)
        first = self.start.astimezone(zone).date()
        out = []
        for d in range(self.days + 3):
            day = first + timedelta(days=d)
            local = datetime(day.year, day.month, day.day, tzinfo=zone)
            out.append((local.astimezone(UTC) - self.start).total_seconds())
        return out

    def _push(self, t: float, kind: int, obj: Any = None) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, obj))

    def _schedule_shifts(self) -> None:
        next_id = 0
        for shift in self.cfg.shifts:
            ids = list(range(next_id, next_id + shift.agents))
            next_id += shift.agents
            for aid in ids:
                self.agents[aid] = SimAgent(aid)
            for d in range(self.days):
                base = d * 86400.0
                begin, end = base + shift.start_h * 3600, base + shift.end_h * 3600
                for i, aid in enumerate(ids):
                    stagger = shift.spread_s * i / max(1, shift.agents)
                    self._push(begin + stagger, LOGIN, self.agents[aid])
                    self._push(end - shift.spread_s + stagger, LOGOUT, self.agents[aid])
                    if shift.break_s > 0:
                        mid = (begin + end) / 2 - shift.break_s + 2 * shift.break_s * i / max(1, shift.agents)
                        self._push(mid, PAUSE, self.agents[aid])
                        self._push(mid + shift.break_s, UNPAUSE, self.agents[aid])

    # -- run ------------------------------------------------------------------------------------------

    def run(self) -> SimResult:
        self._schedule_shifts()
        handlers = (
            self._on_tick,
            self._on_resolve,
            self._on_routed,
            self._on_deadline,
            self._on_talk_end,
            self._on_wrap_end,
            self._on_login,
            self._on_logout,
            self._on_pause,
            self._on_unpause,
            self._on_click,
            self._on_depart,
        )
        heap = self.heap
        while heap:
            t, _, kind, obj = heapq.heappop(heap)
            handlers[kind](t, obj)
        for agent in self.agents.values():  # nobody should be left, but close the books anyway
            if agent.state not in (OFF, PAUSED):
                self.present_s += self.end - agent.present_since
        return SimResult(
            self.records, self.busy_s, self.present_s, self.waits, self.decisions, len(self.waits)
        )

    _period_hour = -1
    _period_value = 0.0

    _cache_key: tuple[int, int] | None = None
    _cache_val: tuple[float, float] = (0.0, 0.0)

    def at(self, t: float) -> datetime:
        return self.start + timedelta(seconds=t)


def iter_days(start: datetime, days: int) -> Iterator[datetime]:
    for d in range(days):
        yield start + timedelta(days=d)
