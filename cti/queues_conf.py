"""Queues as Asterisk sees them: the one place that turns Plateau's queues into app_queue configuration
and dialplan globals. Pure: records in, text and dictionaries out.

Why generated includes and not Asterisk Realtime: they work the same on the embedded default (SQLite, which
no Asterisk realtime driver reads) and on PostgreSQL, on a private or an existing Asterisk, and need nothing
but the AMI rights Plateau already has. A queue's settings reach Asterisk with `QueueReload` (parameters
only: the members logged in and the callers waiting stay put); a DID, a maximum wait or an overflow
reaches the dialplan as a global variable set through AMI `Setvar` (no dialplan reload), and the same
values are rendered for the next start. Members are dynamic: `QueueAdd` with the skill's penalty when the
agent logs in, `QueuePenalty` when an admin changes the skill meanwhile (see cti/queue_provision.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

QUEUES_INCLUDE = "queues_plateau.conf"
GLOBALS_INCLUDE = "extensions_queues.conf"
STRATEGIES = ("ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "rrordered", "linear", "wrandom")
# queues.conf sections that are not queues ([general]), our template, and names app_queue or the dialplan
# treat specially
RESERVED = frozenset({"general", "queue-defaults", "globals", "default", "rules", "plateau"})
NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,39}$"
_NAME = re.compile(NAME_PATTERN)
_DID = re.compile(r"^\+?[0-9]{2,20}$")
SKILL_MIN, SKILL_MAX = 1, 9


def name_problem(name: str) -> str | None:
    """Why `name` cannot be an Asterisk queue name, or None. Queue names end up in a config section
    header, in AMI actions and in dialplan variable names: a narrow alphabet keeps all three safe."""
    if not _NAME.fullmatch(name):
        return "lowercase letters a-z, digits, _ and - only, starting with a letter (at most 40)"
    if name in RESERVED:
        return f"{name!r} is reserved by Asterisk or Plateau"
    return None


def penalty_of(skill: int) -> int:
    """Skill 1 (best) → penalty 0: app_queue rings the lowest penalty first."""
    if not SKILL_MIN <= skill <= SKILL_MAX:
        raise ValueError(f"skill must be {SKILL_MIN}-{SKILL_MAX}")
    return skill - 1


def skill_of(penalty: int) -> int:
    return min(SKILL_MAX, max(SKILL_MIN, penalty + 1))


@dataclass(frozen=True)
class QueueConf:
    name: str
    strategy: str = "rrmemory"
    wrapup_s: int = 0
    service_level_s: int = 20
    max_wait_s: int | None = None  # None: the dialplan's QUEUE_MAX_WAIT
    overflow: str | None = None  # the queue a caller goes to when the wait is over
    did: str | None = None  # the number that reaches this queue (when no IVR flow routes it)

    def __post_init__(self) -> None:
        problem = name_problem(self.name)
        if problem:
            raise ValueError(f"queue {self.name!r}: {problem}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"queue {self.name}: strategy {self.strategy!r} is not one of {STRATEGIES}")
        if self.overflow is not None and (name_problem(self.overflow) or self.overflow == self.name):
            raise ValueError(f"queue {self.name}: overflow {self.overflow!r} is not another queue")
        if self.did is not None and not _DID.fullmatch(self.did):
            raise ValueError(f"queue {self.name}: did {self.did!r} is not a number")


# The queues a fresh private Asterisk has when nobody provisioned it (tests, a first `make run`).
BUILT_IN = (
    QueueConf("support", did="5551000"),
    QueueConf("sales", did="5552000"),
    QueueConf("outbound"),
    # a hunt group: agents are tried in the order they logged in, every call starting from the first
    QueueConf("hotline", strategy="linear", did="5553000"),
)


def render_queues(queues: Iterable[QueueConf]) -> str:
    """One section per queue on asterisk-conf/queues.conf's `queue-defaults` template."""
    out = ["; Rendered by Plateau (cti/queues_conf.py) from its queues; edits are overwritten.\n"]
    for q in sorted(queues, key=lambda q: q.name):
        out.append(
            f"[{q.name}](queue-defaults)\nstrategy = {q.strategy}\nwrapuptime = {q.wrapup_s}\n"
            f"servicelevel = {q.service_level_s}\n"
        )
    return "\n".join(out)


def queue_globals(queues: Iterable[QueueConf]) -> dict[str, str]:
    """The dialplan's per-queue globals (extensions.conf's [plateau-inbound] and [plateau-queue])."""
    values: dict[str, str] = {}
    for q in sorted(queues, key=lambda q: q.name):
        if q.did:
            values[f"DID_{q.did}"] = q.name
        if q.max_wait_s is not None:
            values[f"QMAXWAIT_{q.name}"] = str(q.max_wait_s)
        if q.overflow:
            values[f"QOVERFLOW_{q.name}"] = q.overflow
    return values


def render_globals(values: Mapping[str, str]) -> str:
    lines = ["; Rendered by Plateau (cti/queues_conf.py), #included in [globals]; edits are overwritten."]
    lines += [f"{k} = {v}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def parse_globals(text: str) -> dict[str, str]:
    """What a rendered globals include holds (to know which variables a change leaves behind)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(" = ")
        if sep and not key.startswith(";"):
            values[key.strip()] = value.strip()
    return values


def globals_changes(before: Mapping[str, str], after: Mapping[str, str]) -> dict[str, str]:
    """The `Setvar`s that turn the running dialplan's globals from `before` into `after` ("" clears)."""
    changes = {k: v for k, v in after.items() if before.get(k) != v}
    changes |= {k: "" for k in before if k not in after}
    return changes
