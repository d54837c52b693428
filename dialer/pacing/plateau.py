"""Plateau's predictive policy: agents free within the answer delay, discounted by the answer rate,
held under the abandon limit by feedback on the *measured* rates.

Model (each decision, once a second):
- horizon `h` = median delay from originate to a live person ready for an agent (measured), plus the
  rule set's abandon seconds (the person may wait that long);
- agents free within `h`: ready agents, plus for every agent on a call with elapsed talk `t` the
  probability that talk + wrap ends before `t + h` *given that it has lasted `t`* (empirical survival
  of the measured handle times), and the same for agents in wrap-up with the wrap times;
- people who will need an agent: those waiting now, each call in flight with elapsed ring `r` with the
  probability that it becomes a live answer given it is still unresolved at `r`, and `p` per new call
  (`p` = measured answer rate);
- place the largest `n` whose expected excess of people over agents (normal approximation of both
  sums) is at most `alpha` × the expected people, i.e. an expected abandon fraction of `alpha`.

Feedback: `alpha` starts at `setpoint × limit` and is multiplied by `exp(-bias)` and by a taper.
`bias` integrates the gap between the measured rate and the setpoint; the measured rate is the worst
of today's, the rule set's period and the trailing 24 h when given, each smoothed toward the setpoint
by a prior of `prior_live` calls so ten calls do not swing it. The taper shrinks `alpha` linearly to
zero as the measured rate goes from the setpoint to the guard. Above `guard × limit`, or when one more
abandon would take a raw measured rate there (early in a day), the policy dials progressively (one
call per free agent: no abandon by design) until the rate is back.
Small teams (fewer than `min_agents`) and too few samples also dial progressively.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

from dialer.pacing.model import (
    Decision,
    Observation,
    cap_channels,
    mean,
    median,
    progressive_calls,
)

_SQRT2 = math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)


def expected_excess(mu: float, var: float) -> float:
    """E[max(X, 0)] for X ~ Normal(mu, var)."""
    if var <= 1e-12:
        return max(mu, 0.0)
    sigma = math.sqrt(var)
    z = mu / sigma
    return sigma * _INV_SQRT2PI * math.exp(-0.5 * z * z) + mu * 0.5 * (1.0 + math.erf(z / _SQRT2))


def finish_probability(samples: Sequence[float], elapsed: float, horizon: float) -> float:
    """P(T ≤ elapsed + horizon | T > elapsed) from sorted samples of T.

    When fewer than 5 samples outlast `elapsed` (an unusually long call), the tail is taken as
    memoryless with the mean residual of the longest samples, so an outlier is neither sure to end
    nor never counted.
    """
    n = len(samples)
    if n == 0:
        return 0.0
    i = bisect.bisect_right(samples, elapsed)
    alive = n - i
    if alive < 5:
        tail = samples[max(0, n - 5) :]
        residual = max(mean([s - min(elapsed, s) for s in tail], 0.0), 30.0)
        return 1.0 - math.exp(-horizon / residual)
    done = bisect.bisect_right(samples, elapsed + horizon, lo=i) - i
    return done / alive


def live_probability(humans: Sequence[float], others: Sequence[float], answer_rate: float, r: float) -> float:
    """P(a call ringing for `r` s becomes a live answer), from sorted resolution delays by outcome."""
    if not humans or not others:
        return answer_rate
    h = (len(humans) - bisect.bisect_right(humans, r)) / len(humans) * answer_rate
    o = (len(others) - bisect.bisect_right(others, r)) / len(others) * (1.0 - answer_rate)
    return h / (h + o) if h + o > 0 else 0.0


@dataclass
class PlateauPredictive:
    min_agents: int = 5  # below: progressive (small teams cannot be paced safely)
    min_dials: int = 100  # resolved dials before the answer rate is trusted
    min_calls: int = 30  # finished calls before the handle-time distribution is trusted
    setpoint: float = 0.4  # aim at this fraction of the limit (occupancy saturates well below it)
    guard: float = 0.9  # at or above this fraction of the limit (measured): progressive
    prior_live: float = 150.0  # smoothing of measured rates toward the setpoint, in live calls
    gain_per_s: float = 1.0 / 300  # integral gain: bias moves by (error / limit) per 300 s
    bias_bounds: tuple[float, float] = (-1.5, 4.0)
    max_ratio: float = 12.0  # never more calls in flight than this × agents logged in
    name: str = "plateau"
    bias: float = 0.0  # state: the integral term
    _last_now: float | None = None

    def decide(self, obs: Observation) -> Decision:
        limit = obs.limit
        target = self.setpoint * limit
        measured = self._measured(obs, target)
        dt = 0.0 if self._last_now is None else min(max(obs.now - self._last_now, 0.0), 60.0)
        self._last_now = obs.now
        self.bias += self.gain_per_s * dt * (measured - target) / limit
        self.bias = min(max(self.bias, self.bias_bounds[0]), self.bias_bounds[1])
        inputs: dict[str, float | int | str | None] = {
            "agents_ready": obs.agents_ready,
            "agents_logged_in": obs.agents_logged_in,
            "ringing": len(obs.ringing),
            "waiting": obs.waiting,
            "answer_rate": obs.answer_rate,
            "abandon_today": obs.abandon_today.rate,
            "abandon_period": obs.abandon_period.rate,
            "abandon_24h": None if obs.abandon_24h is None else obs.abandon_24h.rate,
            "abandon_measured": measured,
            "bias": self.bias,
        }
        reason = self._fallback_reason(obs, measured, limit)
        if reason is not None:
            inputs["fallback"] = reason
            return Decision(cap_channels(progressive_calls(obs), obs), self.name, "progressive", inputs)

        p = obs.answer_rate or 0.0
        h = median(obs.human_delays, 10.0) + obs.abandon_after_seconds
        wrap_mid = median(obs.wrap_times, 0.0)
        free_mu = float(obs.agents_ready)
        free_var = 0.0
        for t in obs.on_call:
            q = finish_probability(obs.handle_times, t, h)
            free_mu += q
            free_var += q * (1 - q)
        for w in obs.in_wrap:
            q = finish_probability(obs.wrap_times, w, h) if wrap_mid > 0 else 1.0
            free_mu += q
            free_var += q * (1 - q)
        need_mu = float(obs.waiting)
        need_var = 0.0
        for r in obs.ringing:
            q = live_probability(obs.human_delays, obs.other_delays, p, r)
            need_mu += q
            need_var += q * (1 - q)
        # Proportional taper on top of the integral term: between the setpoint and the guard, the
        # allowed abandon fraction shrinks linearly to zero, so the guard's cliff is rarely reached.
        risk = max(measured, *((m.abandoned + 1) / (m.live + 1) for m in obs.abandon_measures))
        taper = min(1.0, max(0.0, (self.guard * limit - risk) / ((self.guard - self.setpoint) * limit)))
        alpha = target * math.exp(-self.bias) * taper
        ceiling = max(0, int(self.max_ratio * obs.agents_logged_in) - len(obs.ringing))
        n = 0
        while n < ceiling:
            mu_h = need_mu + (n + 1) * p
            var = free_var + need_var + (n + 1) * p * (1 - p)
            if expected_excess(mu_h - free_mu, var) > alpha * mu_h:
                break
            n += 1
        n = max(n, progressive_calls(obs))  # never below progressive: a free agent always gets a call
        inputs.update(
            agents_free_soon=free_mu - obs.agents_ready,
            people_expected=need_mu,
            horizon_s=h,
            alpha=alpha,
            taper=taper,
        )
        return Decision(cap_channels(n, obs), self.name, "predictive", inputs)

    def _measured(self, obs: Observation, target: float) -> float:
        """The worst measured rate, each smoothed toward the setpoint."""
        worst = 0.0
        for m in obs.abandon_measures:
            smoothed = (m.abandoned + self.prior_live * target) / (m.live + self.prior_live)
            worst = max(worst, smoothed)
        return worst

    def _fallback_reason(self, obs: Observation, measured: float, limit: float) -> str | None:
        if obs.agents_logged_in < self.min_agents:
            return "small_team"
        if obs.dials_sampled < self.min_dials or len(obs.handle_times) < self.min_calls:
            return "few_samples"
        if not obs.answer_rate:
            return "no_answers"
        # One more abandon must not take any measured rate past the guard: this holds the rate down
        # early in a day, when a single abandon weighs most.
        near = any((m.abandoned + 1) / (m.live + 1) >= self.guard * limit for m in obs.abandon_measures)
        if measured >= self.guard * limit or near:
            return "abandon_guard"
        return None
