"""Campaign rules that need no database: the state machine, retry rules, start preconditions. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.dialer_tables import CampaignState
from core.errors import Conflict
from core.model_errors import ContentError, format_validation_error
from dialer.leads_model import AttemptResult

S = CampaignState
TRANSITIONS: dict[CampaignState, frozenset[CampaignState]] = {
    S.draft: frozenset({S.running}),
    S.running: frozenset({S.paused, S.stopped, S.finished}),
    S.paused: frozenset({S.running, S.stopped, S.finished}),
    S.stopped: frozenset(),
    S.finished: frozenset(),
}
# Fields that cannot change while the dialer may be using them.
LOCKED_WHEN_RUNNING = frozenset({"rule_set", "dial_mode", "lists"})

# Dial outcomes a retry rule can be written for (the agent's "call back later" included).
RETRYABLE = frozenset(
    {
        AttemptResult.NO_ANSWER,
        AttemptResult.BUSY,
        AttemptResult.FAILED,
        AttemptResult.MACHINE,
        AttemptResult.DROPPED,
        AttemptResult.CALLBACK,
        AttemptResult.CONTACT,
    }
)


class TransitionRefused(Conflict, ValueError):
    """The state machine refuses this move (a 409 at the API, mapped once by app/errors.py)."""

    code = "campaign_transition_refused"


def check_transition(current: CampaignState, target: CampaignState) -> None:
    if target == current:
        raise TransitionRefused(f"the campaign is already {current.value}")
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none (it is over)"
        raise TransitionRefused(
            f"a {current.value} campaign cannot become {target.value} (from {current.value}: {allowed})"
        )


class RetryRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    delay_minutes: int = Field(ge=1, le=60 * 24 * 60)  # at most 60 days
    max_attempts: int = Field(ge=0, le=50)  # retries after this outcome; 0 = never retry it


DEFAULT_RETRY_RULES: dict[str, dict[str, int]] = {
    # Cisco UCCX / VICIdial-like defaults; managers edit them per campaign.
    "no_answer": {"delay_minutes": 120, "max_attempts": 3},
    "busy": {"delay_minutes": 15, "max_attempts": 3},
    "failed": {"delay_minutes": 60, "max_attempts": 2},
    "machine": {"delay_minutes": 240, "max_attempts": 2},
    "dropped": {"delay_minutes": 60 * 72, "max_attempts": 1},  # UK: 72 h unless an agent is guaranteed
}


def parse_retry_rules(data: object) -> dict[str, RetryRule]:
    """Validated retry rules; a ContentError names the outcome and field at fault."""
    if not isinstance(data, Mapping):
        raise ContentError(["retry_rules: a mapping of outcome → {delay_minutes, max_attempts}"])
    errors: list[str] = []
    out: dict[str, RetryRule] = {}
    known = sorted(r.value for r in RETRYABLE)
    for key, value in data.items():
        if key not in known:
            errors.append(f"retry_rules.{key}: unknown outcome; expected one of {', '.join(known)}")
            continue
        try:
            out[key] = RetryRule.model_validate(value)
        except ValidationError as exc:
            errors.extend(format_validation_error(f"retry_rules.{key}", exc))
    if errors:
        raise ContentError(errors)
    return out


@dataclass(frozen=True, slots=True)
class StartFacts:
    lists: int
    leads: int
    rule_set_known: bool
    script_known: bool | None  # None: no script set
    has_queue_or_team: bool


@dataclass(frozen=True, slots=True)
class Blocker:
    """A reason a campaign cannot dial: `code` for the pages (which translate it), `text` in English for
    the API and the logs."""

    code: str
    text: str
    at: datetime | None = None  # when it lifts, where known (a calling window's next opening)


def structural_blockers(facts: StartFacts) -> list[Blocker]:
    """What the campaign lacks to start at all (empty: it can start)."""
    out = []
    if facts.lists == 0:
        out.append(Blocker("no_list", "attach at least one call list"))
    elif facts.leads == 0:
        out.append(Blocker("no_lead", "its call lists hold no leads"))
    if not facts.rule_set_known:
        out.append(Blocker("no_rule_set", "its compliance rule set does not exist"))
    if facts.script_known is False:
        out.append(Blocker("no_script", "its script does not exist"))
    if not facts.has_queue_or_team:
        out.append(Blocker("no_queue_or_team", "give it a queue or a team of agents"))
    return out


def start_blockers(facts: StartFacts) -> list[str]:
    """Why a campaign cannot start now (empty: it can)."""
    return [b.text for b in structural_blockers(facts)]
