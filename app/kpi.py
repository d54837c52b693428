"""Contact-centre KPI maths. Pure: facts in, numbers out; no database, no clock (callers pass `now`).

Definitions (also in README.md, "KPI definitions"). Per call, with T the queue's service-level threshold
and S its short-abandon threshold:
  offered O          every call that entered the queue in the window (by `offered_at`)
  answered A         offered calls an agent answered; Aₜ those answered with wait ≤ T
  abandoned Ab       the caller hung up while waiting; Abₜ with wait ≤ T; short abandons SAb with wait < S
Service level, five variants (a queue setting; every display names the one it uses):
  answered                  Aₜ / A
  offered                   Aₜ / O                 (abandons count against)
  abandons_positive         (Aₜ + Abₜ) / O         (abandons within T count for)
  abandons_in_t_excluded    Aₜ / (O − Abₜ)
  short_abandons_excluded   Aₜ / (O − SAb)         (default)
ASA = Σ wait of answered calls / A.  AHT = Σ (talk + hold + wrap) / handled (answered and ended).
Abandon rate = (Ab − SAb) / (O − SAb).  Occupancy = handling / (handling + ready), from agent states.
A ratio with a zero denominator is None ("no calls"), never 0 % or 100 %.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class SlVariant(StrEnum):
    answered = "answered"
    offered = "offered"
    abandons_positive = "abandons_positive"
    abandons_in_t_excluded = "abandons_in_t_excluded"
    short_abandons_excluded = "short_abandons_excluded"


ABANDONED = "abandoned"


@dataclass(frozen=True, slots=True)
class KpiConfig:
    sl_threshold_s: float = 20.0
    sl_variant: SlVariant = SlVariant.short_abandons_excluded
    short_abandon_s: float = 5.0
    sl_target_pct: float = 80.0

    def __post_init__(self) -> None:
        if self.sl_threshold_s <= 0 or self.short_abandon_s < 0:
            raise ValueError("thresholds must be positive")
        if not 0 <= self.sl_target_pct <= 100:
            raise ValueError("the service-level target is a percentage")
        object.__setattr__(self, "sl_variant", SlVariant(self.sl_variant))


@dataclass(frozen=True, slots=True)
class CallFact:
    """What the KPIs need from one row of `calls`."""

    offered_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    wait_s: float | None = None
    talk_s: float | None = None
    hold_s: float | None = None
    wrap_s: float | None = None
    outcome: str = ""
    queue: str | None = None
    agent_id: int | None = None
    linkedid: str | None = None  # the call's id: a call in progress and its history row are one call

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    @property
    def abandoned(self) -> bool:
        return self.answered_at is None and self.outcome == ABANDONED

    @property
    def wait(self) -> float | None:
        """Queue wait: the recorded one, else derived from the timestamps."""
        if self.wait_s is not None:
            return max(0.0, self.wait_s)
        end = self.answered_at or (self.ended_at if self.abandoned else None)
        return max(0.0, (end - self.offered_at).total_seconds()) if end else None

    @property
    def handle_s(self) -> float:
        return sum(x or 0.0 for x in (self.talk_s, self.hold_s, self.wrap_s))


@dataclass(slots=True)
class Counts:
    offered: int = 0
    answered: int = 0
    answered_in_t: int = 0
    abandoned: int = 0
    abandoned_in_t: int = 0
    short_abandoned: int = 0
    handled: int = 0
    wait_answered_s: float = 0.0
    talk_s: float = 0.0
    hold_s: float = 0.0
    wrap_s: float = 0.0
    longest_wait_s: float | None = None

    @property
    def handle_s(self) -> float:
        return self.talk_s + self.hold_s + self.wrap_s


def tally(facts: Iterable[CallFact], cfg: KpiConfig) -> Counts:
    c = Counts()
    for f in facts:
        c.offered += 1
        wait = f.wait
        if wait is not None and (c.longest_wait_s is None or wait > c.longest_wait_s):
            c.longest_wait_s = wait
        if f.answered:
            c.answered += 1
            c.wait_answered_s += wait or 0.0
            # Unknown wait on an answered call: counted as not within T rather than flattering the SL.
            if wait is not None and wait <= cfg.sl_threshold_s:
                c.answered_in_t += 1
            if f.ended_at is not None:
                c.handled += 1
                c.talk_s += f.talk_s or 0.0
                c.hold_s += f.hold_s or 0.0
                c.wrap_s += f.wrap_s or 0.0
        elif f.abandoned:
            c.abandoned += 1
            if wait is not None and wait <= cfg.sl_threshold_s:
                c.abandoned_in_t += 1
            if wait is not None and wait < cfg.short_abandon_s:
                c.short_abandoned += 1
    return c


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def service_level(c: Counts, variant: SlVariant | str) -> float | None:
    v = SlVariant(variant)
    if v is SlVariant.answered:
        return _ratio(c.answered_in_t, c.answered)
    if v is SlVariant.offered:
        return _ratio(c.answered_in_t, c.offered)
    if v is SlVariant.abandons_positive:
        return _ratio(c.answered_in_t + c.abandoned_in_t, c.offered)
    if v is SlVariant.abandons_in_t_excluded:
        return _ratio(c.answered_in_t, c.offered - c.abandoned_in_t)
    return _ratio(c.answered_in_t, c.offered - c.short_abandoned)


def asa(c: Counts) -> float | None:
    return _ratio(c.wait_answered_s, c.answered)


def aht(c: Counts) -> float | None:
    return _ratio(c.handle_s, c.handled)


def abandon_rate(c: Counts) -> float | None:
    return _ratio(c.abandoned - c.short_abandoned, c.offered - c.short_abandoned)


def occupancy(handling_s: float, ready_s: float) -> float | None:
    """Share of the time an agent was available for calls that they spent handling them."""
    return _ratio(handling_s, handling_s + ready_s)


@dataclass(frozen=True, slots=True)
class Kpis:
    counts: Counts
    config: KpiConfig
    service_level: float | None
    asa_s: float | None
    aht_s: float | None
    abandon_rate: float | None

    @property
    def sl_met(self) -> bool | None:
        return None if self.service_level is None else self.service_level * 100 >= self.config.sl_target_pct


def compute(facts: Iterable[CallFact], cfg: KpiConfig) -> Kpis:
    c = tally(facts, cfg)
    return Kpis(c, cfg, service_level(c, cfg.sl_variant), asa(c), aht(c), abandon_rate(c))


# --- time windows and intervals -------------------------------------------------------------------------
class Window(StrEnum):
    today = "today"
    last_15 = "15"
    last_30 = "30"
    last_60 = "60"


def window_bounds(window: Window | str, now: datetime, zone: str) -> tuple[datetime, datetime]:
    """[since, until) for a window: 'today' starts at local midnight in `zone` (DST-safe)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    w = Window(window)
    if w is Window.today:
        local = now.astimezone(ZoneInfo(zone))
        midnight = datetime(local.year, local.month, local.day, tzinfo=ZoneInfo(zone))
        return midnight.astimezone(now.tzinfo), now
    return now - timedelta(minutes=int(w.value)), now


