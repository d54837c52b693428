"""Peer policies, implemented as the reference describes them, for the benchmark and comparisons.

- `VicidialAdaptive`: `AST_VDadapt.pl` + `AST_VDauto_dial.pl` (reference §1.1–1.2). Samples ready agents
  and waiting calls every second (last 15 samples), recomputes the dial level every 15 s with the
  multiplicative rule and the intensity, clamps it to [1, max level], then applies the drop overrides
  (1-minute 50 % rule; daily drop % over `adaptive_dropped_percentage` with HARD_LIMIT, AVERAGE or
  TAPERED). Calls = level × agents (ready, in call, in wrap-up) − existing calls (ringing, waiting and
  connected), as `goalcalls − existing calls`.
- `IssabelPredictor`: `Predictor.class.php` + `CampaignProcess.class.php` (reference §2). Calls = free
  agents + busy agents "about to finish" − callers waiting − calls awaiting an answer; a busy agent counts
  when the exponential CDF `1 − exp(−(t + avg_answer)/avg_duration) ≥ qos`; prediction only after 10
  finished calls; optional overcommit divides by the answer rate (floored at 0.20).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from dialer.pacing.model import Decision, Observation, cap_channels, mean

DropMethod = Literal["ADAPT_HARD_LIMIT", "ADAPT_AVERAGE", "ADAPT_TAPERED"]


@dataclass
class VicidialAdaptive:
    dropped_percentage: float = 3.0  # adaptive_dropped_percentage
    maximum_level: float = 3.0  # adaptive_maximum_level
    intensity: float = 0.0  # adaptive_intensity, -40..+40
    dl_diff_target: float = 0.0  # adaptive_dl_diff_target, -40..+40
    method: DropMethod = "ADAPT_HARD_LIMIT"
    # available_only_ratio_tally=Y: only READY agents are tallied. Our reading: the calls already
    # connected are then not counted against the goal either (only ringing and waiting ones are).
    available_only_ratio_tally: bool = False
    latest_server_hhmm: int = 2100  # adaptive_latest_server_time, for TAPERED
    server_hhmm: int | None = None  # fixed HHMM for TAPERED when observations carry no `clock_hhmm`
    level: float = 1.0  # auto_dial_level, the state
    name: str = "vicidial"
    _samples: deque[tuple[int, int, int]] = field(default_factory=lambda: deque(maxlen=15))
    _last_sample: float | None = None
    _last_update: float | None = None
    _minute: deque[tuple[float, int, float]] = field(default_factory=deque)  # (now, dials, abandoned)

    def decide(self, obs: Observation) -> Decision:
        agents = obs.agents_logged_in
        if self._last_sample is None or obs.now - self._last_sample >= 1.0:
            self._last_sample = obs.now
            self._samples.append((obs.agents_ready, obs.waiting, agents))
        self._minute.append((obs.now, obs.dials_today, obs.abandon_today.abandoned))
        while self._minute and obs.now - self._minute[0][0] > 60:
            self._minute.popleft()
        if self._last_update is None:
            self._last_update = obs.now
        elif obs.now - self._last_update >= 15.0:
            self._last_update = obs.now
            self._adapt(obs)
        if self.available_only_ratio_tally:
            goal = math.floor(self.level * obs.agents_ready)
            existing = len(obs.ringing) + obs.waiting
        else:
            goal = math.floor(self.level * agents)  # VICIdial truncates goalcalls toward zero
            existing = len(obs.ringing) + obs.waiting + len(obs.on_call)
        calls = cap_channels(goal - existing, obs)
        inputs = {"dial_level": round(self.level, 3), "agents": agents, "existing_calls": existing}
        return Decision(calls, self.name, self.method, inputs)

    def _adapt(self, obs: Observation) -> None:
        if not self._samples:
            return
        ready = mean([s[0] for s in self._samples], 0.0)
        waiting = mean([s[1] for s in self._samples], 0.0)
        avg_agents = mean([s[2] for s in self._samples], 0.0)
        if avg_agents > 0:
            mul = (ready - waiting + self.dl_diff_target) / avg_agents
            i = self.intensity / 100
            factor = (1 + i) if mul >= 0 else abs(i - 1)
            self.level *= 1 + mul * factor
        self.level = min(max(self.level, 1.0), self.maximum_level)
        # drop overrides
        first = self._minute[0]
        calls_minute = obs.dials_today - first[1]
        drops_minute = obs.abandon_today.abandoned - first[2]
        if calls_minute > 20 and drops_minute / calls_minute > 0.5:
            self.level /= 2
        rate = obs.abandon_today.rate
        if obs.dials_today > 50 and rate is not None and 100 * rate > self.dropped_percentage:
            if self.method == "ADAPT_HARD_LIMIT":
                self.level = 1.0
            elif self.method == "ADAPT_AVERAGE":
                self.level /= 2
            elif (hhmm := obs.clock_hhmm if obs.clock_hhmm is not None else self.server_hhmm) is not None:
                left = self.latest_server_hhmm - hhmm
                self.level = 1.0 if left <= 0 else self.level * min(1.0, left / 1000)
        self.level = min(max(self.level, 1.0), self.maximum_level)


@dataclass
class IssabelPredictor:
    qos: float = 0.97  # dialer_qos
    initial_answer_s: float = 8.0  # tiempo_contestar before it is measured
    min_samples: int = 10  # MIN_MUESTRAS
    overcommit: bool = True
    asr_floor: float = 0.20
    name: str = "issabel"

    def decide(self, obs: Observation) -> Decision:
        free = obs.agents_ready
        soon = 0
        predictive = len(obs.handle_times) >= self.min_samples
        if predictive:
            avg_duration = mean(obs.handle_times, 1.0)
            avg_answer = mean(obs.human_delays, self.initial_answer_s)
            # Issabel sees agents in wrap-up as busy with the channel duration; talk + wrap is our
            # equivalent of "time since the call started".
            busy = [*obs.on_call, *(avg_duration - self._wrap_left(obs, w) for w in obs.in_wrap)]
            for t in busy:
                if 1 - math.exp(-(t + avg_answer) / avg_duration) >= self.qos:
                    soon += 1
        calls = max(0, free + soon - obs.waiting) - len(obs.ringing)
        asr = obs.answer_rate
        if self.overcommit and calls > 0 and asr is not None and obs.dials_sampled >= self.min_samples:
            calls = math.ceil(calls / max(asr, self.asr_floor))
        calls = cap_channels(calls, obs)
        inputs = {"agents_free": free, "agents_soon_free": soon, "waiting": obs.waiting, "asr": asr}
        return Decision(calls, self.name, "predictive" if predictive else "progressive", inputs)

    @staticmethod
    def _wrap_left(obs: Observation, elapsed: float) -> float:
        return max(0.0, mean(obs.wrap_times, 0.0) - elapsed)
