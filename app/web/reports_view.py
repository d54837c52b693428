"""The reports page and the wallboard's KPI table: the API's report functions, rendered."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app import care_ratios as cr
from app import care_service as care_api
from app import report_service as reports_api
from app import reporting
from app.care_report import By
from app.satisfaction import CSAT_SCORES, NPS_SCORES
from app.satisfaction import By as SatBy
from app.security import Identity, get_db
from app.web.charts import Series, horizontal_stacks, line_chart, stacked_bars
from app.web.pages import page, roles
from app.web.render import gettext as _
from core.models import Role

router = APIRouter(include_in_schema=False)
STAFF = (Role.supervisor, Role.manager)


def sl_variant_label(variant: str) -> str:
    return {
        "answered": _("answered within T / answered"),
        "offered": _("answered within T / offered"),
        "abandons_positive": _("(answered + abandoned within T) / offered"),
        "abandons_in_t_excluded": _("answered within T / (offered − abandoned within T)"),
        "short_abandons_excluded": _("answered within T / (offered − short abandons)"),
    }.get(variant, variant)


async def kpi_windows(request: Request, db: AsyncSession) -> tuple[dict[str, str], list[Any]]:
    windows = await reports_api.kpi_windows(
        db, request.app.state.settings.timezone, reports_api.live_facts(request)
    )
    return await reporting.queue_labels(db), windows


def _contiguous(starts: list[datetime], minutes: int) -> list[datetime]:
    """Every interval start from the first to the last one with calls, so that quiet intervals show."""
    if not starts:
        return []
    out, t, end = [], min(starts), max(starts)
    while t <= end and len(out) < 3000:
        out.append(t)
        t += timedelta(minutes=minutes)
    return out


def _parse_day(value: str | None, default: date) -> date:
    try:
        return date.fromisoformat(value) if value else default
    except ValueError:
        return default


def day_period(
    request: Request, start: str | None, end: str | None
) -> tuple[date, date, datetime, datetime, str | None]:
    """The pages' day range in the site's zone: first and last day, [since, until) and an error, if any."""
    zone = ZoneInfo(request.app.state.settings.timezone)
    first = _parse_day(start, datetime.now(zone).date())
    last = _parse_day(end, first)
    error = None
    if last < first or (last - first).days >= reporting.MAX_DAYS:
        error = _("The period must end after it starts and cover at most %(n)s days.", n=reporting.MAX_DAYS)
        last = first
    since = datetime.combine(first, time(0), zone)
    until = datetime.combine(last + timedelta(days=1), time(0), zone)
    return first, last, since, until, error


async def care_section(
    request: Request, db: AsyncSession, since: datetime, until: datetime, lang: str
) -> dict[str, Any]:
    """Customer care over the page's days: complaint and loss rates per day (line chart), FCR and repeat
    calls per day (line chart), the complaints' reasons as a Pareto chart, and their CSV links."""
    zone = since.tzinfo
    days = await care_api.care_rows_out(db, request, since, until, By.total, cr.Period.day, 7, lang)
    by_reason = await care_api.care_rows_out(db, request, since, until, By.reason, cr.Period.day, 7, lang)
    labels = [r.period_start.astimezone(zone).strftime("%d/%m") for r in days]
    totals: dict[str, int] = {}
    for r in by_reason:
        totals[r.label] = totals.get(r.label, 0) + r.complaints
    pareto = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    all_complaints = sum(n for _, n in pareto)
    cumulative, running = [], 0
    for _label, n in pareto:
        running += n
        cumulative.append(running / all_complaints if all_complaints else None)
    base = {"since": since.isoformat(), "until": until.isoformat(), "format": "csv"}
    return {
        "days": days,
        "rates_svg": line_chart(
            _("Complaint rate and loss rate per day"),
            labels,
            [
                Series(_("Complaint rate"), [r.complaint_rate for r in days]),  # type: ignore[misc]
                Series(_("Loss rate"), [r.loss_rate for r in days]),  # type: ignore[misc]
            ],
        )
        if days
        else None,
        "fcr_svg": line_chart(
            _("First-contact resolution and repeat calls per day"),
            labels,
            [
                Series(_("First-contact resolution"), [r.fcr for r in days]),  # type: ignore[misc]
                Series(_("Repeat-call rate"), [r.repeat_rate for r in days]),  # type: ignore[misc]
            ],
        )
        if days
        else None,
        "pareto": pareto,
        "pareto_svg": stacked_bars(
            _("Complaints per reason, most frequent first, and their cumulative share"),
            [label for label, _n in pareto],
            [Series(_("Complaints"), [n for _label, n in pareto])],
            line=Series(_("Cumulative share"), cumulative),  # type: ignore[arg-type]
        )
        if pareto
        else None,
        "csv_days": "/api/v1/reports/care?" + urlencode(base),
        "csv_reasons": "/api/v1/reports/care?" + urlencode({**base, "by": "reason"}),
    }


