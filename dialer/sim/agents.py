"""Agents in the simulator: shifts, breaks, leaving after the call, ready and preview."""

from __future__ import annotations

from dialer.sim.state import CLICK, DEPART, OFF, PAUSED, PREVIEW, READY, TALK, TICK, WRAP, SimAgent


class AgentEvents:
    """Agents logging in and out, pausing, leaving, and becoming ready."""

    # -- agents ---------------------------------------------------------------------------------------

    def _present(self) -> int:
        return len(self.ready) + len(self.talking) + len(self.wrapping)

    def _on_login(self, t: float, agent: SimAgent) -> None:
        if agent.state != OFF:
            return
        agent.present_since = t
        agent.pending = None
        self._become_ready(t, agent)
        if not self.tick_pending:
            self.tick_pending = True
            self._push(t, TICK)

    def _leave(self, t: float, agent: SimAgent, state: int) -> None:
        if self.ready.pop(agent, False) is None and agent.pending is not None:
            self.departing -= 1
        if agent in self.clicked:
            self.clicked.remove(agent)
        self.present_s += t - agent.present_since
        agent.state, agent.since, agent.pending = state, t, None

    def _request_leave(self, t: float, agent: SimAgent, state: int) -> None:
        """Pause or log out. A ready agent asks, stops being counted for pacing at once, still takes a
        call already placed for them during `depart_grace_s`, and leaves after it (or the grace)."""
        if agent.state == READY:
            if agent.pending is None:
                self.departing += 1
                self._push(t + self.cfg.depart_grace_s, DEPART, agent)
            agent.pending = state
        elif agent.state == PREVIEW and agent.call is None:
            self._leave(t, agent, state)
        elif agent.state == PAUSED and state == OFF:
            agent.state = OFF
        elif agent.state in (TALK, WRAP, PREVIEW):
            agent.pending = state

    def _on_logout(self, t: float, agent: SimAgent) -> None:
        self._request_leave(t, agent, OFF)

    def _on_pause(self, t: float, agent: SimAgent) -> None:
        self._request_leave(t, agent, PAUSED)

    def _on_depart(self, t: float, agent: SimAgent) -> None:
        if agent.state == READY and agent.pending is not None:
            self._leave(t, agent, agent.pending)

    def _on_unpause(self, t: float, agent: SimAgent) -> None:
        if agent.pending == PAUSED:
            if agent.state == READY:
                self.departing -= 1
            agent.pending = None
        elif agent.state == PAUSED:
            agent.present_since = t
            self._become_ready(t, agent)

    def _become_ready(self, t: float, agent: SimAgent) -> None:
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
            self._push(t + self.cfg.preview_s, CLICK, agent)
        else:
            agent.state = READY
            self.ready[agent] = None

    def _preview(self) -> bool:
        return self.policy.name == "preview"

    def _on_click(self, t: float, agent: SimAgent) -> None:
        if agent.state == PREVIEW and agent.call is None:
            self.clicked.append(agent)
