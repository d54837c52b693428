"""Each pacing tick: the observation built as the live engine builds it, the policy asked, leads dialed."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from dialer.compliance import abandon_period_start
from dialer.pacing import AbandonMeasure, Observation
from dialer.sim.state import PAUSED, PREVIEW, TICK


class PacingStep:
    """The tick: observe, ask the policy, dial; and the abandon sums over a period."""

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
        self._push(nxt, TICK)

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

    def _sum(self, since: float, t: float) -> tuple[float, float]:
        """Abandoned and live since `since` (hour granularity: the hour holding `since` counts whole)."""
        lo, hi = max(0, int(since // 3600)), int(t // 3600)
        if hi - lo > 48:  # long periods: cache the sums of whole past hours
            return self._sum_cached(lo, hi)
        h = self.hourly
        return math.fsum(h.ab[lo : hi + 1]), math.fsum(h.live[lo : hi + 1])

    def _sum_cached(self, lo: int, hi: int) -> tuple[float, float]:
        if self._cache_key != (lo, hi):
            self._cache_key = (lo, hi)
            self._cache_val = (math.fsum(self.hourly.ab[lo:hi]), math.fsum(self.hourly.live[lo:hi]))
        ab, live = self._cache_val
        return ab + self.hourly.ab[hi], live + self.hourly.live[hi]
