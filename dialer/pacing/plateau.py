"""Plateau's predictive policy: agents free by the time each call would be answered, people expected
from the calls in flight and new ones, held under the abandon limit by feedback on the *measured* rates.

Model (each decision, once a second), over checkpoints `x` seconds ahead (every 2 s up to the longest
measured delay from originate to a live person ready for an agent):
- agents free by `x + g` (`g` = the rule set's abandon seconds: a person may wait that long): ready
  agents; each agent in wrap-up with elapsed wrap `w`, with P(wrap ends by `w + x + g` | lasted `w`);
  each agent on a call with elapsed talk `t`, with P(talk + wrap ends by `t + x + g` | talk > `t`),
  i.e. the handle time conditioned on outlasting `t` plus the median wrap-up (an agent still talking
  has a whole wrap-up ahead). Agents who asked to pause or log out after their call do not count;
- people ready for an agent by `x`: those waiting now; each call in flight with elapsed ring `r`,
  with P(it becomes a live answer ready by `r + x` | still unresolved at `r`), from the measured delays
  of live answers and of every other outcome; each new call with `p` × P(live delay ≤ `x`)
  (`p` = measured answer rate);
- the people arriving by `x` that no agent free by `x + g` can take are abandoned, so place the
  largest `n` for which the chance that at least one person more arrives than agents are free
  (normal approximation of both sums of Bernoullis) is at most `overflow_per_alpha` × `alpha` at every
  checkpoint. A newsvendor rule: the last call placed adds abandons in proportion to that chance and
  agent time in proportion to its complement, so one cap for every state spends abandons where they
  buy the most agent time (capping the expected excess at `alpha` × people expected instead gave 0.7
  occupancy points less at equal abandon: bench, 20 agents at 0.15, five seeds).

Feedback: `alpha` starts at `setpoint × limit` (the target) and is multiplied by `exp(-bias)` and by a
taper. `bias` integrates the log ratio of the measured rate to the target, clamped to ±1 (a relative
error, so a low target learns as fast as one near the limit); the measured rate is the worst of
today's, the rule set's period and the trailing 24 h when given, each smoothed toward the target by a
prior of `prior_live` calls so ten calls do not swing it. No abandon yet only lowers `bias` once one more
abandon would still leave every raw rate under the target (evidence, not silence: a 0.01 % target
needs 10,000 live calls before a quiet day says it is met). The taper shrinks `alpha` linearly to zero as
the measured rate goes from the target to the guard. Above `guard × limit` the policy dials
progressively (one call per free agent: no abandon by design) until the rate is back. While one more
abandon would take a raw measured rate there (early in a day, when a single abandon weighs most) it
dials cautiously: predictive with `cautious` × `alpha` (a tenth of the allowed abandon fraction), not
progressively, since at a low answer rate one call per free agent leaves agents idle for
minutes each morning (bench, 20 agents at 0.15: occupancy 0.819 -> 0.843 at the same 1.26 % target).
Below the guard, while one more abandon would still put a raw rate over the target, `alpha` is scaled
by target / that rate (not under `cautious`): a low target cannot be backed by a day's calls, and its
first abandons came early in a day, before the data could show the target was met.
Small teams (fewer than `min_agents`) and too few samples also dial progressively.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import zip_longest

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


def overflow_probability(mu: float, var: float) -> float:
    """P(X >= 1) for an integer X approximated by Normal(mu, var) (continuity-corrected: P(X > 0.5)):
    the chance that at least one more person is ready than there are agents free."""
    if var <= 1e-12:
        return 1.0 if mu > 0.5 else 0.0
    return 0.5 * (1.0 + math.erf((mu - 0.5) / math.sqrt(2.0 * var)))


def finish_probability(samples: Sequence[float], elapsed: float, horizon: float) -> float:
    """P(T ≤ elapsed + horizon | T > elapsed) from sorted samples of T.

    When fewer than 5 samples outlast `elapsed` (an unusually long call), the tail is taken as
    memoryless with the mean residual of the longest samples, so an outlier is neither sure to end
    nor never counted.
    """
    return finish_probabilities(samples, elapsed, (horizon,))[0]


def finish_probabilities(
    samples: Sequence[float], elapsed: float, horizons: Sequence[float], censored: Sequence[float] = ()
) -> list[float]:
    """`finish_probability` for several horizons at once (one look-up of the survivors).

    `censored`: sorted lengths known only to exceed their value (calls still going on). Those past
    `elapsed` join the survivors without ending (Kaplan–Meier's risk set): early in a day only short
    calls have finished, and the samples alone would see long calls about to end.
    """
    n = len(samples)
    if n == 0:
        return [0.0] * len(horizons)
    i = bisect.bisect_right(samples, elapsed)
    alive = n - i + len(censored) - bisect.bisect_right(censored, elapsed)
    if alive < 5:
        tail = samples[max(0, n - 5) :]
        residual = max(mean([s - min(elapsed, s) for s in tail], 0.0), 30.0)
        return [1.0 - math.exp(-h / residual) for h in horizons]
    return [(bisect.bisect_right(samples, elapsed + h, lo=i) - i) / alive for h in horizons]


def ready_probability(
    humans: Sequence[float], others: Sequence[float], answer_rate: float, r: float, x: float
) -> float:
    """P(a call ringing for `r` s becomes a live answer ready for an agent by `r + x`), from sorted
    resolution delays by outcome (live answers in `humans`, every other outcome in `others`)."""
    return ready_probabilities(humans, others, answer_rate, r, (x,))[0]


def ready_probabilities(
    humans: Sequence[float], others: Sequence[float], answer_rate: float, r: float, xs: Sequence[float]
) -> list[float]:
    """`ready_probability` for several look-aheads at once."""
    n_h, n_o = len(humans), len(others)
    if not n_h:
        return [0.0] * len(xs)
    lo = bisect.bisect_right(humans, r)
    others_alive = (n_o - bisect.bisect_right(others, r)) / n_o if n_o else 0.0
    alive = (n_h - lo) / n_h * answer_rate + others_alive * (1.0 - answer_rate)
    if alive <= 0:
        return [0.0] * len(xs)
    scale = answer_rate / (n_h * alive)
    return [(bisect.bisect_right(humans, r + x, lo=lo) - lo) * scale for x in xs]


def wraps_after_talk(talk_wrap: Sequence[tuple[float, float]], talk: float, k: int = 40) -> list[float]:
    """Sorted wrap-ups of the `k` finished calls whose talk time was closest to `talk` (empty when
    fewer than `k` calls are known): how long this wrap-up may last, given the call it follows."""
    n = len(talk_wrap)
    if n < k:
        return []
    i = bisect.bisect_left(talk_wrap, (talk, -1.0))
    lo, hi = max(0, i - k // 2), min(n, i + k // 2)
    if hi - lo < k:  # near an end: take the rest from the other side
        lo, hi = (0, k) if lo == 0 else (n - k, n)
    return sorted(w for _, w in talk_wrap[lo:hi])


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
    min_dials: int = 50  # resolved dials before the answer rate is trusted
    # finished calls before the handle-time distribution is trusted: few, since the calls still going on
    # weigh in too (Kaplan-Meier) and the first live calls of a day are dialled cautiously anyway
    min_calls: int = 10
    # aim at this fraction of the limit: high enough to buy occupancy, low enough that a day's noise
    # plus the taper and guard keep every measured rate under the limit (a campaign may aim lower)
    setpoint: float = 0.6
    guard: float = 0.9  # at or above this fraction of the limit (measured): progressive
    # while one more abandon would take a raw measured rate past the guard (early in a day): this
    # fraction of the allowed abandon fraction (0: progressive until enough live calls are measured)
    cautious: float = 0.1
    # the chance allowed that, at some checkpoint, more people are ready than agents free: this many
    # times the allowed abandon fraction, at most one half
    overflow_per_alpha: float = 10.0
    prior_live: float = 150.0  # smoothing of measured rates toward the setpoint, in live calls
    gain_per_s: float = 1.0 / 300  # integral gain: bias moves by the clamped log error per 300 s
    bias_bounds: tuple[float, float] = (-1.5, 8.0)  # up to e^8: room for a target near zero
    max_ratio: float = 12.0  # never more calls in flight than this × agents logged in
    step_s: float = 3.0  # checkpoints every this many seconds ahead
    name: str = "plateau"
    bias: float = 0.0  # state: the integral term
    _last_now: float | None = None

    def decide(self, obs: Observation) -> Decision:
        limit = obs.limit
        target = self.setpoint * limit
        measured = self._measured(obs, target)
        dt = 0.0 if self._last_now is None else min(max(obs.now - self._last_now, 0.0), 60.0)
        self._last_now = obs.now
        # relative error: a low target learns as fast as a high one (one abandon over a 0.1 % target
        # is as much news as ten over 1 %); clamped so one early abandon cannot swing it further
        error = math.log(max(measured, 1e-9) / target) if target > 0 else 1.0
        # No abandon yet is no news while one more would put a raw rate over the target (a 0.01 %
        # target needs 10,000 live calls to show it is met): aim lower on evidence only.
        one_more = max((m.abandoned + 1) / (m.live + 1) for m in obs.abandon_measures)
        if error < 0 and one_more > target:
            error = 0.0
        self.bias += self.gain_per_s * dt * min(max(error, -1.0), 1.0)
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
        near = one_more >= self.guard * limit
        reason = self._fallback_reason(obs, measured, limit, near)
        if reason is not None:
            inputs["fallback"] = reason
            return Decision(cap_channels(progressive_calls(obs), obs), self.name, "progressive", inputs)

        p = obs.answer_rate or 0.0
        humans = obs.human_delays
        g = obs.abandon_after_seconds
        last = humans[-1]
        xs = [min(self.step_s * k, last) for k in range(1, math.ceil(last / self.step_s) + 1)]
        free_mu, free_var = self._agents_free(obs, [x + g for x in xs])
        need_mu = [float(obs.waiting)] * len(xs)
        need_var = [0.0] * len(xs)
        for r, count in Counter(obs.ringing).items():
            for k, q in enumerate(ready_probabilities(humans, obs.other_delays, p, r, xs)):
                need_mu[k] += count * q
                need_var[k] += count * q * (1 - q)
        n_h = len(humans)
        new = [p * bisect.bisect_right(humans, x) / n_h for x in xs]  # per new call, ready by x
        # Proportional taper on top of the integral term: between the setpoint and the guard, the
        # allowed abandon fraction shrinks linearly to zero, so the guard's cliff is rarely reached.
        # (while `near`, the raw rate would zero it: the caution factor stands in for it)
        risk = measured if near else max(measured, one_more)
        taper = min(1.0, max(0.0, (self.guard * limit - risk) / ((self.guard - self.setpoint) * limit)))
        caution = self.cautious if near else max(self.cautious, min(1.0, target / one_more))
        alpha = target * math.exp(-self.bias) * taper * caution
        ceiling = max(0, int(self.max_ratio * obs.agents_logged_in) - len(obs.ringing))

        def gap(n: int, k: int) -> tuple[float, float]:
            """People ready by checkpoint `k` less agents free for them (mean, variance), `n` new calls."""
            b = new[k]
            return need_mu[k] + n * b - free_mu[k], need_var[k] + n * b * (1 - b) + free_var[k]

        def worst_overflow(n: int) -> tuple[float, int]:
            return max((overflow_probability(*gap(n, k)), k) for k in range(len(new)))

        # Newsvendor rule: the n-th call adds abandons in proportion to P(overflow) and agent time in
        # proportion to 1 - P(overflow), so capping P(overflow) at one level in every state equalises
        # the trade at the margin (bench, 20 agents at 0.15, five seeds: +0.7 occupancy points at
        # equal abandon over capping the expected excess at `alpha` x people expected).
        overflow_allowed = min(0.5, self.overflow_per_alpha * alpha)

        def fits(n: int) -> bool:
            return worst_overflow(n)[0] <= overflow_allowed

        # the largest n that fits (the overflow grows with n): double, then bisect
        n, step = 0, 1
        while n + step <= ceiling and fits(n + step):
            n += step
            step *= 2
        while step > 1:
            step //= 2
            if n + step <= ceiling and fits(n + step):
                n += step
        n = max(n, progressive_calls(obs))  # never below progressive: a free agent always gets a call
        overflow, k = worst_overflow(n)
        inputs.update(
            agents_free_soon=free_mu[-1] - obs.agents_ready,
            people_expected=need_mu[-1] + n * new[-1],
            horizon_s=xs[-1] + g,
            binding_s=xs[k],
            expected_abandons=expected_excess(*gap(n, k)),
            overflow=overflow,
            overflow_allowed=overflow_allowed,
            alpha=alpha,
            taper=taper,
            caution=caution,
        )
        return Decision(cap_channels(n, obs), self.name, "predictive", inputs)

    @staticmethod
    def _agents_free(obs: Observation, until: list[float]) -> tuple[list[float], list[float]]:
        """Mean and variance of the agents free (and staying) by each of `until` seconds from now."""
        mu = [float(obs.agents_ready)] * len(until)
        var = [0.0] * len(until)
        wraps, handles = obs.wrap_times, obs.handle_times
        wrap_mid = median(wraps, 0.0)
        for w, leaving, talk in zip_longest(obs.in_wrap, obs.in_wrap_leaving, obs.in_wrap_talk):
            if leaving:
                continue
            like = wraps if talk is None else wraps_after_talk(obs.talk_wrap, talk) or wraps
            qs = finish_probabilities(like, w, until) if wrap_mid > 0 else [1.0] * len(until)
            for k, q in enumerate(qs):
                mu[k] += q
                var[k] += q * (1 - q)
        # still talking: a whole wrap-up lies ahead, so only look-aheads past it can see them free
        first = bisect.bisect_right(until, wrap_mid)
        later = [y - wrap_mid for y in until[first:]]
        if later:
            ongoing = sorted(t + wrap_mid for t in obs.on_call)  # handle times known to be longer
            for t, leaving in zip_longest(obs.on_call, obs.on_call_leaving):
                if leaving:
                    continue
                qs = finish_probabilities(handles, t + wrap_mid, later, ongoing)
                for k, q in enumerate(qs, start=first):
                    mu[k] += q
                    var[k] += q * (1 - q)
        return mu, var

    def _measured(self, obs: Observation, target: float) -> float:
        """The worst measured rate, each smoothed toward the setpoint."""
        worst = 0.0
        for m in obs.abandon_measures:
            if m.live + self.prior_live <= 0:
                continue
            smoothed = (m.abandoned + self.prior_live * target) / (m.live + self.prior_live)
            worst = max(worst, smoothed)
        return worst

    def _fallback_reason(self, obs: Observation, measured: float, limit: float, near: bool) -> str | None:
        if obs.agents_logged_in < self.min_agents:
            return "small_team"
        if obs.dials_sampled < self.min_dials or len(obs.handle_times) < self.min_calls:
            return "few_samples"
        if not obs.answer_rate:
            return "no_answers"
        # Near the guard by one abandon (early in a day, when a single abandon weighs most): cautious
        # predictive dialing in `decide`, or progressive when the campaign turned caution off.
        if measured >= self.guard * limit or (near and self.cautious <= 0):
            return "abandon_guard"
        return None
