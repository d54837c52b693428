"""Calls in the simulator: dialing, answers, routing to the longest-idle agent, abandons, talk and wrap-up."""

from __future__ import annotations

from typing import Any

from dialer.leads_model import AttemptResult
from dialer.sim.model import CallRecord
from dialer.sim.state import (
    DEADLINE,
    DISPOSITIONS,
    RESOLVE,
    ROUTED,
    TALK,
    TALK_END,
    WRAP,
    WRAP_END,
    SimAgent,
    SimCall,
)


class CallEvents:
    """A dialed call from its resolution to the agent's disposition."""

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

    def _dial(self, t: float, handle: Any, agent: SimAgent | None) -> None:
        cfg, rng = self.cfg, self.rng
        self.dials_today += 1
        rec = CallRecord(start=t, live=False)
        self.records.append(rec)
        p = self._answer_rate(t)
        u = rng.random()
        if agent is not None:
            agent.call = call = SimCall(handle, rec, False, agent)
        else:
            call = SimCall(handle, rec, False, None)
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
                self._push(t + tta + cfg.amd_machine_s, RESOLVE, (call, AttemptResult.MACHINE))
                return
            slow = rng.random() < cfg.routing_slow_share
            route = cfg.routing_slow_s if slow else cfg.routing_fast_s
            self._push(rec.answered + route, ROUTED, call)
            return
        u -= p + cfg.machine_rate
        if u < cfg.busy_rate:
            self._push(t + rng.uniform(2.0, 5.0), RESOLVE, (call, AttemptResult.BUSY))
        elif u < cfg.busy_rate + cfg.congestion_rate:
            self._push(t + rng.uniform(0.5, 3.0), RESOLVE, (call, AttemptResult.FAILED))
        else:
            self._push(t + cfg.ring_timeout_s, RESOLVE, (call, AttemptResult.NO_ANSWER))

    def _on_resolve(self, t: float, item: tuple[SimCall, AttemptResult]) -> None:
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

    def _on_routed(self, t: float, call: SimCall) -> None:
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
            self._push(call.rec.answered + self.rs.abandon_after_seconds, DEADLINE, call)

    def _on_deadline(self, t: float, call: SimCall) -> None:
        if call.done or call.rec.connected is not None:
            return
        call.done = True
        self.n_waiting -= 1
        rec = call.rec
        rec.live = rec.abandoned = True  # the dialler cannot tell a machine it never connected
        self.hourly.add(rec.start, 1.0, 1.0)
        self.source.finished(call.handle, rec, AttemptResult.DROPPED, t)

    def _connect(self, t: float, call: SimCall, agent: SimAgent) -> None:
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
        self._push(t + agent.talk, TALK_END, agent)

    def _on_talk_end(self, t: float, agent: SimAgent) -> None:
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
        self._push(t + wrap, WRAP_END, agent)

    def _on_wrap_end(self, t: float, agent: SimAgent) -> None:
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