def in_window(facts: Iterable[CallFact], since: datetime, until: datetime) -> list[CallFact]:
    return [f for f in facts if since <= f.offered_at < until]


INTERVALS = (15, 30, 60)


def interval_start(t: datetime, minutes: int, zone: str) -> datetime:
    """The start of the `minutes`-long interval holding `t`, aligned on the local clock of `zone`."""
    if minutes not in INTERVALS:
        raise ValueError(f"interval must be one of {INTERVALS} minutes")
    local = t.astimezone(ZoneInfo(zone))
    start = local.replace(minute=local.minute - local.minute % minutes, second=0, microsecond=0)
    return start.astimezone(t.tzinfo)


def by_interval(
    facts: Iterable[CallFact],
    minutes: int,
    zone: str,
    key: Callable[[CallFact], Hashable] = lambda f: f.queue,
) -> dict[tuple[Hashable, datetime], list[CallFact]]:
    """Facts grouped by (key, interval start), in key then time order."""
    groups: dict[tuple[Hashable, datetime], list[CallFact]] = defaultdict(list)
    for f in facts:
        groups[(key(f), interval_start(f.offered_at, minutes, zone))].append(f)
    return dict(sorted(groups.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])))


# --- agent state time -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StatePeriod:
    user_id: int
    state: str
    started_at: datetime
    ended_at: datetime | None = None  # open: still in that state
    reason: str | None = None


@dataclass(slots=True)
class StateTime:
    seconds: dict[tuple[str, str | None], float] = field(default_factory=dict)

    def total(self, state: str) -> float:
        return sum(s for (st, _), s in self.seconds.items() if st == state)


def state_time(
    periods: Iterable[StatePeriod], since: datetime, until: datetime, now: datetime
) -> dict[int, StateTime]:
    """Seconds per user in each (state, reason), clipped to [since, until); open periods run until `now`."""
    out: dict[int, StateTime] = {}
    for p in periods:
        end = p.ended_at or now
        start, stop = max(p.started_at, since), min(end, until)
        if stop <= start:
            continue
        st = out.setdefault(p.user_id, StateTime())
        state = ALIASES.get(p.state, p.state)
        k = (state, p.reason if state == PAUSE else None)
        st.seconds[k] = st.seconds.get(k, 0.0) + (stop - start).total_seconds()
    return out


# State names: those of cti.events.AgentState, which the CTI layer writes to agent_state_log.
READY, RINGING, TALK, WRAP, PAUSE, LOGGED_OUT = (
    "ready",
    "ringing",
    "on_call",
    "wrap_up",
    "paused",
    "logged_out",
)
HOLD = "hold"  # if the CTI layer ever logs hold separately from on_call
ALIASES = {"talk": TALK, "wrap": WRAP, "pause": PAUSE, "available": READY}  # common spellings, same meaning
HANDLING_STATES = frozenset({RINGING, TALK, HOLD, WRAP})


def logged_in_s(st: StateTime) -> float:
    """Logged-in time: every state but logged_out."""
    return sum(s for (state, _), s in st.seconds.items() if state != LOGGED_OUT)


def state_occupancy(st: StateTime) -> float | None:
    handling = sum(st.total(s) for s in HANDLING_STATES)
    return occupancy(handling, st.total(READY))
