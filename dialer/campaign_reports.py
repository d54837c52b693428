"""Campaign report maths: attempts in, figures per campaign, list, agent and pass out. Pure.

Definitions (every report, the monitor and the CSV exports use these, nothing else):
  attempts            dials placed
  contacts            a person answered (`Attempt.live`: human answer, whether an agent came or not)
  contact rate        contacts / attempts
  connected           contacts an agent was put through to (at any delay)
  conversions         attempts whose outcome is a success (`AttemptResult.SUCCESS`)
  conversion rate     conversions / contacts
  abandons            contacts with no agent within the rule set's seconds (`Attempt.abandoned`)
  abandon rate, three denominators (the reference, dialer-and-compliance.md §3):
    live_answered     abandons / contacts                      (TCPA/TSR; FR best practice)
    ofcom             (abandons + e) / (contacts + e), e = the rule set's estimated share of AMD
                      false positives times the AMD hang-ups    (Ofcom 2010)
    all_answered      abandons / every answer, machines included (VICIdial's "answered" when
                      machines are counted as answered; shown for comparison, no rule set uses it)
  the rule set's own definition is `abandon_rate` (and is what its limit applies to)
  pass                the attempt's rank in its lead's history (1 = first dial); 5 holds 5 and more
  penetration         leads dialled in the period / leads in the list(s)
A ratio with a zero denominator is None ("nothing to divide"), never 0 %.

The live_answered and ofcom rates are `dialer.compliance.abandon_stats` itself, run over the report's
attempts: the report cannot disagree with what the pacing feedback and the lockouts use.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from dialer.compliance import AbandonStats, RuleSet, abandon_stats, clone_rule_set, parse_rule_set
from dialer.leads_model import Attempt, AttemptResult

PASSES = 5  # results by pass 1..5; the last bucket holds every later pass too
MAX_SPAN = timedelta(days=366)  # the widest abandon period a rule set may hold (see `_wide`)
Definition = Literal["live_answered", "ofcom", "all_answered"]
DEFINITIONS: tuple[Definition, ...] = ("live_answered", "ofcom", "all_answered")
DEFAULT_RULE_SET = parse_rule_set({"name": "report-default"}, "report default")  # 2 s, no limit


@dataclass(frozen=True, slots=True)
class ReportAttempt:
    """One attempt as reports see it: the core record, the lead's list and the attempt's pass."""

    attempt: Attempt
    list_id: int | None = None
    pass_no: int = 1  # 1-based rank among the lead's attempts

    @property
    def pass_bucket(self) -> int:
        return min(max(self.pass_no, 1), PASSES)


@dataclass(frozen=True, slots=True)
class Figures:
    attempts: int
    leads_dialled: int
    leads: int | None  # leads in scope (None: no list to measure against, e.g. per agent)
    contacts: int
    connected: int
    conversions: int
    answered: int  # every answer, machines included
    machines: int
    abandons: int
    abandon_rate: float | None  # by the rule set's own definition
    abandon_definition: str
    abandon_rates: dict[str, float | None]  # by each definition of DEFINITIONS
    abandon_limit: float | None  # the rule set's cap, as a fraction
    results: dict[str, int] = field(default_factory=dict)  # AttemptResult value → attempts

    @property
    def contact_rate(self) -> float | None:
        return _ratio(self.contacts, self.attempts)

    @property
    def conversion_rate(self) -> float | None:
        return _ratio(self.conversions, self.contacts)

    @property
    def penetration(self) -> float | None:
        return None if self.leads is None else _ratio(self.leads_dialled, self.leads)


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


class RuleSetView:
    """A rule set's abandon settings, with the copies `abandon_stats` needs to read a whole report."""

    def __init__(self, rule_set: RuleSet | None) -> None:
        rs = rule_set or DEFAULT_RULE_SET
        self.rule_set = rs
        self.after_s = rs.abandon_after_seconds
        # abandon_stats reads the period ending at `now`; a 366-day rolling period ending at the latest
        # attempt holds every attempt of a report (reports cover at most a month, `figures` checks).
        wide = {"abandon_period_kind": "rolling", "abandon_period_days": MAX_SPAN.days}
        self.by_definition = {
            "live_answered": clone_rule_set(rs, rs.name, {**wide, "abandon_definition": "live_answered"}),
            "ofcom": clone_rule_set(rs, rs.name, {**wide, "abandon_definition": "ofcom"}),
        }


