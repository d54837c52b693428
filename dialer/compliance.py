"""Outbound compliance rule sets and the pure `check` every dial goes through.

A rule set (one per campaign, `dialer/rulesets/*.yaml` ship the defaults) says when a number may be
dialled, in the **lead's** local time: calling windows per weekday, public holidays of the lead's
country, an attempts cap per rolling period, a cool-off after a refusal, a lockout after an abandoned
(dropped) call, consent from a date; and how the campaign's abandon rate is measured and capped.

`check` answers for one (lead, number) at one instant: allowed, or every reason it is not, plus the
next instant it could be allowed, so the hopper and the retry rules schedule instead of polling.
Nothing here reads the clock or a database: `now` and the history are inputs.
"""

from __future__ import annotations

import enum
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    field_validator,
)

from core.model_errors import ContentError, format_validation_error, read_yaml
from dialer.compliance_zones import UnknownZone, holiday_calendar, zone_info
from dialer.leads_model import Attempt, AttemptResult, Lead, LeadNumber, LeadStatus, require_aware

RULESETS_DIR = Path(__file__).with_name("rulesets")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_SEARCH_DAYS = 400  # how far ahead a next calling window is looked for
_MAX_ROUNDS = 200  # rounds of "push past every block" before giving up on a next instant

# ---------------------------------------------------------------------------------------------------
# Rule set model


@dataclass(frozen=True, slots=True)
class CallingWindow:
    """A local wall-clock range [start, end) in minutes of the day; end may be 24:00."""

    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


_WINDOW_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def _parse_window(value: Any) -> CallingWindow:
    if isinstance(value, CallingWindow):
        return value
    m = _WINDOW_RE.match(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f"a calling window is written 'HH:MM-HH:MM' (e.g. '10:00-13:00'), got {value!r}")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if h1 > 23 or m1 > 59 or m2 > 59 or end > 24 * 60:
        raise ValueError(f"{value!r} is not a time range within one day (00:00 to 24:00)")
    if end <= start:
        raise ValueError(f"{value!r} ends before it starts")
    return CallingWindow(start, end)


WindowField = Annotated[CallingWindow, PlainValidator(_parse_window), PlainSerializer(str, return_type=str)]


class RuleSet(BaseModel):
    """One compliance rule set. Durations carry their unit in the field name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    description: str = ""
    reference_zone: str = "Europe/Paris"  # the regulator's clock, for calendar-day abandon periods
    windows: dict[Weekday, list[WindowField]] = Field(default_factory=dict)  # missing day: no calls
    no_calls_on_public_holidays: bool = False
    max_attempts: int | None = Field(default=None, ge=1)
    attempts_period_days: int = Field(default=30, ge=1, le=3660)
    attempts_scope: Literal["number", "lead"] = "number"  # lead: every number of the person counts
    refusal_cooloff_days: int = Field(default=0, ge=0, le=3660)
    drop_lockout_hours: int = Field(default=0, ge=0, le=24 * 3660)
    no_redial_same_day_after_machine: bool = False  # Ofcom: unless an agent is guaranteed
    max_abandon_rate_percent: float | None = Field(default=None, ge=0, le=100)
    abandon_after_seconds: float = Field(default=2.0, gt=0, le=60)
    abandon_period_kind: Literal["rolling", "calendar_days"] = "rolling"
    abandon_period_days: int = Field(default=30, ge=1, le=366)
    abandon_definition: Literal["live_answered", "ofcom"] = "live_answered"
    amd_false_positive_percent: float = Field(default=0.0, ge=0, le=100)
    consent_required_from: date | None = None  # from this local date, only leads with consent

    @field_validator("reference_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zone_info(value)
        except UnknownZone as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("windows")
    @classmethod
    def _no_overlap(cls, value: dict[str, list[CallingWindow]]) -> dict[str, list[CallingWindow]]:
        for day, ranges in value.items():
            ordered = sorted(ranges, key=lambda w: w.start)
            for before, after in itertools.pairwise(ordered):
                if after.start < before.end:
                    raise ValueError(f"{day}: {after} overlaps {before}")
            value[day] = ordered
        return value

    def to_data(self) -> dict[str, Any]:
        """The YAML/JSON shape this rule set loads from (round-trips through `parse_rule_set`)."""
        return self.model_dump(mode="json")


def parse_rule_set(data: Any, source: str = "<rule set>") -> RuleSet:
    if not isinstance(data, Mapping):
        raise ContentError([f"{source}: (top level): a rule set is a mapping of fields"])
    try:
        return RuleSet.model_validate(dict(data))
    except ValidationError as exc:
        raise ContentError(format_validation_error(source, exc)) from None


def load_rule_set(path: Path) -> RuleSet:
    rule_set = parse_rule_set(read_yaml(path), str(path))
    if rule_set.name != path.stem:
        raise ContentError([f"{path}: name: {rule_set.name!r} does not match the file name {path.stem!r}"])
    return rule_set


@lru_cache(maxsize=1)
def builtin_rule_sets() -> dict[str, RuleSet]:
    """The shipped rule sets by name (`FR-2023`, `US-TCPA`, `UK-Ofcom`)."""
    return {rs.name: rs for rs in (load_rule_set(p) for p in sorted(RULESETS_DIR.glob("*.yaml")))}


def clone_rule_set(base: RuleSet, name: str, changes: Mapping[str, Any] | None = None) -> RuleSet:
    """A manager's copy of `base` under a new name with `changes` applied; errors name the field."""
    return parse_rule_set({**base.to_data(), **(changes or {}), "name": name}, f"rule set {name!r}")


