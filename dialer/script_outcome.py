"""What the outcome of a CROC script does once the agent saves it: the dialer action on the lead.

The engine writes each attempt when the call ends (a person reached an agent: `contact`). The agent's
script outcome then says what it really was, and that attempt takes the outcome's action as its result:
the compliance rules read the history, so a `refused` attempt starts the rule set's cool-off, a
`wrong_number` one retires that number for this lead and a `do_not_call` one the lead, with no rule of
their own here. The lead moves on by the campaign's retry rules (`dialer.outcomes.next_for_lead`); a
callback is scheduled through `dialer.callbacks.schedule_callback` inside the rule set's calling
windows; "do not call" also puts the number on the internal do-not-call list (`dialer.dnc`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.dialer_tables import (
    CallbackSource,
    Campaign,
    DncKind,
    DncList,
    Lead,
    LeadAttempt,
    LeadNumber,
)
from dialer import leads_model as m
from dialer.callbacks import CallbackError, schedule_callback
from dialer.compliance import Reason, check
from dialer.compliance_zones import zone_info
from dialer.croc import Outcome
from dialer.dnc import add_numbers
from dialer.outcomes import next_for_lead, retry_rules
from dialer.store import rule_set_named

R = m.AttemptResult
INTERNAL_DNC_NAME = "Liste interne (demandes des personnes appelées)"
DEFAULT_CALLBACK_DAYS = 1
ATTEMPT_MAX_AGE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Effect:
    """What saving the outcome changed, for the API's answer and the timeline entry."""

    action: str
    lead_status: str | None = None
    next_attempt_at: datetime | None = None
    attempt_id: int | None = None
    callback_id: int | None = None
    callback_due_at: datetime | None = None
    dnc_added: bool = False


async def apply_outcome(
    s: AsyncSession,
    outcome: Outcome,
    *,
    lead_id: int | None,
    campaign_id: int | None,
    number_e164: str | None,
    contact_id: int | None,
    agent_id: int,
    callback_at: datetime | None,
    now: datetime,
    note: str | None = None,
    region: str = "FR",
) -> Effect:
    """Apply `outcome` in the caller's transaction (flushed, not committed).

    Raises CallbackError naming `callback_at` when a callback is asked for a time the rule set forbids
    or without a time at all.
    """
    action = outcome.action
    lead = await s.get(Lead, lead_id) if lead_id is not None else None
    campaign = await s.get(Campaign, campaign_id) if campaign_id is not None else None
    attempt = await _attempt_of_call(s, lead.id, campaign_id, now) if lead is not None else None
    e164 = attempt.e164 if attempt is not None else number_e164
    if attempt is not None:
        attempt.result = action.value
        attempt.disposition_code = outcome.disposition
        attempt.agent_id = attempt.agent_id or agent_id
    effect = Effect(action=action.value, attempt_id=attempt.id if attempt else None)

    if action is R.CALLBACK:
        if e164 is None:
            raise CallbackError("callback_at", "this call has no number to call back")
        number = await _lead_number(s, lead.id if lead else None, e164)
        due = await _callback_time(s, outcome, campaign, number, callback_at, now)
        cb = await schedule_callback(
            s,
            number_e164=e164,
            contact_id=contact_id,
            due_at=due,
            tz=number.zones[0],
            agent_id=agent_id,
            source=CallbackSource.agent,
            note=note,
            lead_id=lead.id if lead else None,
            campaign_id=campaign.id if campaign else None,
            fallback_after_minutes=campaign.callback_fallback_minutes if campaign else 30,
            created_by=agent_id,
            region=region,
        )
        if lead is not None:
            lead.next_attempt_at = None  # the callback's due time decides (the hopper takes it then)
        return replace(
            effect, lead_status="callback" if lead else None, callback_id=cb.id, callback_due_at=cb.due_at
        )

    if lead is not None:
        same_before = int(
            await s.scalar(
                select(func.count())
                .select_from(LeadAttempt)
                .where(
                    LeadAttempt.lead_id == lead.id,
                    LeadAttempt.result == action.value,
                    LeadAttempt.id != (attempt.id if attempt else -1),
                )
            )
            or 0
        )
        ended = _aware(attempt.ended_at) if attempt is not None and attempt.ended_at else now
        upd = next_for_lead(
            action,
            ended_at=ended,
            rules=retry_rules(campaign.retry_rules if campaign else None),
            same_result_before=same_before,
            current=m.LeadStatus(lead.status),
        )
        lead.status, lead.next_attempt_at = upd.status.value, upd.next_attempt_at
        effect = replace(effect, lead_status=lead.status, next_attempt_at=lead.next_attempt_at)
    if action is R.DO_NOT_CALL and e164 is not None:
        added = await add_numbers(
            s, await internal_dnc_list(s), [e164], reason=f"script: {outcome.label}"[:200], user_id=agent_id
        )
        effect = replace(effect, dnc_added=added > 0)
    await s.flush()
    return effect


