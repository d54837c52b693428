"""The unhappy-customers file: which customers are in it, and why. Pure: per-customer facts and the rules
an admin set in, reasons out; no database, no clock (callers pass `now`).

A customer (an account, a contact without one, or an unknown caller's number) is in the file while at
least one enabled rule matches; each matching rule is a reason, shown on the page, in the CSV and on the
agent's pop. Default rules: an open complaint; a CSAT of 2 or less in the last 30 days; 3 calls in 7 days;
2 abandoned calls within a day; marked lost in the last 90 days.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class RuleCode(StrEnum):
    open_complaint = "open_complaint"
    low_csat = "low_csat"  # a CSAT ≤ threshold within `days`
    repeat_calls = "repeat_calls"  # at least `count` calls within `days`
    abandoned_calls = "abandoned_calls"  # at least `count` abandoned calls within `days`
    lost = "lost"  # marked lost within `days`


@dataclass(frozen=True, slots=True)
class Rule:
    code: RuleCode
    enabled: bool = True
    count: int = 1
    days: int = 0
    threshold: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", RuleCode(self.code))
        if self.count < 1:
            raise ValueError("count: at least 1")
        if self.days < 0 or self.days > 366:
            raise ValueError("days: between 0 and 366")
        if self.code in (RuleCode.low_csat, RuleCode.repeat_calls, RuleCode.abandoned_calls, RuleCode.lost):
            if self.days < 1:
                raise ValueError(f"days: {self.code.value} looks back at least 1 day")
        if self.code is RuleCode.low_csat and (self.threshold is None or not 1 <= self.threshold <= 5):
            raise ValueError("threshold: a CSAT between 1 and 5")


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(RuleCode.open_complaint),
    Rule(RuleCode.low_csat, threshold=2, days=30),
    Rule(RuleCode.repeat_calls, count=3, days=7),
    Rule(RuleCode.abandoned_calls, count=2, days=1),
    Rule(RuleCode.lost, days=90),
)


@dataclass(slots=True)
class CustomerFacts:
    open_complaints: int = 0
    csat: list[tuple[datetime, int]] = field(default_factory=list)
    calls: list[datetime] = field(default_factory=list)
    abandons: list[datetime] = field(default_factory=list)
    lost_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Reason:
    code: RuleCode
    count: int  # how many facts matched (complaints, answers, calls…)
    last_at: datetime | None = None  # the latest of them (None for open complaints)


def _recent(times: Iterable[datetime], days: int, now: datetime) -> list[datetime]:
    since = now - timedelta(days=days)
    return sorted(t for t in times if since <= t <= now)


def reasons(facts: CustomerFacts, rules: Iterable[Rule], now: datetime) -> list[Reason]:
    """The reasons this customer is in the file now (empty: not in it), in the rules' order."""
    out: list[Reason] = []
    for rule in rules:
        if not rule.enabled:
            continue
        if rule.code is RuleCode.open_complaint:
            if facts.open_complaints >= rule.count:
                out.append(Reason(rule.code, facts.open_complaints))
        elif rule.code is RuleCode.low_csat:
            low = _recent((t for t, s in facts.csat if s <= (rule.threshold or 0)), rule.days, now)
            if len(low) >= rule.count:
                out.append(Reason(rule.code, len(low), low[-1]))
        elif rule.code in (RuleCode.repeat_calls, RuleCode.abandoned_calls):
            times = facts.calls if rule.code is RuleCode.repeat_calls else facts.abandons
            recent = _recent(times, rule.days, now)
            if len(recent) >= rule.count:
                out.append(Reason(rule.code, len(recent), recent[-1]))
        elif rule.code is RuleCode.lost:
            if facts.lost_at is not None and _recent([facts.lost_at], rule.days, now):
                out.append(Reason(rule.code, 1, facts.lost_at))
    return out


def lookback_days(rules: Iterable[Rule]) -> int:
    """How far back the facts must be read for these rules."""
    return max((r.days for r in rules if r.enabled), default=0)
