"""The hopper's lead selection: which leads to dial next, on which number, in what order. Pure.

Order: due callbacks first (oldest due first), then higher priority, then fewer attempts, then the
lead id so equal leads keep a stable order. Every selected (lead, number) passes
`dialer.compliance.check` at `now`; a lead none of whose numbers passes is left out.

Callbacks: a callback for anyone enters as soon as it is due. An agent-only callback goes only to
that agent while they are available; once it is `callback_fallback` overdue, anyone may take it
(VICIdial's USERONLY → ANYONE move).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from dialer.compliance import RuleSet, check
from dialer.leads_model import (
    DIALABLE_STATUSES,
    Attempt,
    AttemptResult,
    Callback,
    Lead,
    LeadNumber,
    LeadStatus,
    require_aware,
)

__all__ = [
    "Attempt",
    "AttemptResult",
    "Callback",
    "Lead",
    "LeadNumber",
    "LeadStatus",
    "Selection",
    "select_leads",
]

DEFAULT_CALLBACK_FALLBACK = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class Selection:
    lead: Lead
    number: LeadNumber
    source: Literal["callback", "standard"]
    for_agent: int | None = None  # an agent-only callback: route the answered call to this agent


def select_leads(
    leads: Iterable[Lead],
    history: Iterable[Attempt],
    rule_set: RuleSet,
    now: datetime,
    n: int,
    *,
    available_agents: Collection[int] = (),
    callback_fallback: timedelta = DEFAULT_CALLBACK_FALLBACK,
    agent_guaranteed: bool = False,
) -> list[Selection]:
    """The next `n` leads to dial at `now`, in order, each with the number to dial."""
    require_aware(now, "now")
    now = now.astimezone(UTC)
    if n <= 0:
        return []
    by_lead: dict[int, list[Attempt]] = defaultdict(list)
    by_number: dict[str, list[Attempt]] = defaultdict(list)
    for attempt in history:
        by_lead[attempt.lead_id].append(attempt)
        by_number[attempt.e164].append(attempt)

    candidates: list[tuple[tuple, Lead, int | None]] = []
    for lead in leads:
        entry = _candidate(lead, now, available_agents, callback_fallback)
        if entry is not None:
            key, for_agent = entry
            candidates.append((key, lead, for_agent))
    candidates.sort(key=lambda c: c[0])

    selected: list[Selection] = []
    for key, lead, for_agent in candidates:
        relevant = _history_of(lead, by_lead, by_number)
        number = _number_to_dial(lead, relevant, rule_set, now, agent_guaranteed)
        if number is None:
            continue
        source: Literal["callback", "standard"] = "callback" if key[0] == 0 else "standard"
        selected.append(Selection(lead, number, source, for_agent))
        if len(selected) == n:
            break
    return selected


def _candidate(
    lead: Lead, now: datetime, agents: Collection[int], fallback: timedelta
) -> tuple[tuple, int | None] | None:
    """(sort key, agent the call is for) or None when the lead is not due at all."""
    if lead.status not in DIALABLE_STATUSES or not lead.numbers:
        return None
    if lead.not_before is not None and lead.not_before > now:
        return None
    standard = (1, -lead.priority, lead.attempts, lead.id)
    callback = lead.callback if lead.status == LeadStatus.CALLBACK else None
    if callback is None:
        return standard, None
    due = callback.at.astimezone(UTC)
    if due > now:
        return None
    key = (0, due, -lead.priority, lead.id)
    if callback.agent_id is None or now >= due + fallback:
        return key, None
    if callback.agent_id in agents:
        return key, callback.agent_id
    return None  # waits for its agent until the fallback delay runs out


def _history_of(
    lead: Lead, by_lead: dict[int, list[Attempt]], by_number: dict[str, list[Attempt]]
) -> list[Attempt]:
    seen: dict[int, Attempt] = {id(a): a for a in by_lead.get(lead.id, ())}
    for number in lead.numbers:
        for attempt in by_number.get(number.e164, ()):
            seen.setdefault(id(attempt), attempt)
    return list(seen.values())


def _number_to_dial(
    lead: Lead, history: list[Attempt], rule_set: RuleSet, now: datetime, agent_guaranteed: bool
) -> LeadNumber | None:
    """The allowed number tried least recently (never-tried first, then in the lead's order)."""
    last_tried: dict[str, datetime] = {}
    for attempt in history:
        if attempt.lead_id == lead.id:
            previous = last_tried.get(attempt.e164)
            if previous is None or attempt.started_at > previous:
                last_tried[attempt.e164] = attempt.started_at
    allowed = [
        (index, number)
        for index, number in enumerate(lead.numbers)
        if check(
            lead, number, history, rule_set, now, agent_guaranteed=agent_guaranteed, find_next=False
        ).allowed
    ]
    if not allowed:
        return None
    never = datetime.min.replace(tzinfo=UTC)
    return min(allowed, key=lambda item: (last_tried.get(item[1].e164, never), item[0]))[1]
