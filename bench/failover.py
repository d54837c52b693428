"""Failover of the PBX links between nodes: how long after a fault another node runs the links.

Runs the cluster tier's `kill -9` and cut tests (tests/cluster/: three `plateau serve` nodes on one
PostgreSQL, two private Asterisk servers, leases ttl 3 s / renewal 1 s / margin 0.5 s) under the live-tests
lock and reads the figures they print:
- kill -9 of the node running both links: seconds until another node's /healthz shows both links up,
  and, for a desk connected to it during a call, until its reconnect to another node gets a snapshot
  showing the call (`desk_back_s`);
- that node cut from PostgreSQL (its TCP relay closed): seconds until the PBXs count none of its AMI
  sessions, and until another node runs both links.
Each takes a bound of ttl + one renewal; the defaults (15/5/2) scale it to about 20 s. Prints one JSON line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURE = "cluster-figure"  # tests/cluster/test_failover.py's prefix


def main() -> None:
    tests = ["-m", "cluster", "tests/cluster/test_failover.py", "-k", "killed or cut_from"]
    cmd = ["flock", "/tmp/plateau-live.lock", sys.executable, "-m", "pytest", "-q", "-s", *tests]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    # pytest's progress marks may share the line: the figure is what follows the prefix
    figures = [json.loads(line.split(FIGURE, 1)[1]) for line in run.stdout.splitlines() if FIGURE in line]
    print(
        json.dumps(
            {
                "bench": "failover",
                "lease": {"ttl_s": 3, "renew_every_s": 1, "margin_s": 0.5},
                "figures": figures,
                "tests_passed": run.returncode == 0,
                "setup": "3 plateau serve nodes, 2 private Asterisk servers, PostgreSQL, one 2-core host",
            }
        )
    )
    if run.returncode != 0:
        sys.stderr.write(run.stdout[-3000:])
        sys.exit(1)


if __name__ == "__main__":
    main()