async def satisfaction_section(
    request: Request, db: AsyncSession, since: datetime, until: datetime, lang: str
) -> dict[str, Any]:
    """The post-call survey over the page's days: the CSAT and NPS distributions (bars; NPS coloured as
    detractors, passives, promoters), the figures in total and per agent, and the CSV links."""
    (total,) = await care_api.satisfaction_rows_out(db, request, since, until, SatBy.total, lang)
    agents = await care_api.satisfaction_rows_out(db, request, since, until, SatBy.agent, lang)
    base = {"since": since.isoformat(), "until": until.isoformat(), "format": "csv"}
    nps = [total.nps_counts[str(s)] for s in NPS_SCORES]
    # passives s0 (blue), detractors s1 (red), promoters s2 (green): the page's series colours
    groups = [range(7, 9), range(0, 7), range(9, 11)]
    return {
        "total": total,
        "agents": agents,
        "csat_svg": stacked_bars(
            _("CSAT answers per score (1 to 5)"),
            [str(s) for s in CSAT_SCORES],
            [Series(_("CSAT answers"), [total.csat_counts[str(s)] for s in CSAT_SCORES])],
        )
        if total.csat_answers
        else None,
        "nps_svg": stacked_bars(
            _("NPS answers per score (0 to 10)"),
            [str(s) for s in NPS_SCORES],
            [
                Series(label, [n if s in g else 0 for s, n in zip(NPS_SCORES, nps, strict=True)])
                for label, g in zip((_("Passives"), _("Detractors"), _("Promoters")), groups, strict=True)
            ],
        )
        if total.nps_answers
        else None,
        "csv": {
            by: "/api/v1/reports/satisfaction?" + urlencode({**base, "by": by})
            for by in ("agent", "queue", "campaign", "reason")
        },
    }


@router.get("/reports")
async def reports_page(
    request: Request,
    start: str | None = Query(default=None, max_length=10),
    end: str | None = Query(default=None, max_length=10),
    interval: str = Query(default="30", max_length=2),
    queue: str | None = Query(default=None, max_length=80),
    ident: Identity = Depends(roles(*STAFF)),
    db: AsyncSession = Depends(get_db),
) -> Any:
    first, last, since, until, error = day_period(request, start, end)
    zone = since.tzinfo
    interval = interval if interval in ("15", "30", "60") else "30"
    queue = queue or None
    labels = await reporting.queue_labels(db)

    facts = await reporting.call_facts(db, since, until, queue)
    configs = await reporting.queue_configs(db)
    qrows = [
        reports_api.queue_row(r) for r in reporting.queue_intervals(facts, configs, int(interval), str(zone))
    ]
    totals = [reports_api.queue_row(r) for r in reporting.queue_totals(facts, configs)]
    agent_rows_ = reporting.agent_intervals(facts, None, str(zone))
    names = await reporting.user_names(db, {r.agent_id for r in agent_rows_})
    arows = [reports_api.agent_row(r, names) for r in agent_rows_]
    aint = [
        reports_api.agent_row(r, names) for r in reporting.agent_intervals(facts, int(interval), str(zone))
    ]
    srows = await reports_api.agent_state_rows(db, since, until)

    charts = []
    for q in sorted({r.queue for r in qrows}):
        by_start = {r.start: r for r in qrows if r.queue == q}
        slots = _contiguous([s for s in by_start if s is not None], int(interval))
        rows = [by_start.get(s) for s in slots]  # None: an interval without calls, drawn as a gap
        day_fmt = "%d/%m %H:%M" if first != last else "%H:%M"
        charts.append(
            {
                "queue": q,
                "svg": stacked_bars(
                    _("Calls per interval and service level, queue %(q)s", q=labels.get(q, q)),
                    [s.astimezone(zone).strftime(day_fmt) for s in slots],
                    [
                        Series(_("Answered"), [r.answered if r else 0 for r in rows]),
                        Series(_("Abandoned"), [r.abandoned if r else 0 for r in rows]),
                    ],
                    line=Series(_("Service level"), [r.service_level if r else None for r in rows]),  # type: ignore[misc]
                ),
            }
        )
    state_chart = None
    if srows:
        hours = [
            (_("Ready"), "ready_s"),
            (_("Talk"), "talk_s"),
            (_("Hold"), "hold_s"),
            (_("Wrap-up"), "wrap_s"),
            (_("Pause"), "pause_s"),
        ]
        state_chart = horizontal_stacks(
            _("Time per agent and state, in hours"),
            [r.agent for r in srows],
            [Series(label, [getattr(r, key) / 3600 for r in srows]) for label, key in hours],
        )
        state_legend = [label for label, _k in hours]
    else:
        state_legend = []
    reasons = sorted({reason for r in srows for reason in r.pause_by_reason})
    care = await care_section(request, db, since, until, ident.user.language)
    satisfaction = await satisfaction_section(request, db, since, until, ident.user.language)
    base = {"since": since.isoformat(), "until": until.isoformat()}
    csv_links = {
        "queue": "/api/v1/reports/intervals?"
        + urlencode(
            {
                **base,
                "interval": interval,
                "by": "queue",
                "format": "csv",
                **({"queue": queue} if queue else {}),
            }
        ),
        "agent": "/api/v1/reports/intervals?"
        + urlencode(
            {
                **base,
                "interval": interval,
                "by": "agent",
                "format": "csv",
                **({"queue": queue} if queue else {}),
            }
        ),
        "states": "/api/v1/reports/agent-states?" + urlencode({**base, "format": "csv"}),
    }
    return page(
        request,
        "reports.html",
        ident,
        active="reports",
        start=first.isoformat(),
        end=last.isoformat(),
        interval=interval,
        queue=queue,
        labels=labels,
        qrows=qrows,
        totals=totals,
        arows=arows,
        aint=aint,
        srows=srows,
        reasons=reasons,
        charts=charts,
        state_chart=state_chart,
        state_legend=state_legend,
        csv_links=csv_links,
        care=care,
        satisfaction=satisfaction,
        error=error,
        sl_variant_label=sl_variant_label,
        zone=zone,
    )
