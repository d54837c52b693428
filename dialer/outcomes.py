"""What one dialer call produced, from its channel events, and what happens to its lead next. Pure.

The signals come from the AMI events of the call (never from OriginateResponse's Reason, unreliable with
chan_pjsip): DialEnd's DialStatus and the Hangup cause on the trunk leg, the AMDResult and DialerAbandon
UserEvents of `[plateau-dialer-answered]`, and whether an agent was connected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dialer.campaigns import DEFAULT_RETRY_RULES, RetryRule, parse_retry_rules
from dialer.leads_model import AttemptResult, LeadStatus

R = AttemptResult

_BUSY_CAUSES = frozenset({17})
_NO_ANSWER_CAUSES = frozenset({18, 19, 20})
# Dial statuses of the trunk leg; anything else that did not answer is a failure (congestion, unreachable).
_DIAL_STATUS = {"BUSY": R.BUSY, "NOANSWER": R.NO_ANSWER, "CANCEL": R.NO_ANSWER}


@dataclass(frozen=True, slots=True)
class CallSignals:
    """Everything observed about one dialer call when it is over."""

    dial_status: str | None = None  # DialEnd.DialStatus of the trunk leg
    hangup_cause: int | None = None  # Hangup.Cause of the trunk leg
    answered: bool = False  # the far end picked up (DialStatus ANSWER)
    amd_status: str | None = None  # MACHINE, HUMAN, NOTSURE, HANGUP (AMDResult UserEvent)
    abandon_event: bool = False  # DialerAbandon UserEvent: no agent within the rule set's seconds
    agent_connected: bool = False
    link_lost: bool = False  # cut by an Asterisk shutdown/restart, or vanished with the AMI link


def classify(s: CallSignals) -> AttemptResult:
    """The attempt's result. A person who answered and got no agent is a drop, whatever the reason:
    the conservative reading for the abandon rate (they may have hung up during the 2 s themselves)."""
    if s.agent_connected:
        return R.CONTACT
    if s.answered or s.dial_status == "ANSWER":
        if s.amd_status == "MACHINE":
            return R.MACHINE
        if s.link_lost and not s.abandon_event:
            return R.FAILED
        return R.DROPPED
    if s.link_lost:
        return R.FAILED  # cut by an Asterisk restart or lost with the link: nothing is known of the far end
    if s.dial_status in _DIAL_STATUS:
        return _DIAL_STATUS[s.dial_status]
    if s.dial_status is None and s.hangup_cause in _BUSY_CAUSES:
        return R.BUSY
    if s.dial_status is None and s.hangup_cause in _NO_ANSWER_CAUSES:
        return R.NO_ANSWER
    return R.FAILED  # CONGESTION, CHANUNAVAIL, cause 34/38, interrupted calls


def retry_rules(data: Mapping[str, Any] | None) -> dict[str, RetryRule]:
    """The campaign's retry rules over the defaults (a campaign rule replaces the default one)."""
    return parse_retry_rules({**DEFAULT_RETRY_RULES, **(data or {})})


@dataclass(frozen=True, slots=True)
class LeadUpdate:
    status: LeadStatus
    next_attempt_at: datetime | None
    callback_done: bool  # a pending callback of the lead was honoured by this call


def next_for_lead(
    result: AttemptResult,
    *,
    ended_at: datetime,
    rules: Mapping[str, RetryRule],
    same_result_before: int,
    current: LeadStatus,
    drop_lockout_hours: int = 0,
) -> LeadUpdate:
    """Lead status and next attempt time after one attempt.

    `same_result_before`: earlier attempts of this lead with the same result. A rule's `max_attempts`
    counts retries after that outcome: retry while this is at most the max-th such outcome.
    A drop never comes back before the rule set's lockout, whatever the retry rule says.
    """
    if result in (R.CONTACT, R.SUCCESS, R.REFUSED, R.WRONG_NUMBER):
        rule = rules.get(result.value)
        if rule is None or same_result_before + 1 > rule.max_attempts:
            return LeadUpdate(LeadStatus.DONE, None, current is LeadStatus.CALLBACK)
    if result is R.DO_NOT_CALL:
        return LeadUpdate(LeadStatus.DO_NOT_CALL, None, current is LeadStatus.CALLBACK)
    rule = rules.get(result.value)
    if rule is None or same_result_before + 1 > rule.max_attempts:
        return LeadUpdate(LeadStatus.DONE, None, False)
    at = ended_at + timedelta(minutes=rule.delay_minutes)
    if result is R.DROPPED and drop_lockout_hours:
        at = max(at, ended_at + timedelta(hours=drop_lockout_hours))
    # a callback not reached stays a callback (its due time passed; it is retried like the others)
    status = LeadStatus.CALLBACK if current is LeadStatus.CALLBACK else LeadStatus.RETRY
    return LeadUpdate(status, at, False)