async def internal_dnc_list(s: AsyncSession) -> int:
    """The internal do-not-call list (every campaign scrubs against it), created on first use."""
    found = await s.scalar(select(DncList.id).where(DncList.kind == DncKind.internal).order_by(DncList.id))
    if found is not None:
        return int(found)
    row = DncList(name=INTERNAL_DNC_NAME, kind=DncKind.internal, source="agents")
    s.add(row)
    await s.flush()
    return row.id


async def _attempt_of_call(
    s: AsyncSession, lead_id: int, campaign_id: int | None, now: datetime
) -> LeadAttempt | None:
    """The attempt that put this lead through to an agent: its latest connected one of the last day (an
    older one belongs to an earlier call, whose outcome is not this one's to change)."""
    q = select(LeadAttempt).where(
        LeadAttempt.lead_id == lead_id,
        LeadAttempt.agent_connected_at.is_not(None),
        LeadAttempt.started_at >= now - ATTEMPT_MAX_AGE,
    )
    if campaign_id is not None:
        q = q.where(LeadAttempt.campaign_id == campaign_id)
    return await s.scalar(q.order_by(LeadAttempt.id.desc()).limit(1))


async def _lead_number(s: AsyncSession, lead_id: int | None, e164: str) -> m.LeadNumber:
    """The number as the lead stores it (its zone and holiday country), or derived from the number."""
    if lead_id is not None:
        row = await s.scalar(
            select(LeadNumber).where(LeadNumber.lead_id == lead_id, LeadNumber.e164 == e164).limit(1)
        )
        if row is not None:
            return m.LeadNumber(row.e164, tuple(row.tz.split(",")), row.country)
    return m.LeadNumber.for_e164(e164)


async def _callback_time(
    s: AsyncSession,
    outcome: Outcome,
    campaign: Campaign | None,
    number: m.LeadNumber,
    asked: datetime | None,
    now: datetime,
) -> datetime:
    """The agent's time, which must fall inside the calling windows; or the outcome's default delay,
    moved to the next time the rule set allows."""
    if asked is None and outcome.callback_in_days is None:
        raise CallbackError("callback_at", f"choose when to call back ({outcome.label})")
    due = (
        asked
        if asked is not None
        else now + timedelta(days=outcome.callback_in_days or DEFAULT_CALLBACK_DAYS)
    )
    if due.tzinfo is None or due.utcoffset() is None:
        raise CallbackError("callback_at", "must carry a time zone offset")
    if asked is not None and asked < now - timedelta(minutes=5):
        raise CallbackError("callback_at", "is in the past")
    rs = await rule_set_named(s, campaign.rule_set) if campaign is not None else None
    if rs is None:
        return due
    probe = m.Lead(id=0, numbers=(number,), consent=True)
    verdict = check(probe, number, [], rs, due)
    timing = [b for b in verdict.blocks if b.reason in (Reason.OUTSIDE_WINDOW, Reason.PUBLIC_HOLIDAY)]
    if not timing:
        return due
    if asked is None and verdict.next_allowed is not None:
        return verdict.next_allowed
    local = (
        verdict.next_allowed.astimezone(zone_info(number.zones[0])).isoformat()
        if verdict.next_allowed
        else None
    )
    hint = f"; the next allowed time is {local}" if local else ""
    raise CallbackError("callback_at", f"{timing[0].detail} under rule set {rs.name}{hint}")


def _aware(value: datetime) -> datetime:
    """SQLite hands datetimes back naive: they were stored in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


__all__ = ["Effect", "apply_outcome", "internal_dnc_list"]
