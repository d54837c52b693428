"""The dialer's outcome mapping (channel signals → attempt result) and the lead's next step. Pure tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dialer.leads_model import AttemptResult as R
from dialer.leads_model import LeadStatus as S
from dialer.outcomes import CallSignals, classify, next_for_lead, retry_rules

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("signals", "expected"),
    [
        (CallSignals(dial_status="BUSY", hangup_cause=17), R.BUSY),
        (CallSignals(hangup_cause=17), R.BUSY),
        (CallSignals(dial_status="CONGESTION", hangup_cause=34), R.FAILED),
        (CallSignals(dial_status="CHANUNAVAIL"), R.FAILED),
        (CallSignals(dial_status="NOANSWER"), R.NO_ANSWER),
        (CallSignals(dial_status="CANCEL"), R.NO_ANSWER),
        (CallSignals(hangup_cause=19), R.NO_ANSWER),
        (CallSignals(), R.FAILED),
        (CallSignals(link_lost=True), R.FAILED),
        (CallSignals(dial_status="CANCEL", link_lost=True), R.FAILED),  # cut by a restart while ringing
        (CallSignals(dial_status="ANSWER", answered=True, agent_connected=True), R.CONTACT),
        (CallSignals(dial_status="ANSWER", answered=True, abandon_event=True), R.DROPPED),
        (CallSignals(dial_status="ANSWER", answered=True), R.DROPPED),
        (CallSignals(dial_status="ANSWER", answered=True, amd_status="MACHINE"), R.MACHINE),
        (
            CallSignals(dial_status="ANSWER", answered=True, amd_status="NOTSURE", abandon_event=True),
            R.DROPPED,
        ),
        (
            CallSignals(dial_status="ANSWER", answered=True, amd_status="HUMAN", agent_connected=True),
            R.CONTACT,
        ),
        (CallSignals(dial_status="ANSWER", answered=True, link_lost=True), R.FAILED),
    ],
)
def test_given_call_signals_when_classified_then_the_attempt_result_follows(
    signals: CallSignals, expected: R
) -> None:
    assert classify(signals) is expected


RULES = retry_rules({"busy": {"delay_minutes": 10, "max_attempts": 2}})


@pytest.mark.parametrize(
    ("result", "before", "current", "lockout_h", "status", "delay"),
    [
        (R.BUSY, 0, S.NEW, 0, S.RETRY, timedelta(minutes=10)),  # campaign rule overrides the default
        (R.BUSY, 1, S.RETRY, 0, S.RETRY, timedelta(minutes=10)),
        (R.BUSY, 2, S.RETRY, 0, S.DONE, None),  # third busy: its retries are used up
        (R.NO_ANSWER, 0, S.NEW, 0, S.RETRY, timedelta(minutes=120)),  # default rule
        (R.FAILED, 0, S.NEW, 0, S.RETRY, timedelta(minutes=60)),
        (R.MACHINE, 0, S.NEW, 0, S.RETRY, timedelta(minutes=240)),
        (R.DROPPED, 0, S.NEW, 0, S.RETRY, timedelta(hours=72)),
        (R.DROPPED, 0, S.NEW, 100, S.RETRY, timedelta(hours=100)),  # the rule set's lockout wins
        (R.CONTACT, 0, S.NEW, 0, S.DONE, None),
        (R.NO_ANSWER, 0, S.CALLBACK, 0, S.CALLBACK, timedelta(minutes=120)),  # an unreached callback stays
    ],
)
def test_given_an_attempt_when_the_lead_is_updated_then_status_and_next_time_follow_the_retry_rules(
    result: R, before: int, current: S, lockout_h: int, status: S, delay: timedelta | None
) -> None:
    upd = next_for_lead(
        result,
        ended_at=T0,
        rules=RULES,
        same_result_before=before,
        current=current,
        drop_lockout_hours=lockout_h,
    )
    assert upd.status is status
    assert upd.next_attempt_at == (None if delay is None else T0 + delay)


def test_given_a_callback_lead_when_a_person_is_reached_then_the_callback_is_done() -> None:
    upd = next_for_lead(R.CONTACT, ended_at=T0, rules=RULES, same_result_before=0, current=S.CALLBACK)
    assert (upd.status, upd.callback_done) == (S.DONE, True)
