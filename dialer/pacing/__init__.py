"""Pacing policies: how many calls a campaign should originate right now. Pure, no I/O, no clock.

Contract for the engine loop (once a second per running campaign, and after any event it likes):

    stats = PacingStats()                      # one per campaign, lives as long as the campaign runs
    policy = make_policy("plateau")            # or "preview", "progressive", "vicidial", "issabel"
    ...
    stats.dial_resolved(live, delay_s)         # each dial: live answer ready for an agent after delay_s,
                                               #   or any other outcome (delay = originate → resolution)
    stats.call_finished(talk_s, wrap_s)        # each agent call, when the agent's wrap-up ends
    ...
    decision = policy.decide(Observation(
        now=monotonic_seconds,
        agents_ready=..., on_call=(elapsed talk s, ...), in_wrap=(elapsed wrap s, ...), agents_paused=...,
        ringing=(elapsed s since originate of each unresolved call, ...), waiting=answered people in queue,
        preview_requests=clicks since last decision,           # preview mode only
        dials_sampled=stats.dials_sampled, answer_rate=stats.answer_rate,
        human_delays=stats.human_delays.sorted, other_delays=stats.other_delays.sorted,
        handle_times=stats.handle.sorted, wrap_times=stats.wrap.sorted,
        abandon_today=AbandonMeasure(abandoned, live),         # by the rule set's definition, since midnight
        abandon_period=AbandonMeasure(abandoned, live),        #   in its reference zone, and over its period
        abandon_24h=AbandonMeasure(abandoned, live),           # optional: trailing 24 h
        abandon_limit_percent=rule_set.max_abandon_rate_percent,    # (compliance.abandon_stats gives both)
        abandon_after_seconds=rule_set.abandon_after_seconds,
        dials_today=..., max_channels=campaign trunk limit or None, clock_hhmm=server HHMM (VICIdial TAPERED),
    ))
    originate decision.calls calls (leads from dialer.leads.select_leads); log decision.inputs

`Decision.calls` is the number of *new* originates: policies already subtract the calls in flight and
waiting. `Decision.inputs` holds what the decision used (agents free and soon free, answer rate,
abandon rates, fallbacks…) for the decision log and the campaign monitor. Policies may keep state
(VICIdial's dial level, Plateau's feedback term): keep one instance per campaign.
"""

from __future__ import annotations

from dialer.pacing.model import AbandonMeasure, Decision, Observation, Policy
from dialer.pacing.peers import IssabelPredictor, VicidialAdaptive
from dialer.pacing.plateau import PlateauPredictive
from dialer.pacing.simple import Preview, Progressive
from dialer.pacing.stats import PacingStats, SortedWindow

POLICIES = ("preview", "progressive", "vicidial", "issabel", "plateau")


def make_policy(name: str) -> Policy:
    """A fresh policy instance by name (one per campaign: some keep state)."""
    factories = {
        "preview": Preview,
        "progressive": Progressive,
        "vicidial": VicidialAdaptive,
        "issabel": IssabelPredictor,
        "plateau": PlateauPredictive,
    }
    try:
        return factories[name]()
    except KeyError:
        raise ValueError(f"unknown pacing policy {name!r}; choose one of {', '.join(POLICIES)}") from None


__all__ = [
    "POLICIES",
    "AbandonMeasure",
    "Decision",
    "IssabelPredictor",
    "Observation",
    "PacingStats",
    "PlateauPredictive",
    "Policy",
    "Preview",
    "Progressive",
    "SortedWindow",
    "VicidialAdaptive",
    "make_policy",
]
