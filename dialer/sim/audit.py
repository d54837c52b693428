"""After a run: count rule violations and measure abandon rates, independently of `dialer.compliance`.

The audit re-derives each rule from the rule set's fields with its own, simpler code (wall clock via
`zoneinfo`, holidays via `holidays`, plain counting over sorted histories), so a bug in the checks
the hopper relies on shows up here as a violation instead of being agreed with.

Abandon rates (fractions) by definition: `live_answered` (TCPA: abandoned / live) and `ofcom` (plus
the rule set's estimate of AMD false positives in both terms), each as the worst calendar day (in the
rule set's reference zone), the worst trailing 24 h (evaluated every hour once a day has passed) and
the worst trailing 30 days (evaluated at each day's end).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from dialer.compliance import WEEKDAYS, RuleSet
from dialer.leads_model import Attempt, AttemptResult, Lead
from dialer.sim.model import CallRecord

LIVE = {
    AttemptResult.DROPPED,
    AttemptResult.CONTACT,
    AttemptResult.SUCCESS,
    AttemptResult.CALLBACK,
    AttemptResult.REFUSED,
    AttemptResult.WRONG_NUMBER,
    AttemptResult.DO_NOT_CALL,
}


@lru_cache(maxsize=64)
def _zone(key: str) -> ZoneInfo:
    return ZoneInfo(key)


@lru_cache(maxsize=64)
def _calendar(country: str, subdivision: str | None) -> holidays.HolidayBase:
    return holidays.country_holidays(country, subdiv=subdivision)


def _is_abandoned(a: Attempt, seconds: float) -> bool:
    if a.answered_at is None or a.result not in LIVE:
        return False
    return a.agent_connected_at is None or (a.agent_connected_at - a.answered_at).total_seconds() > seconds


def violations(attempts: Sequence[tuple[Lead, Attempt, bool]], rs: RuleSet) -> Counter[str]:
    """Counts of attempts made during the run (flag True) that broke a rule of `rs`, by rule."""
    out: Counter[str] = Counter()
    by_lead: dict[int, list[Attempt]] = defaultdict(list)
    by_number: dict[str, list[Attempt]] = defaultdict(list)
    for _, a, _ in attempts:  # time order
        by_lead[a.lead_id].append(a)
        by_number[a.e164].append(a)
    for lead, a, ours in attempts:
        if not ours:
            continue
        out["attempts"] += 1
        number = next(n for n in lead.numbers if n.e164 == a.e164)
        t = a.started_at
        for key in number.zones:
            local = t.astimezone(_zone(key))
            minute = local.hour * 60 + local.minute + local.second / 60
            ranges = rs.windows.get(WEEKDAYS[local.weekday()], [])
            if not any(w.start <= minute < w.end for w in ranges):
                out["outside_window"] += 1
            elif (
                rs.no_calls_on_public_holidays
                and number.country
                and local.date() in _calendar(number.country, number.subdivision)
            ):
                out["public_holiday"] += 1
        before_lead = [b for b in by_lead[a.lead_id] if b.started_at < t]
        before_number = [b for b in by_number[a.e164] if b.started_at < t]
        if rs.max_attempts is not None:
            pool = before_lead if rs.attempts_scope == "lead" else before_number
            period = timedelta(days=rs.attempts_period_days)
            if sum(1 for b in pool if b.started_at > t - period) + 1 > rs.max_attempts:
                out["over_cap"] += 1
        if rs.refusal_cooloff_days and any(
            b.result == AttemptResult.REFUSED and t - b.started_at < timedelta(days=rs.refusal_cooloff_days)
            for b in before_lead
        ):
            out["in_cooloff"] += 1
        if rs.drop_lockout_hours and any(
            _is_abandoned(b, rs.abandon_after_seconds)
            and t - b.started_at < timedelta(hours=rs.drop_lockout_hours)
            for b in before_number
        ):
            out["in_lockout"] += 1
        if rs.no_redial_same_day_after_machine:
            zone = _zone(number.zones[0])
            today = t.astimezone(zone).date()
            if any(
                (b.result == AttemptResult.MACHINE or b.amd_machine)
                and b.started_at.astimezone(zone).date() == today
                for b in before_number
            ):
                out["machine_same_day"] += 1
        if rs.consent_required_from is not None and not lead.consent:
            if any(t.astimezone(_zone(z)).date() >= rs.consent_required_from for z in number.zones):
                out["no_consent"] += 1
        if any(b.result == AttemptResult.DO_NOT_CALL for b in before_lead):
            out["after_do_not_call"] += 1
        if any(b.result == AttemptResult.WRONG_NUMBER for b in before_number if b.lead_id == a.lead_id):
            out["after_wrong_number"] += 1
    return out


@dataclass(frozen=True, slots=True)
class AbandonReport:
    day_max: float
    rolling_24h_max: float
    rolling_30d_max: float
    overall: float
    live: float
    abandoned: float

    def worst(self) -> float:
        return max(self.day_max, self.rolling_24h_max, self.rolling_30d_max, self.overall)


@dataclass(frozen=True, slots=True)
class Dial:
    """What the abandon maths needs of one dial (UTC instants)."""

    started_at: datetime
    live: bool
    abandoned: bool
    amd_machine: bool


def dials_from_attempts(attempts: Iterable[Attempt], seconds: float) -> list[Dial]:
    return [
        Dial(
            a.started_at,
            a.answered_at is not None and a.result in LIVE,
            _is_abandoned(a, seconds),
            a.amd_machine,
        )
        for a in attempts
    ]


def abandon_report(
    dials: Sequence[Dial], rs: RuleSet, definition: str, days: int, start: datetime
) -> AbandonReport:
    """Worst abandon rates of a run of `days` days from `start` under `definition`."""
    if definition not in ("live_answered", "ofcom"):
        raise ValueError(f"unknown abandon definition {definition!r}")
    fp = rs.amd_false_positive_percent / 100 if definition == "ofcom" else 0.0
    start = start.astimezone(UTC)
    hours = (days + 1) * 24
    ab = [0.0] * hours
    live = [0.0] * hours
    zone = _zone(rs.reference_zone)
    day_ab: dict[date, float] = defaultdict(float)
    day_live: dict[date, float] = defaultdict(float)
    for d in dials:
        h = int((d.started_at - start).total_seconds() // 3600)
        if not 0 <= h < hours:
            continue
        a = (1.0 if d.abandoned and d.live else 0.0) + (fp if d.amd_machine else 0.0)
        n = (1.0 if d.live else 0.0) + (fp if d.amd_machine else 0.0)
        ab[h] += a
        live[h] += n
        day = d.started_at.astimezone(zone).date()
        day_ab[day] += a
        day_live[day] += n

    def rate(a: float, n: float) -> float:
        return a / n if n > 0 else 0.0

    day_max = max((rate(day_ab[k], day_live[k]) for k in day_live), default=0.0)
    cum_ab, cum_live = [0.0], [0.0]
    for h in range(hours):
        cum_ab.append(cum_ab[-1] + ab[h])
        cum_live.append(cum_live[-1] + live[h])

    def window(lo: int, hi: int) -> float:  # hours [lo, hi)
        lo = max(lo, 0)
        return rate(cum_ab[hi] - cum_ab[lo], cum_live[hi] - cum_live[lo])

    r24 = max((window(h - 24, h) for h in range(24, hours + 1)), default=0.0)
    ends = sorted(
        {
            int(
                (datetime.combine(k + timedelta(days=1), datetime.min.time(), zone) - start).total_seconds()
                // 3600
            )
            for k in day_live
        }
    )
    r30 = max((window(e - 30 * 24, min(e, hours)) for e in ends), default=0.0)
    total_ab, total_live = sum(ab), sum(live)
    return AbandonReport(day_max, r24, r30, rate(total_ab, total_live), total_live, total_ab)


def dials_from_records(records: Iterable[CallRecord], start: datetime) -> list[Dial]:
    """The simulator's own per-dial records (simulated seconds after `start`) as dials."""
    start = start.astimezone(UTC)
    return [Dial(start + timedelta(seconds=r.start), r.live, r.abandoned, r.amd_machine) for r in records]
