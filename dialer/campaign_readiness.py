"""Whether a campaign can legally dial now, and if not why: what its page says before it is started. Pure:
the facts and `now` come in, the reasons go out (the page and the API read the facts from the database).

Beyond what a start needs (dialer.campaigns.structural_blockers): its rule set's calling window must be
open now (on the regulator's clock, `reference_zone`; each lead's own zone still decides each dial), today
must not be a public holiday where the rule set forbids them, some lead must carry consent once the rule
set requires it, and some agent must be able to take its calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from dialer.campaigns import Blocker, StartFacts, structural_blockers
from dialer.compliance import WEEKDAYS, RuleSet
from dialer.compliance_zones import holiday_calendar, zone_info

_LOOKAHEAD_DAYS = 14  # how far the next opening is looked for (a week and its holidays)


@dataclass(frozen=True, slots=True)
class ReadinessFacts:
    start: StartFacts
    rule_set: RuleSet | None
    consented_leads: int  # leads of its lists that carry consent
    agents: int  # active agents who may take its calls (its queue's members, or its team's agents)
    country: str | None = None  # whose public holidays count (the centre's region)


def _is_holiday(country: str | None, day: date) -> bool:
    return country is not None and day in holiday_calendar(country, None)


def _open_on(rule_set: RuleSet, country: str | None, day: date) -> list[tuple[int, int]]:
    if rule_set.no_calls_on_public_holidays and _is_holiday(country, day):
        return []
    return [(w.start, w.end) for w in rule_set.windows.get(WEEKDAYS[day.weekday()], [])]


def next_opening(rule_set: RuleSet, country: str | None, now: datetime) -> datetime | None:
    """`now` when the window is open, else when it next opens (wall clock of `reference_zone`), or None
    when it does not open within two weeks."""
    zone = zone_info(rule_set.reference_zone)
    local = now.astimezone(zone)
    minute = local.hour * 60 + local.minute
    for offset in range(_LOOKAHEAD_DAYS + 1):
        day = local.date() + timedelta(days=offset)
        for start, end in _open_on(rule_set, country, day):
            if offset == 0 and start <= minute < end:
                return now
            if offset > 0 or start > minute:
                wall = datetime(day.year, day.month, day.day) + timedelta(minutes=start)
                return wall.replace(tzinfo=zone)
    return None


def dial_blockers(facts: ReadinessFacts, now: datetime) -> list[Blocker]:
    """Every reason the campaign cannot dial at `now` (empty: it can)."""
    out = structural_blockers(facts.start)
    if facts.start.has_queue_or_team and facts.agents == 0:
        out.append(Blocker("no_agent", "no agent can take its calls: its queue or team has no active agent"))
    rs = facts.rule_set
    if rs is None:
        return out
    local_today = now.astimezone(zone_info(rs.reference_zone)).date()
    needs_consent = rs.consent_required_from is not None and rs.consent_required_from <= local_today
    if needs_consent and facts.start.leads > 0 and facts.consented_leads == 0:
        out.append(
            Blocker(
                "no_consent",
                f"rule set {rs.name} requires consent since {rs.consent_required_from} and no lead has it: "
                "import the list with its consent column mapped",
            )
        )
    opening = next_opening(rs, facts.country, now)
    if opening is None:
        out.append(
            Blocker("window_never", f"the calling window of {rs.name} does not open in the next two weeks")
        )
    elif opening != now:
        if rs.no_calls_on_public_holidays and _is_holiday(facts.country, local_today):
            out.append(Blocker("holiday", f"today is a public holiday and {rs.name} forbids calls on them"))
        out.append(
            Blocker(
                "window_closed",
                f"outside the calling window of {rs.name}; it opens {opening.isoformat()}",
                opening,
            )
        )
    return out
