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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from dialer.compliance import RuleSet, abandon_period_start
from dialer.compliance_zones import zone_info
from dialer.leads_model import AttemptResult
from dialer.pacing import AbandonMeasure, Observation, PacingStats, Policy
from dialer.sim.model import CallRecord, SimConfig, lognormal_params

# event kinds
(
    _TICK,
    _RESOLVE,
    _ROUTED,
    _DEADLINE,
    _TALK_END,
    _WRAP_END,
    _LOGIN,
    _LOGOUT,
    _PAUSE,
    _UNPAUSE,
    _CLICK,
    _DEPART,
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


class _Agent:
    __slots__ = ("call", "calls", "id", "pending", "present_since", "since", "state", "talk")

    def __init__(self, agent_id: int) -> None:
        self.id = agent_id
        self.state = OFF
        self.since = 0.0  # entered the current state
        self.present_since = 0.0  # logged in and not paused since
        self.pending: int | None = None  # OFF or PAUSED once the current call is done
        self.talk = 0.0
        self.call: _Call | None = None
        self.calls = 0


class _Call:
    __slots__ = ("agent", "done", "handle", "human", "rec")

    def __init__(self, handle: Any, rec: CallRecord, human: bool, agent: _Agent | None) -> None:
        self.handle = handle
        self.rec = rec
        self.human = human  # a person (else a machine passed to agents, or a failure)
        self.agent = agent  # preview: the agent who clicked
        self.done = False


class _Period:
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


class Simulation:
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
        self.agents: dict[int, _Agent] = {}
        self.ready: dict[_Agent, None] = {}  # insertion order: longest idle first
        # dicts, not sets: iteration must not depend on object addresses (determinism across runs)
        self.talking: dict[_Agent, None] = {}
        self.wrapping: dict[_Agent, None] = {}
        self.clicked: deque[_Agent] = deque()
        self.ringing: dict[_Call, float] = {}
        self.waiting: deque[_Call] = deque()
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
        self.hourly = _Period(hours)
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
                self.agents[aid] = _Agent(aid)
            for d in range(self.days):
                base = d * 86400.0
                begin, end = base + shift.start_h * 3600, base + shift.end_h * 3600
                for i, aid in enumerate(ids):
                    stagger = shift.spread_s * i / max(1, shift.agents)
                    self._push(begin + stagger, _LOGIN, self.agents[aid])
                    self._push(end - shift.spread_s + stagger, _LOGOUT, self.agents[aid])
                    if shift.break_s > 0:
                        mid = (begin + end) / 2 - shift.break_s + 2 * shift.break_s * i / max(1, shift.agents)
                        self._push(mid, _PAUSE, self.agents[aid])
                        self._push(mid + shift.break_s, _UNPAUSE, self.agents[aid])

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

    # -- agents ---------------------------------------------------------------------------------------

    def _present(self) -> int:
        return len(self.ready) + len(self.talking) + len(self.wrapping)

    def _on_login(self, t: float, agent: _Agent) -> None:
        if agent.state != OFF:
            return
        agent.present_since = t
        agent.pending = None
        self._become_ready(t, agent)
        if not self.tick_pending:
            self.tick_pending = True
            self._push(t, _TICK)

    def _leave(self, t: float, agent: _Agent, state: int) -> None:
        if self.ready.pop(agent, False) is None and agent.pending is not None:
            self.departing -= 1
        if agent in self.clicked:
            self.clicked.remove(agent)
        self.present_s += t - agent.present_since
        agent.state, agent.since, agent.pending = state, t, None

    def _request_leave(self, t: float, agent: _Agent, state: int) -> None:
        """Pause or log out. A ready agent asks, stops being counted for pacing at once, still takes a
        call already placed for them during `depart_grace_s`, and leaves after it (or the grace)."""
        if agent.state == READY:
            if agent.pending is None:
                self.departing += 1
                self._push(t + self.cfg.depart_grace_s, _DEPART, agent)
            agent.pending = state
        elif agent.state == PREVIEW and agent.call is None:
            self._leave(t, agent, state)
        elif agent.state == PAUSED and state == OFF:
            agent.state = OFF
        elif agent.state in (TALK, WRAP, PREVIEW):
            agent.pending = state

    def _on_logout(self, t: float, agent: _Agent) -> None:
        self._request_leave(t, agent, OFF)

    def _on_pause(self, t: float, agent: _Agent) -> None:
        self._request_leave(t, agent, PAUSED)

    def _on_depart(self, t: float, agent: _Agent) -> None:
        if agent.state == READY and agent.pending is not None:
            self._leave(t, agent, agent.pending)

    def _on_unpause(self, t: float, agent: _Agent) -> None:
        if agent.pending == PAUSED:
            if agent.state == READY:
                self.departing -= 1
            agent.pending = None
        elif agent.state == PAUSED:
            agent.present_since = t
            self._become_ready(t, agent)

    def _become_ready(self, t: float, agent: _Agent) -> None:
        agent.call = None
        if agent.pending is not None:
            self._leave(t, agent, agent.pending)
            return
        agent.since = t
        while self.waiting:  # a person is waiting: take them now
            call = self.waiting.popleft()
            if not call.done:
                self.n_waiting -= 1
                self._connect(t, call, agent)
                return
        if self._preview():
            agent.state = PREVIEW
            self._push(t + self.cfg.preview_s, _CLICK, agent)
        else:
            agent.state = READY
            self.ready[agent] = None

    def _preview(self) -> bool:
        return self.policy.name == "preview"

    def _on_click(self, t: float, agent: _Agent) -> None:
        if agent.state == PREVIEW and agent.call is None:
            self.clicked.append(agent)

    # -- pacing ---------------------------------------------------------------------------------------

    def _on_tick(self, t: float, _: Any) -> None:
        if t >= self._midnights[self._day + 1]:
            while t >= self._midnights[self._day + 1]:
                self._day += 1
            self.dials_today = 0
        if not self.agents_present_or_busy():
            self.tick_pending = False
            return
        obs = self._observe(t)
        decision = self.policy.decide(obs)
        self.decisions[decision.mode] += 1
        n = decision.calls
        nxt = t + self.cfg.tick_s
        if n > 0:
            handles = self.source.take(n, t)
            if len(handles) < n and not (self.ringing or self.n_waiting or self.talking or self.wrapping):
                # Nothing may be dialled and nothing is going on: sleep until the source has leads.
                idle_until = getattr(self.source, "idle_until", None)
                until = idle_until(t) if idle_until is not None else None
                if until is not None and until > nxt:
                    until = min(until, self.end)
                    nxt = t + self.cfg.tick_s * math.ceil((until - t) / self.cfg.tick_s)
            for handle in handles:
                agent = None
                if self._preview():
                    if not self.clicked:
                        break
                    agent = self.clicked.popleft()
                self._dial(t, handle, agent)
        self._push(nxt, _TICK)

    def agents_present_or_busy(self) -> bool:
        return bool(self._present() or self.ringing or self.n_waiting or self.clicked) or any(
            a.state == PREVIEW for a in self.agents.values()
        )

    def _observe(self, t: float) -> Observation:
        stats = self.stats
        today_ab, today_live = self._sum(self._midnights[self._day], t)
        start = self._period_start(t)
        period_ab, period_live = self._sum(start, t)
        day_ab, day_live = self._sum(t - 86400 + 3600, t)
        return Observation(
            now=t,
            agents_ready=len(self.ready) - self.departing,
            # logged in but not taking calls: on a break, or asked for one (or to log out)
            agents_paused=self.departing + sum(1 for a in self.agents.values() if a.state == PAUSED),
            on_call=[t - a.since for a in self.talking],
            in_wrap=[t - a.since for a in self.wrapping],
            on_call_leaving=[a.pending is not None for a in self.talking],
            in_wrap_leaving=[a.pending is not None for a in self.wrapping],
            in_wrap_talk=[a.talk for a in self.wrapping],
            ringing=[t - s for s in self.ringing.values()],
            waiting=self.n_waiting,
            preview_requests=len(self.clicked),
            dials_sampled=stats.dials_sampled,
            answer_rate=stats.answer_rate,
            connect_rate=stats.connect_rate,
            human_delays=stats.human_delays.sorted,
            other_delays=stats.other_delays.sorted,
            handle_times=stats.handle.sorted,
            wrap_times=stats.wrap.sorted,
            talk_wrap=stats.talk_wrap,
            abandon_today=AbandonMeasure(today_ab, today_live),
            abandon_period=AbandonMeasure(period_ab, period_live),
            abandon_24h=AbandonMeasure(day_ab, day_live),
            abandon_limit_percent=self.rs.max_abandon_rate_percent,
            abandon_after_seconds=self.rs.abandon_after_seconds,
            dials_today=self.dials_today,
        )

    def _period_start(self, t: float) -> float:
        if self.rs.abandon_period_kind == "calendar_days":
            return self._midnights[max(0, self._day + 1 - self.rs.abandon_period_days)]
        hour = int(t // 3600)
        if self._period_hour != hour:  # hour granularity is all `_sum` uses
            self._period_hour = hour
            now = self.start + timedelta(seconds=t)
            self._period_value = (abandon_period_start(self.rs, now) - self.start).total_seconds()
        return self._period_value

    _period_hour = -1
    _period_value = 0.0

    def _sum(self, since: float, t: float) -> tuple[float, float]:
        """Abandoned and live since `since` (hour granularity: the hour holding `since` counts whole)."""
        lo, hi = max(0, int(since // 3600)), int(t // 3600)
        if hi - lo > 48:  # long periods: cache the sums of whole past hours
            return self._sum_cached(lo, hi)
        h = self.hourly
        return math.fsum(h.ab[lo : hi + 1]), math.fsum(h.live[lo : hi + 1])

    _cache_key: tuple[int, int] | None = None
    _cache_val: tuple[float, float] = (0.0, 0.0)

    def _sum_cached(self, lo: int, hi: int) -> tuple[float, float]:
        if self._cache_key != (lo, hi):
            self._cache_key = (lo, hi)
            self._cache_val = (math.fsum(self.hourly.ab[lo:hi]), math.fsum(self.hourly.live[lo:hi]))
        ab, live = self._cache_val
        return ab + self.hourly.ab[hi], live + self.hourly.live[hi]

    # -- calls ----------------------------------------------------------------------------------------

    def _answer_rate(self, t: float) -> float:
        ev = self.cfg.evening
        if ev is not None and (t % 86400.0) >= ev[0] * 3600:
            return ev[1]
        return self.cfg.answer_rate

    def _time_to_answer(self) -> float:
        cfg, rng = self.cfg, self.rng
        for _ in range(50):
            x = rng.lognormvariate(self._ans_mu, cfg.answer_sigma)
            if x < cfg.ring_timeout_s:
                return x
        return cfg.ring_timeout_s * rng.random()

    def _dial(self, t: float, handle: Any, agent: _Agent | None) -> None:
        cfg, rng = self.cfg, self.rng
        self.dials_today += 1
        rec = CallRecord(start=t, live=False)
        self.records.append(rec)
        p = self._answer_rate(t)
        u = rng.random()
        if agent is not None:
            agent.call = call = _Call(handle, rec, False, agent)
        else:
            call = _Call(handle, rec, False, None)
        self.ringing[call] = t
        if u < p + cfg.machine_rate:
            human = u < p
            call.human = human
            tta = self._time_to_answer()
            if not cfg.amd:
                rec.answered = t + tta
            elif human and rng.random() >= cfg.amd_false_positive:
                rec.answered = t + tta + rng.uniform(*cfg.greeting_s)
            elif not human and rng.random() < cfg.amd_false_negative:
                rec.answered = t + tta + cfg.amd_machine_s
            else:  # AMD says machine: hung up (a person, when a false positive)
                rec.amd_machine = True
                self._push(t + tta + cfg.amd_machine_s, _RESOLVE, (call, AttemptResult.MACHINE))
                return
            slow = rng.random() < cfg.routing_slow_share
            route = cfg.routing_slow_s if slow else cfg.routing_fast_s
            self._push(rec.answered + route, _ROUTED, call)
            return
        u -= p + cfg.machine_rate
        if u < cfg.busy_rate:
            self._push(t + rng.uniform(2.0, 5.0), _RESOLVE, (call, AttemptResult.BUSY))
        elif u < cfg.busy_rate + cfg.congestion_rate:
            self._push(t + rng.uniform(0.5, 3.0), _RESOLVE, (call, AttemptResult.FAILED))
        else:
            self._push(t + cfg.ring_timeout_s, _RESOLVE, (call, AttemptResult.NO_ANSWER))

    def _on_resolve(self, t: float, item: tuple[_Call, AttemptResult]) -> None:
        call, result = item
        start = self.ringing.pop(call)
        # answered by the network when AMD heard a machine (or a person it took for one)
        self.stats.dial_resolved(False, t - start, answered=call.rec.amd_machine)
        call.done = True
        if call.rec.amd_machine and self.fp:
            self.hourly.add(call.rec.start, self.fp, self.fp)
        self.source.finished(call.handle, call.rec, result, t)
        if call.agent is not None:  # preview: the agent goes on to the next lead
            self._become_ready(t, call.agent)

    def _on_routed(self, t: float, call: _Call) -> None:
        start = self.ringing.pop(call)
        self.stats.dial_resolved(True, t - start)
        if call.agent is not None:
            self._connect(t, call, call.agent)
        elif self.ready:
            agent = next(iter(self.ready))
            del self.ready[agent]
            if agent.pending is not None:  # leaving after this call
                self.departing -= 1
            self._connect(t, call, agent)
        else:
            self.waiting.append(call)
            self.n_waiting += 1
            assert call.rec.answered is not None
            self._push(call.rec.answered + self.rs.abandon_after_seconds, _DEADLINE, call)

    def _on_deadline(self, t: float, call: _Call) -> None:
        if call.done or call.rec.connected is not None:
            return
        call.done = True
        self.n_waiting -= 1
        rec = call.rec
        rec.live = rec.abandoned = True  # the dialler cannot tell a machine it never connected
        self.hourly.add(rec.start, 1.0, 1.0)
        self.source.finished(call.handle, rec, AttemptResult.DROPPED, t)

    def _connect(self, t: float, call: _Call, agent: _Agent) -> None:
        call.done = True
        rec = call.rec
        rec.connected = t
        assert rec.answered is not None
        if rec.answered is not None and t - rec.answered > self.rs.abandon_after_seconds:
            rec.abandoned = True
        self.waits.append(t - agent.since)
        agent.state, agent.since, agent.call = TALK, t, call
        self.talking[agent] = None
        if call.human:
            rec.live = True
            self.hourly.add(rec.start, 1.0 if rec.abandoned else 0.0, 1.0)
            agent.talk = self.rng.lognormvariate(self._talk_mu, self._talk_sigma)
        else:
            agent.talk = self.cfg.machine_agent_s
        self._push(t + agent.talk, _TALK_END, agent)

    def _on_talk_end(self, t: float, agent: _Agent) -> None:
        call = agent.call
        assert call is not None
        del self.talking[agent]
        agent.state, agent.since = WRAP, t
        self.wrapping[agent] = None
        if call.human:
            result = self._disposition()
            wrap = self.cfg.wrap_s
        else:
            result, wrap = AttemptResult.MACHINE, min(self.cfg.wrap_s, 3.0)
        self.source.finished(call.handle, call.rec, result, t)
        self._push(t + wrap, _WRAP_END, agent)

    def _on_wrap_end(self, t: float, agent: _Agent) -> None:
        del self.wrapping[agent]
        wrap = t - agent.since
        self.busy_s += agent.talk + wrap
        self.stats.call_finished(agent.talk, wrap)
        agent.calls += 1
        self._become_ready(t, agent)

    def _disposition(self) -> AttemptResult:
        u = self.rng.random()
        for result, share in DISPOSITIONS:
            if u < share:
                return result
            u -= share
        return AttemptResult.CONTACT

    def at(self, t: float) -> datetime:
        return self.start + timedelta(seconds=t)


def iter_days(start: datetime, days: int) -> Iterator[datetime]:
    for d in range(days):
        yield start + timedelta(days=d)
