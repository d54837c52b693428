"""What the rest of the application reads of the engine: the screen-pop's dialer fields, a recording's
campaign, and the campaign monitor's live view."""

from __future__ import annotations

from typing import Any

from dialer.engine.state import EngineState


class MonitorView(EngineState):
    def campaign_of(self, linkedid: str) -> int | None:
        """The campaign of a call in flight (its recording keeps that campaign's retention)."""
        call = self.book.calls.get(linkedid)
        return call.campaign_id if call is not None else None

    def pop_fields(self, linkedid: str) -> dict[str, Any] | None:
        call = self.book.calls.get(linkedid)
        if call is None:
            return None
        return {
            "dialer": {
                "campaign_id": call.campaign_id,
                "campaign": call.campaign_name,
                "script": call.script,
                "lead_id": call.lead_id,
                "number": call.e164,
                "fields": call.lead_fields,
            }
        }

    def live_view(self, campaign_id: int) -> dict[str, Any]:
        loop = self.loops.get(campaign_id)
        counts = self.book.counts(campaign_id)
        agents = dict(loop.last_agents) if loop else {}
        logged_in = sum(n for state, n in agents.items() if state not in ("paused", "logged_out"))
        return {
            "running": bool(loop and loop.active),
            "calls_in_flight": counts["calls_in_flight"],
            "waiting_for_agent": counts["waiting_for_agent"],
            "connected": counts["connected"],
            "dial_level": round(counts["lines"] / logged_in, 3) if logged_in else None,
            "agents": agents,
            "originated_since_start": loop.originated if loop else 0,
            "answer_rate": loop.stats.answer_rate if loop else None,
            "decisions": list(loop.decisions)[-20:] if loop else [],
        }
