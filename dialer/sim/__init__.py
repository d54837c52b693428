"""Discrete-event simulation of an outbound campaign, for the tests and `bench/pacing.py`. Pure, seeded.

- `model`: outcome and timing distributions (`SimConfig`), agent shifts, per-dial records;
- `engine`: the event loop driving any pacing policy once per tick (`Simulation`), with its event
  families in `agents`, `pacing_step` and `calls` and its records in `state`;
- `population`: 100 000-lead populations across time zones and a hopper that dials only what
  `dialer.leads.select_leads` / `dialer.compliance.check` allow, with aggressive retry rules;
- `audit`: an independent re-check of every attempt against the rule set, and abandon rates by
  definition (worst calendar day, trailing 24 h, trailing 30 days).
"""

from dialer.sim.engine import Simulation
from dialer.sim.model import CallRecord, Shift, SimConfig
from dialer.sim.state import EndlessLeads, SimResult

__all__ = ["CallRecord", "EndlessLeads", "Shift", "SimConfig", "SimResult", "Simulation"]