# ---------------------------------------------------------------------------------------------------
# Verdicts


class Reason(enum.StrEnum):
    OUTSIDE_WINDOW = "outside_window"
    PUBLIC_HOLIDAY = "public_holiday"
    ATTEMPTS_CAP = "attempts_cap"
    REFUSAL_COOLOFF = "refusal_cooloff"
    DROP_LOCKOUT = "drop_lockout"
    MACHINE_SAME_DAY = "machine_same_day"
    NO_CONSENT = "no_consent"
    DO_NOT_CALL = "do_not_call"
    WRONG_NUMBER = "wrong_number"


@dataclass(frozen=True, slots=True)
class Block:
    reason: Reason
    detail: str
    until: datetime | None  # None: for good


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    blocks: tuple[Block, ...]  # every rule that forbids dialling now (empty when allowed)
    next_allowed: datetime | None  # `now` when allowed; None when never (DNC, no consent…)

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return tuple(b.reason for b in self.blocks)


# ---------------------------------------------------------------------------------------------------
# Local time arithmetic (DST gaps and repeated hours included)


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def _instants_for_wall(wall: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """First instants (first and second occurrence) whose local wall time is at or after `wall`.

    In a repeated hour both occurrences differ; in a spring-forward gap the wall time does not exist
    and the answer is the transition itself (the first instant whose wall time is past it).
    """
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if _wall(first, zone) == wall:
        return first, (second if _wall(second, zone) == wall else first)
    lo, hi = min(first, second), max(first, second)
    while (hi - lo) > timedelta(seconds=1):  # wall(lo) < wall <= wall(hi)
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if _wall(mid, zone) >= wall:
            hi = mid
        else:
            lo = mid
    return hi, hi


def _day_intervals(rule_set: RuleSet, number: LeadNumber, zone: ZoneInfo, day: date) -> list[tuple]:
    """UTC [open, close) intervals in which `number` may be called on local `day`."""
    ranges = rule_set.windows.get(WEEKDAYS[day.weekday()], [])
    if not ranges or (rule_set.no_calls_on_public_holidays and _is_holiday(number, day)):
        return []
    midnight = datetime(day.year, day.month, day.day)
    out = []
    for w in ranges:
        opens = _instants_for_wall(midnight + timedelta(minutes=w.start), zone)
        closes = _instants_for_wall(midnight + timedelta(minutes=w.end), zone)
        for o, c in {(opens[0], closes[0]), (opens[1], closes[1])}:
            if o < c:
                out.append((o, c))
    return sorted(out)


def _is_holiday(number: LeadNumber, day: date) -> bool:
    return number.country is not None and day in holiday_calendar(number.country, number.subdivision)


def _next_open_in_zone(rule_set: RuleSet, number: LeadNumber, zone: ZoneInfo, t: datetime) -> datetime | None:
    first_day = _wall(t, zone).date() - timedelta(days=1)  # yesterday's range may run past midnight UTC
    for offset in range(_SEARCH_DAYS):
        day = first_day + timedelta(days=offset)
        for opens, closes in _day_intervals(rule_set, number, zone, day):
            if t < closes:
                return max(t, opens)
    return None


# ---------------------------------------------------------------------------------------------------
# The check


def check(
    lead: Lead,
    number: LeadNumber,
    history: Iterable[Attempt],
    rule_set: RuleSet,
    now: datetime,
    *,
    agent_guaranteed: bool = False,
    find_next: bool = True,
) -> Verdict:
    """May `number` of `lead` be dialled at `now` under `rule_set`, given every past attempt?

    `history` may hold attempts of any lead and campaign: those to this lead or to any of its numbers
    count (the law protects the person, whatever list they came from). `agent_guaranteed` (preview
    dialling, a reserved agent) lifts the rules that exist only because a dialler may abandon.
    `find_next=False` skips the search for the next allowed instant (left None) when only "now"
    matters, as in the hopper.
    """
    require_aware(now, "now")
    now = now.astimezone(UTC)
    zones = [zone_info(z) for z in number.zones]
    lead_numbers = {n.e164 for n in lead.numbers} | {number.e164}
    relevant = [a for a in history if a.lead_id == lead.id or a.e164 in lead_numbers]
    rules = _Rules(lead, number, relevant, rule_set, zones, agent_guaranteed)

    blocks = rules.blocks_at(now)
    if not blocks:
        return Verdict(True, (), now)
    return Verdict(False, tuple(blocks), rules.next_allowed(now) if find_next else None)


class _Rules:
    def __init__(
        self,
        lead: Lead,
        number: LeadNumber,
        attempts: list[Attempt],
        rule_set: RuleSet,
        zones: list[ZoneInfo],
        agent_guaranteed: bool,
    ) -> None:
        self.lead, self.number, self.rs, self.zones = lead, number, rule_set, zones
        self.agent_guaranteed = agent_guaranteed
        self.lead_attempts = sorted(attempts, key=lambda a: a.started_at)
        self.number_attempts = [a for a in self.lead_attempts if a.e164 == number.e164]

    def blocks_at(self, t: datetime) -> list[Block]:
        blocks = [*self._permanent(t), *self._timed(t)]
        blocks.extend(self._window(t))
        return blocks

    def next_allowed(self, now: datetime) -> datetime | None:
        t = now
        for _ in range(_MAX_ROUNDS):
            blocks = [*self._permanent(t), *self._timed(t)]
            if any(b.until is None for b in blocks):
                return None
            candidate = max([t, *(b.until for b in blocks if b.until is not None)])
            for zone in self.zones:
                opened = _next_open_in_zone(self.rs, self.number, zone, candidate)
                if opened is None:
                    return None
                candidate = opened
            if candidate == t:
                return t
            t = candidate
        return None

    def _permanent(self, t: datetime) -> list[Block]:
        out = []
        if self.lead.status == LeadStatus.DO_NOT_CALL or any(
            a.result == AttemptResult.DO_NOT_CALL for a in self.lead_attempts
        ):
            out.append(Block(Reason.DO_NOT_CALL, "the person asked not to be called", None))
        if any(
            a.result == AttemptResult.WRONG_NUMBER and a.lead_id == self.lead.id for a in self.number_attempts
        ):
            out.append(Block(Reason.WRONG_NUMBER, f"{self.number.e164} is not this person's number", None))
        since = self.rs.consent_required_from
        if since is not None and not self.lead.consent:
            if any(_wall(t, z).date() >= since for z in self.zones):
                out.append(Block(Reason.NO_CONSENT, f"consent is required from {since.isoformat()}", None))
        return out

    def _timed(self, t: datetime) -> list[Block]:
        rs, out = self.rs, []
        if rs.max_attempts is not None:
            pool = self.lead_attempts if rs.attempts_scope == "lead" else self.number_attempts
            period = timedelta(days=rs.attempts_period_days)
            recent = [a.started_at for a in pool if t - period < a.started_at <= t]
            if len(recent) >= rs.max_attempts:
                until = recent[len(recent) - rs.max_attempts] + period
                detail = f"{len(recent)} attempts in {rs.attempts_period_days} days (max {rs.max_attempts})"
                out.append(Block(Reason.ATTEMPTS_CAP, detail, until))
        if rs.refusal_cooloff_days:
            refusals = [a.started_at for a in self.lead_attempts if a.result == AttemptResult.REFUSED]
            if refusals and t < refusals[-1] + timedelta(days=rs.refusal_cooloff_days):
                until = refusals[-1] + timedelta(days=rs.refusal_cooloff_days)
                out.append(Block(Reason.REFUSAL_COOLOFF, f"refused on {refusals[-1].isoformat()}", until))
        if self.agent_guaranteed:
            return out
        if rs.drop_lockout_hours:
            drops = [a.started_at for a in self.number_attempts if a.abandoned(rs.abandon_after_seconds)]
            if drops and t < drops[-1] + timedelta(hours=rs.drop_lockout_hours):
                until = drops[-1] + timedelta(hours=rs.drop_lockout_hours)
                out.append(Block(Reason.DROP_LOCKOUT, f"abandoned call on {drops[-1].isoformat()}", until))
        if rs.no_redial_same_day_after_machine and self.zones:
            zone = self.zones[0]
            machines = [
                a.started_at
                for a in self.number_attempts
                if a.result == AttemptResult.MACHINE or a.amd_machine
            ]
            if machines and _wall(machines[-1], zone).date() == _wall(t, zone).date():
                next_day = _wall(t, zone).date() + timedelta(days=1)
                until = _instants_for_wall(datetime(next_day.year, next_day.month, next_day.day), zone)[0]
                out.append(Block(Reason.MACHINE_SAME_DAY, "answering machine earlier today", until))
        return out

    def _window(self, t: datetime) -> list[Block]:
        out = []
        for zone in self.zones:
            opens = _next_open_in_zone(self.rs, self.number, zone, t)
            if opens == t:
                continue
            local = _wall(t, zone)
            when = f"{local:%a %Y-%m-%d %H:%M:%S} in {zone.key}"
            if self.rs.no_calls_on_public_holidays and _is_holiday(self.number, local.date()):
                out.append(Block(Reason.PUBLIC_HOLIDAY, f"public holiday ({when})", opens))
            else:
                out.append(Block(Reason.OUTSIDE_WINDOW, f"outside the calling windows ({when})", opens))
        return out


# ---------------------------------------------------------------------------------------------------
# Abandon rate (per campaign; the pacing policy reads it)


@dataclass(frozen=True, slots=True)
class AbandonStats:
    abandoned: float  # includes the estimated AMD false positives under the Ofcom definition
    live: float
    rate_percent: float | None  # None before the first live call
    limit_percent: float | None
    since: datetime

    @property
    def over_limit(self) -> bool:
        return (
            self.limit_percent is not None
            and self.rate_percent is not None
            and self.rate_percent > self.limit_percent
        )


def abandon_period_start(rule_set: RuleSet, now: datetime) -> datetime:
    require_aware(now, "now")
    if rule_set.abandon_period_kind == "rolling":
        return now.astimezone(UTC) - timedelta(days=rule_set.abandon_period_days)
    zone = zone_info(rule_set.reference_zone)
    first = _wall(now, zone).date() - timedelta(days=rule_set.abandon_period_days - 1)
    return _instants_for_wall(datetime(first.year, first.month, first.day), zone)[0]


def abandon_stats(history: Iterable[Attempt], rule_set: RuleSet, now: datetime) -> AbandonStats:
    """The campaign's abandon rate over the rule set's period, by its definition.

    `live_answered` (TCPA): abandoned live calls / live-answered calls.
    `ofcom`: AMD hang-ups are counted as live abandoned calls in proportion to the estimated false
    positive rate (Ofcom asks for a reasoned estimate of them in both terms).
    """
    since = abandon_period_start(rule_set, now)
    end = now.astimezone(UTC)
    window = [a for a in history if since <= a.started_at <= end]
    abandoned = float(sum(1 for a in window if a.abandoned(rule_set.abandon_after_seconds)))
    live = float(sum(1 for a in window if a.live))
    if rule_set.abandon_definition == "ofcom":
        estimate = rule_set.amd_false_positive_percent / 100 * sum(1 for a in window if a.amd_machine)
        abandoned += estimate
        live += estimate
    rate = 100 * abandoned / live if live else None
    return AbandonStats(abandoned, live, rate, rule_set.max_abandon_rate_percent, since)
