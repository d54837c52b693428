"""Pacing policies side by side on the same simulated campaigns (same seeds, same simulator).

Preview, progressive, VICIdial-style adaptive, Issabel-style predictor and Plateau predictive, for
10, 20 and 50 agents and live-answer rates 0.15, 0.25 and 0.35 (talk lognormal mean 150 s, CV 1,
wrap-up 20 s, AMD on, US-TCPA abandon rules: 2 s, 3 %). Each case: 3 days, one 4-hour shift a day,
an endless lead list (pacing only; compliance is covered by tests/dialer/test_sim_compliance.py).
Prints one JSON line per case.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dialer.compliance import builtin_rule_sets
from dialer.pacing import POLICIES, make_policy
from dialer.sim import EndlessLeads, Shift, SimConfig, Simulation
from dialer.sim.audit import abandon_report, dials_from_records

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday; the shift is 09:00-13:00 in New York


def run_case(policy: str, agents: int, answer_rate: float, days: int, seed: int) -> dict[str, object]:
    rs = builtin_rule_sets()["US-TCPA"]
    cfg = SimConfig(answer_rate=answer_rate, shifts=(Shift(14.0, 18.0, agents),))
    began = time.perf_counter()
    result = Simulation(cfg, make_policy(policy), EndlessLeads(), rs, start=START, days=days, seed=seed).run()
    report = abandon_report(dials_from_records(result.records, START), rs, "live_answered", days, START)
    return {
        "bench": "pacing",
        "policy": policy,
        "agents": agents,
        "answer_rate": answer_rate,
        "occupancy": round(result.occupancy, 4),
        "abandon_rate_day_max": round(report.day_max, 4),
        "abandon_rate_30d": round(report.rolling_30d_max, 4),
        "agent_wait_p95_s": round(result.agent_wait_p95, 1),
        "dials": len(result.records),
        "live": int(report.live),
        "seconds": round(time.perf_counter() - began, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--policies", default=",".join(POLICIES))
    args = parser.parse_args()
    for agents in (10, 20, 50):
        for rate in (0.15, 0.25, 0.35):
            for policy in args.policies.split(","):
                print(json.dumps(run_case(policy, agents, rate, args.days, args.seed)), flush=True)


if __name__ == "__main__":
    main()
