"""Report data from the database: call facts and agent state periods in, app/kpi.py numbers out.

The queries load per-call facts for a bounded period (at most MAX_DAYS) and leave every definition to the
pure KPI module, so the wallboard, the reports pages, the API and the CSV exports cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import kpi
from core.errors import Invalid
from core.models import AgentStateLog, Call, CallDirection, Queue, User

MAX_DAYS = 31
# Instants a query may carry: outside, arithmetic on them (a default period, a shift to UTC) overflows
# Python's calendar, which starts at year 1 and ends at 9999.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class PeriodError(Invalid, ValueError):
    """A report period that cannot be served: a refused query parameter (`field`), so the API answers
    422 naming it; still a ValueError for the parsers that treat it as malformed input."""

    def __init__(self, field: str, msg: str) -> None:
        super().__init__(msg, field, where="query")
        self.msg = msg

    def __str__(self) -> str:
        return f"{self.field}: {self.msg}"


def check_instant(value: datetime, field: str) -> None:
    """`value` is an aware instant between EARLIEST and LATEST; else PeriodError naming `field`."""
    if value.tzinfo is None:
        raise PeriodError(field, "needs a time zone (e.g. 2026-03-10T00:00:00+01:00)")
    if not EARLIEST <= value < LATEST:
        raise PeriodError(field, f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")


def check_period(since: datetime, until: datetime) -> None:
    if since.tzinfo is None:
        raise PeriodError("since", "needs a time zone (e.g. 2026-03-10T00:00:00+01:00)")
    if until.tzinfo is None:
        raise PeriodError("until", "needs a time zone (e.g. 2026-03-10T00:00:00+01:00)")
    if until <= since:
        raise PeriodError("until", "must be after since")
    if until - since > timedelta(days=MAX_DAYS):
        raise PeriodError("until", f"a report covers at most {MAX_DAYS} days")


def fact_of_row(row: Any) -> kpi.CallFact:
    """A `calls` row (or anything with its column names as attributes) as a KPI fact."""
    return kpi.CallFact(
        offered_at=row.offered_at,
        answered_at=row.answered_at,
        ended_at=row.ended_at,
        wait_s=row.wait_s,
        talk_s=row.talk_s,
        hold_s=row.hold_s,
        wrap_s=row.wrap_s,
        outcome=row.outcome,
        queue=row.queue,
        agent_id=row.agent_id,
        linkedid=row.linkedid,
    )


async def call_facts(
    db: AsyncSession, since: datetime, until: datetime, queue: str | None = None
) -> list[kpi.CallFact]:
    """Inbound queue calls offered in [since, until)."""
    stmt = select(
        Call.offered_at,
        Call.answered_at,
        Call.ended_at,
        Call.wait_s,
        Call.talk_s,
        Call.hold_s,
        Call.wrap_s,
        Call.outcome,
        Call.queue,
        Call.agent_id,
        Call.linkedid,
    ).where(
        Call.offered_at >= since,
        Call.offered_at < until,
        Call.queue.is_not(None),
        Call.direction == CallDirection.inbound,
    )
    if queue is not None:
        stmt = stmt.where(Call.queue == queue)
    return [fact_of_row(r) for r in await db.execute(stmt.order_by(Call.offered_at, Call.id))]


def of_server(facts: list[kpi.CallFact], id_prefix: str) -> list[kpi.CallFact]:
    """The calls of one Asterisk server: their ids start with its systemname (cti/pbx_map.py)."""
    return [f for f in facts if f.linkedid is not None and f.linkedid.startswith(id_prefix)]


def with_live(history: list[kpi.CallFact], live: Iterable[kpi.CallFact]) -> list[kpi.CallFact]:
    """The history plus the calls it does not hold yet (in progress, or ended and not yet written): a
    call counts once, as its history row when there is one."""
    written = {f.linkedid for f in history if f.linkedid is not None}
    extra = [f for f in live if f.linkedid is None or f.linkedid not in written]
    return sorted([*history, *extra], key=lambda f: f.offered_at) if extra else history


async def queue_configs(db: AsyncSession) -> dict[str, kpi.KpiConfig]:
    out = {}
    for q in await db.scalars(select(Queue)):
        try:
            out[q.name] = kpi.KpiConfig(
                sl_threshold_s=q.service_level_s,
                sl_variant=kpi.SlVariant(q.sl_variant),
                short_abandon_s=q.short_abandon_s,
                sl_target_pct=q.sl_target_pct,
            )
        except ValueError:  # a bad row must not take every report down: fall back to the defaults
            out[q.name] = kpi.KpiConfig()
    return out


async def queue_labels(db: AsyncSession) -> dict[str, str]:
    return dict((await db.execute(select(Queue.name, Queue.display_name))).all())


async def user_names(db: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict((await db.execute(select(User.id, User.display_name).where(User.id.in_(ids)))).all())


@dataclass(frozen=True, slots=True)
class QueueRow:
    queue: str
    start: datetime | None  # None: the whole period
    kpis: kpi.Kpis


@dataclass(frozen=True, slots=True)
class AgentRow:
    agent_id: int
    start: datetime | None
    counts: kpi.Counts

    @property
    def aht_s(self) -> float | None:
        return kpi.aht(self.counts)


def queue_intervals(
    facts: list[kpi.CallFact], configs: dict[str, kpi.KpiConfig], minutes: int, zone: str
) -> list[QueueRow]:
    return [
        QueueRow(str(q), start, kpi.compute(group, configs.get(str(q), kpi.KpiConfig())))
        for (q, start), group in kpi.by_interval(facts, minutes, zone).items()
    ]


def queue_totals(facts: list[kpi.CallFact], configs: dict[str, kpi.KpiConfig]) -> list[QueueRow]:
    by_queue: dict[str, list[kpi.CallFact]] = {}
    for f in facts:
        by_queue.setdefault(str(f.queue), []).append(f)
    return [
        QueueRow(q, None, kpi.compute(group, configs.get(q, kpi.KpiConfig())))
        for q, group in sorted(by_queue.items())
    ]


def agent_intervals(facts: list[kpi.CallFact], minutes: int | None, zone: str) -> list[AgentRow]:
    """Calls each agent answered; `minutes=None` gives one row per agent for the whole period."""
    handled = [f for f in facts if f.agent_id is not None and f.answered]
    if minutes is None:
        groups: dict[tuple[Any, datetime | None], list[kpi.CallFact]] = {}
        for f in handled:
            groups.setdefault((f.agent_id, None), []).append(f)
        items = sorted(groups.items(), key=lambda kv: kv[0][0])
    else:
        items = list(kpi.by_interval(handled, minutes, zone, key=lambda f: f.agent_id).items())
        items.sort(key=lambda kv: (kv[0][0], kv[0][1]))
    return [AgentRow(int(a), start, kpi.tally(group, kpi.KpiConfig())) for (a, start), group in items]


async def state_periods(db: AsyncSession, since: datetime, until: datetime) -> list[kpi.StatePeriod]:
    rows = await db.scalars(
        select(AgentStateLog).where(
            AgentStateLog.started_at < until,
            (AgentStateLog.ended_at.is_(None)) | (AgentStateLog.ended_at > since),
        )
    )
    return [kpi.StatePeriod(r.user_id, r.state, r.started_at, r.ended_at, r.reason) for r in rows]
