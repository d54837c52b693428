"""What the engine reads of campaigns and their history, and the small pure helpers its shells share."""

from __future__ import annotations

import dataclasses
import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select

from core.dialer_tables import Campaign, CampaignState, DialMode, LeadAttempt
from dialer import leads_model as m
from dialer.compliance import AbandonStats, RuleSet, abandon_stats, clone_rule_set
from dialer.messages import MessageError, abandon_sound, sound_name

log = logging.getLogger("dialer.engine")

ONE_DAY: dict[str, Any] = {"abandon_period_days": 1}


def utc_now() -> datetime:
    return datetime.now(UTC)


async def campaign_abandons(
    s: Any, campaign_id: int, rs: RuleSet, now: datetime
) -> tuple[AbandonStats, AbandonStats]:
    """The campaign's abandon rate today (the rule set's reference zone) and over its period."""
    return abandons_by_period(await abandon_history(s, campaign_id, rs, now), rs, now)


def abandons_by_period(
    history: list[m.Attempt], rs: RuleSet, now: datetime
) -> tuple[AbandonStats, AbandonStats]:
    today_rs = clone_rule_set(rs, rs.name, {"abandon_period_kind": "calendar_days"} | ONE_DAY)
    return abandon_stats(history, today_rs, now), abandon_stats(history, rs, now)


async def abandon_history(s: Any, campaign_id: int, rs: RuleSet, now: datetime) -> list[m.Attempt]:
    """The campaign's answered (or AMD-hung-up) attempts of the rule set's period and the day before."""
    since = now - timedelta(days=rs.abandon_period_days + 1)
    rows = await s.execute(
        select(
            LeadAttempt.lead_id,
            LeadAttempt.e164,
            LeadAttempt.started_at,
            LeadAttempt.result,
            LeadAttempt.answered_at,
            LeadAttempt.agent_connected_at,
            LeadAttempt.amd_machine,
        ).where(
            LeadAttempt.campaign_id == campaign_id,
            LeadAttempt.started_at >= since,
            or_(LeadAttempt.answered_at.is_not(None), LeadAttempt.amd_machine.is_(True)),
        )
    )
    return [
        m.Attempt(
            lead_id=r.lead_id,
            e164=r.e164,
            started_at=aware(r.started_at),
            result=m.AttemptResult(r.result),
            answered_at=aware(r.answered_at),
            agent_connected_at=aware(r.agent_connected_at),
            amd_machine=r.amd_machine,
        )
        for r in rows
    ]


def campaign_facts(c: Campaign, rs: RuleSet, queue: str) -> dict[str, Any]:
    """What an originate needs of its campaign, read once per tick (no ORM object outlives its session)."""
    sound = ""
    if c.machine_message:
        try:
            sound = sound_name(c.machine_message)
        except MessageError:  # stored before validation existed, or by hand: the abandon message instead
            log.warning("dialer: campaign %s: unusable machine message, the abandon message plays", c.id)
    return {
        "id": c.id,
        "name": c.name,
        "script": c.script,
        "caller_id": c.caller_id,
        "callback_number": c.callback_number or c.caller_id,
        "machine_sound": sound,
        "abandon_sound": abandon_sound(c),
        "amd": c.amd_enabled,
        "machine_action": c.amd_machine_action.value,
        "queue": queue,
        "abandon_s": max(1, math.ceil(rs.abandon_after_seconds)),
        "recording": c.recording_policy,
        "recording_sound": _recording_sound(c),
    }


def _recording_sound(c: Campaign) -> str:
    if not c.recording_announcement:
        return ""
    try:
        return sound_name(c.recording_announcement)
    except MessageError:
        log.warning("dialer: campaign %s: unusable recording announcement, none played", c.id)
        return ""


def previewing(c: Campaign) -> bool:
    return c.state is CampaignState.running and c.dial_mode is DialMode.preview


def lead_name(fields: dict[str, str]) -> str | None:
    """What the preview card titles the lead with: the person, else the company."""
    person = " ".join(v for v in (fields.get("first_name"), fields.get("last_name")) if v)
    return person or fields.get("company") or None


def without_numbers(leads: list[m.Lead], blocked: set[str]) -> list[m.Lead]:
    """The leads with their blocked numbers taken out (a lead left with none is dropped)."""
    if not blocked:
        return leads
    out = []
    for lead in leads:
        numbers = tuple(n for n in lead.numbers if n.e164 not in blocked)
        if len(numbers) == len(lead.numbers):
            out.append(lead)
        elif numbers:
            out.append(dataclasses.replace(lead, numbers=numbers))
    return out


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive: they were stored in UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def lookback(rs: RuleSet) -> timedelta:
    """History that can block a dial: the attempts period, the refusal cool-off, the drop lockout."""
    return timedelta(
        days=max(1, rs.attempts_period_days, rs.refusal_cooloff_days, math.ceil(rs.drop_lockout_hours / 24))
    )
