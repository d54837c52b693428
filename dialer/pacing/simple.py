"""Preview (the agent clicks to dial) and progressive (one call per free agent): no abandon by design."""

from __future__ import annotations

from dataclasses import dataclass

from dialer.pacing.model import Decision, Observation, cap_channels, progressive_calls


@dataclass
class Preview:
    """The agent sees the lead, then clicks: one call per click, routed to that agent."""

    name: str = "preview"

    def decide(self, obs: Observation) -> Decision:
        calls = cap_channels(obs.preview_requests, obs)
        return Decision(calls, self.name, "preview", {"preview_requests": obs.preview_requests})


@dataclass
class Progressive:
    """One call per ready agent not already covered by a call ringing or waiting."""

    name: str = "progressive"

    def decide(self, obs: Observation) -> Decision:
        calls = cap_channels(progressive_calls(obs), obs)
        inputs = {"agents_ready": obs.agents_ready, "ringing": len(obs.ringing), "waiting": obs.waiting}
        return Decision(calls, self.name, "progressive", inputs)