def abandon_rates(attempts: Sequence[Attempt], view: RuleSetView) -> dict[str, float | None]:
    """Abandon rate (a fraction) by each definition over these attempts."""
    if not attempts:
        return dict.fromkeys(DEFINITIONS)
    now = max(a.started_at for a in attempts)
    if now - min(a.started_at for a in attempts) >= MAX_SPAN:
        raise ValueError(f"a report covers less than {MAX_SPAN.days} days")
    out: dict[str, float | None] = {}
    for name, rs in view.by_definition.items():
        st: AbandonStats = abandon_stats(attempts, rs, now)
        out[name] = None if st.rate_percent is None else st.rate_percent / 100
    abandons = sum(1 for a in attempts if a.abandoned(view.after_s))
    out["all_answered"] = _ratio(abandons, sum(1 for a in attempts if _answered(a)))
    return out


def _answered(a: Attempt) -> bool:
    """Picked up by someone or something: a person, or a machine (AMD or the agent's disposition)."""
    return a.answered_at is not None or a.amd_machine or a.result is AttemptResult.MACHINE


def figures(rows: Iterable[ReportAttempt], view: RuleSetView, leads: int | None = None) -> Figures:
    items = list(rows)
    core = [r.attempt for r in items]
    rates = abandon_rates(core, view)
    rs = view.rule_set
    limit = rs.max_abandon_rate_percent
    return Figures(
        attempts=len(core),
        leads_dialled=len({a.lead_id for a in core}),
        leads=leads,
        contacts=sum(1 for a in core if a.live),
        connected=sum(1 for a in core if a.live and a.agent_connected_at is not None),
        conversions=sum(1 for a in core if a.result is AttemptResult.SUCCESS),
        answered=sum(1 for a in core if _answered(a)),
        machines=sum(1 for a in core if a.amd_machine or a.result is AttemptResult.MACHINE),
        abandons=sum(1 for a in core if a.abandoned(view.after_s)),
        abandon_rate=rates[rs.abandon_definition],
        abandon_definition=rs.abandon_definition,
        abandon_rates=rates,
        abandon_limit=None if limit is None else limit / 100,
        results=dict(sorted(Counter(a.result.value for a in core).items())),
    )


def grouped(
    rows: Iterable[ReportAttempt],
    key: Callable[[ReportAttempt], Hashable],
    view: RuleSetView,
    leads: Callable[[Hashable], int | None] = lambda _k: None,
) -> dict[Hashable, Figures]:
    groups: dict[Hashable, list[ReportAttempt]] = defaultdict(list)
    for r in rows:
        groups[key(r)].append(r)
    return {k: figures(v, view, leads(k)) for k, v in sorted(groups.items(), key=lambda kv: str(kv[0]))}


def by_list(
    rows: Iterable[ReportAttempt], view: RuleSetView, list_sizes: dict[int, int]
) -> dict[int | None, Figures]:
    """Per call list; penetration against each list's size. Lists without attempts show zeros."""
    items = list(rows)
    out = grouped(
        items, lambda r: r.list_id, view, lambda k: list_sizes.get(k) if isinstance(k, int) else None
    )
    for list_id, size in list_sizes.items():
        if list_id not in out:
            out[list_id] = figures([], view, size)
    return out  # type: ignore[return-value]


def by_agent(rows: Iterable[ReportAttempt], view: RuleSetView) -> dict[int | None, Figures]:
    """Per agent who took the call; attempts no agent took (no answer, drops…) are under None."""
    return grouped(rows, lambda r: r.attempt.agent_id, view)  # type: ignore[return-value]


def by_pass(rows: Iterable[ReportAttempt], view: RuleSetView, leads: int | None) -> dict[int, Figures]:
    """Pass 1..PASSES, every one present (a pass nobody reached shows zeros)."""
    groups: dict[int, list[ReportAttempt]] = {n: [] for n in range(1, PASSES + 1)}
    for r in rows:
        groups[r.pass_bucket].append(r)
    return {n: figures(v, view, leads) for n, v in groups.items()}
