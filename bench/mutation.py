"""Mutation testing of the pure core: how many small planted bugs the fast tests catch.

mutmut (pinned in the `mutation` extra) does the mutating: it copies the tree into `mutants/`, plants every
mutant of the modules listed in `[tool.mutmut] only_mutate`, traces the fast tiers once to learn which tests
reach which function, then runs each mutant against those tests only. This driver runs it one module at a
time at nice 19 and prints one JSON line per module and a total:

    {"bench":"mutation","module":…,"mutants":…,"killed":…,"survived":…,"equivalent":…,"score":…}

`score` is the share of non-equivalent mutants killed (a timeout counts as killed, a mutant no test reaches
as survived). Equivalent mutants — rewrites that cannot change behaviour — are listed with a one-line reason
in `[tool.mutmut-equivalent]` of pyproject.toml; nothing else is excluded. `make mutation` runs it; it is not
part of `make bench`: it is long (1 to 15 minutes a module on two shared cores, far more for numbers).
`--report` prints the last run's figures again, `--modules cti/numbers.py,...` runs a few again on the last
run's copy, `--survivors` lists what survived. mutmut's log goes to var/mutation.log;
`.venv/bin/mutmut show NAME` shows one mutant's diff.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTMUT = Path(sys.executable).parent / "mutmut"

KILLED_CODES = {1, 3, 24, -24, 152, 255, 36, 37}  # failed test, pytest error, timeouts, type check
SURVIVED_CODES = {0, 5, 33, 35}  # survived, no test reaches it, suspicious


@dataclass
class Score:
    module: str
    mutants: int
    killed: int
    survived: int
    equivalent: int
    not_run: int
    survivors: list[str]

    @property
    def score(self) -> float:
        scored = self.mutants - self.equivalent
        return round(100.0 * self.killed / scored, 1) if scored else 100.0

    def line(self) -> str:
        return json.dumps(
            {
                "bench": "mutation",
                "module": self.module,
                "mutants": self.mutants,
                "killed": self.killed,
                "survived": self.survived,
                "equivalent": self.equivalent,
                "score": self.score,
                **({"not_run": self.not_run} if self.not_run else {}),
            }
        )


def config() -> tuple[list[str], dict[str, str]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]
    patterns: list[str] = data["mutmut"]["only_mutate"]
    modules = sorted(
        {
            str(p.relative_to(ROOT))
            for pattern in patterns
            for p in ROOT.glob(pattern)
            if p.suffix == ".py" and fnmatch.fnmatch(str(p.relative_to(ROOT)), pattern)
        }
    )
    return modules, dict(data.get("mutmut-equivalent", {}))


def mutant_glob(module: str) -> str:
    """mutmut's names: `cti.numbers.x_suffix_key__mutmut_3`, `cti.tracker.xǁTrackerǁfeed__mutmut_1`."""
    dotted = module.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
    return f"{dotted}.x*"


def run_modules(modules: list[str], children: int, log: Path) -> None:
    """One mutmut run over the modules' mutants (it plants them once and traces the tests once)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # mutants/ must shadow the tree
    globs = [mutant_glob(m) for m in modules]
    with log.open("ab") as out:
        subprocess.run(
            ["nice", "-n", "19", str(MUTMUT), "run", "--max-children", str(children), *globs],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )


def score_module(module: str, equivalent: dict[str, str]) -> Score:
    meta = ROOT / "mutants" / f"{module}.meta"
    codes: dict[str, int | None] = (
        json.loads(meta.read_text()).get("exit_code_by_key", {}) if meta.exists() else {}
    )
    killed = survived = equiv = not_run = 0
    survivors = []
    for name, code in sorted(codes.items()):
        if name in equivalent:
            equiv += 1
        elif code in KILLED_CODES:
            killed += 1
        elif code is None:
            not_run += 1
            survived += 1
            survivors.append(name)
        else:
            survived += 1
            survivors.append(name)
    return Score(module, len(codes), killed, survived, equiv, not_run, survivors)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--modules", help="comma-separated paths (default: every module of only_mutate)")
    parser.add_argument("--children", type=int, default=2, help="mutants run at once (default 2)")
    parser.add_argument("--report", action="store_true", help="print the last run's figures, run nothing")
    parser.add_argument("--survivors", action="store_true", help="list surviving mutants on stderr")
    args = parser.parse_args()

    modules, equivalent = config()
    if args.modules:
        wanted = args.modules.split(",")
        unknown = sorted(set(wanted) - set(modules))
        if unknown:
            parser.error(f"not in [tool.mutmut] only_mutate: {', '.join(unknown)}")
        modules = wanted
    log = ROOT / "var" / "mutation.log"
    log.parent.mkdir(exist_ok=True)
    started = time.monotonic()
    if not args.report:
        log.write_bytes(b"")
        if not args.modules:
            # A whole run starts from a fresh copy: mutmut never refreshes a copied file it does not mutate.
            shutil.rmtree(ROOT / "mutants", ignore_errors=True)
        run_modules(modules, args.children, log)
    scores = []
    for module in modules:
        score = score_module(module, equivalent)
        scores.append(score)
        print(score.line(), flush=True)
        if args.survivors:
            for name in score.survivors:
                print(f"  survived: {name}", file=sys.stderr)
    known = {name for s in scores for name in _names(s.module)}
    stale = sorted(
        n for n in equivalent if n not in known and any(n.startswith(mutant_glob(m)[:-2]) for m in modules)
    )
    for name in stale:
        print(f"equivalent entry names no current mutant (the function changed?): {name}", file=sys.stderr)
    total = Score(
        "total",
        sum(s.mutants for s in scores),
        sum(s.killed for s in scores),
        sum(s.survived for s in scores),
        sum(s.equivalent for s in scores),
        sum(s.not_run for s in scores),
        [],
    )
    line = json.loads(total.line())
    if not args.report:
        line["elapsed_s"] = round(time.monotonic() - started)
    print(json.dumps(line))
    return 0


def _names(module: str) -> set[str]:
    meta = ROOT / "mutants" / f"{module}.meta"
    return set(json.loads(meta.read_text()).get("exit_code_by_key", {})) if meta.exists() else set()


if __name__ == "__main__":
    sys.exit(main())
