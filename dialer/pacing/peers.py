"""Peer policies, implemented as their source code does it, for the benchmark and comparisons.

- `VicidialAdaptive`: `AST_VDadapt.pl` + `AST_VDauto_dial.pl` (reference §1.1–1.2, checked against the
  code). Samples ready agents, waiting calls and all the campaign's agents (paused too: `total_agents`
  counts every status) every second (last 15 samples); every 15 s the dial level becomes
  `level × (1 + mul × intensity factor)` printed to 3 decimals, clamped to [1, max level], then the drop
  overrides (1-minute 50 % rule on calls placed; daily drops / answers over `adaptive_dropped_percentage`
  with HARD_LIMIT, AVERAGE or TAPERED). The dial loop runs every `loop_s` (2.5 s): goal calls =
  `sprintf("%.0f", level × agents)` where agents are READY/DONE plus INCALL agents whose call is still up
  (an agent whose customer has hung up, in wrap-up, is DEAD and not counted), plus `dl_diff_target`;
  new calls = goal − existing calls (ringing, waiting for an agent, and connected ones). With
  `available_only_ratio_tally` only READY agents count, and the calls connected to agents (XFER) are
  added to the goal, so they cancel out of the existing calls.
- `IssabelPredictor`: `Predictor.class.php` + `CampaignProcess.class.php` (reference §2). Calls = free
  agents + busy agents "about to finish" − callers waiting, minus the calls still awaiting an answer;
  a busy agent counts when `1 − exp(−(t + avg_answer)/avg_duration) ≥ qos`; prediction only after 10
  finished calls; overcommit divides by the ASR of recent calls — answered (anything but a failure or
  no answer: people and machines alike) over placed — floored at 0.20, rounded half up (PHP `round`).
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
    available_only_ratio_tally: bool = False  # Y: only READY agents are tallied
    latest_server_hhmm: int = 2100  # adaptive_latest_server_time, for TAPERED
    server_hhmm: int | None = None  # fixed HHMM for TAPERED when observations carry no `clock_hhmm`
    loop_s: float = 2.5  # AST_VDauto_dial.pl's loop delay (default 2500 ms): calls are placed this often
    level: float = 1.0  # auto_dial_level, the state
    name: str = "vicidial"
    _samples: deque[tuple[int, int, int]] = field(default_factory=lambda: deque(maxlen=15))
    _last_sample: float | None = None
    _last_update: float | None = None
    _next_loop: float | None = None
    _minute: deque[tuple[float, int, float]] = field(default_factory=deque)  # (now, dials, abandoned)

    def decide(self, obs: Observation) -> Decision:
        if self._last_sample is None or obs.now - self._last_sample >= 1.0:
            self._last_sample = obs.now
            total = obs.agents_logged_in + obs.agents_paused  # every live agent row, paused too
            self._samples.append((obs.agents_ready, obs.waiting, total))
        self._minute.append((obs.now, obs.dials_today, obs.abandon_today.abandoned))
        while self._minute and obs.now - self._minute[0][0] > 60:
            self._minute.popleft()
        if self._last_update is None:
            self._last_update = obs.now
        elif obs.now - self._last_update >= 15.0:
            self._last_update = obs.now
            self._adapt(obs)
        # READY/DONE, plus INCALL agents whose call is up (wrap-up agents are DEAD: not counted)
        agents = obs.agents_ready if self.available_only_ratio_tally else obs.agents_ready + len(obs.on_call)
        agents = max(0.0, agents + self.dl_diff_target)
        # sprintf("%.0f") rounds half to even, as Python's round does. Ready-only tally: the XFER calls
        # added to the goal are among the existing calls, so only ringing and waiting ones remain.
        goal = round(self.level * agents)
        existing = len(obs.ringing) + obs.waiting
        if not self.available_only_ratio_tally:
            existing += len(obs.on_call)
        inputs = {"dial_level": self.level, "agents": agents, "existing_calls": existing}
        if self._next_loop is not None and obs.now < self._next_loop:
            return Decision(0, self.name, self.method, {**inputs, "between_loops": 1})
        self._next_loop = obs.now + self.loop_s if self._next_loop is None else self._next_loop + self.loop_s
        self._next_loop = max(self._next_loop, obs.now)  # after a pause, not a burst of catch-up loops
        calls = cap_channels(goal - existing, obs)
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
            self.level = round(self.level * (1 + mul * factor), 3)  # sprintf("%.3f")
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
        asr = obs.connect_rate if obs.connect_rate is not None else obs.answer_rate
        if self.overcommit and calls > 0 and asr and obs.dials_sampled >= self.min_samples:
            calls = math.floor(calls / max(asr, self.asr_floor) + 0.5)  # PHP round(): half up
        calls = cap_channels(calls, obs)
        inputs = {"agents_free": free, "agents_soon_free": soon, "waiting": obs.waiting, "asr": asr}
        return Decision(calls, self.name, "predictive" if predictive else "progressive", inputs)

    @staticmethod
    def _wrap_left(obs: Observation, elapsed: float) -> float:
        return max(0.0, mean(obs.wrap_times, 0.0) - elapsed)
