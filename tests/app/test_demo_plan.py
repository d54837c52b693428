"""The live demo's schedule (app/demo_plan.py): what starts when, given `now` and a seeded RNG."""

from __future__ import annotations

import random

import pytest

from app.demo_plan import ArmPhone, Customer, DemoSchedule, Pace, PlaceCall, demo_channels
from cti.numbers import parse

CUSTOMERS = [Customer("0612345678", "Hélène Lefèvre"), Customer("+212661234567", "Youssef El Amrani")]
CODES = ["info", "resolu"]


def schedule(seed: int = 1, start: float = 1000.0, **pace: object) -> DemoSchedule:
    return DemoSchedule(
        CUSTOMERS, ["agent2", "agent3"], CODES, start=start, rng=random.Random(seed), pace=Pace(**pace)
    )


def calls_over(s: DemoSchedule, minutes: float, step: float = 0.5) -> list[PlaceCall]:
    out: list[PlaceCall] = []
    t = s.start
    while t <= s.start + minutes * 60:
        out += s.calls_due(t)
        t += step
    return out


def test_given_the_same_seed_when_replayed_then_the_same_calls_come_at_the_same_times() -> None:
    assert calls_over(schedule(seed=5), 10) == calls_over(schedule(seed=5), 10)
    assert calls_over(schedule(seed=5), 10) != calls_over(schedule(seed=6), 10)


@pytest.mark.parametrize(
    ("per_minute", "low", "high"),
    [(2.0, 250, 350), (6.0, 800, 1000), (0.5, 50, 100)],  # about per_minute × 150 minutes
)
def test_given_a_pace_when_the_morning_runs_then_about_that_many_calls_come(
    per_minute: float, low: int, high: int
) -> None:
    assert low <= len(calls_over(schedule(calls_per_minute=per_minute), 150, step=5)) <= high


def test_given_ticks_when_calls_are_due_then_each_comes_once_in_order_and_never_before_its_time() -> None:
    s = schedule()
    assert s.calls_due(s.start) == []  # nothing at the very start
    seen: list[PlaceCall] = []
    for t in (1010.0, 1010.0, 1100.0, 1099.0, 1400.0):  # a repeated and a late tick, a clock read twice
        due = s.calls_due(t)
        assert all(c.at <= t for c in due)
        seen += due
    assert [c.at for c in seen] == sorted({c.at for c in seen})
    assert all(c.at > s.start for c in seen)
    # a late tick places every missed call at once, none lost
    late = schedule()
    assert late.calls_due(1400.0) == seen


@pytest.mark.parametrize(("unknown_share", "abandon_share"), [(0.0, 0.0), (1.0, 1.0), (0.2, 0.2), (0.5, 0.1)])
def test_given_shares_when_calls_come_then_known_unknown_and_abandoning_callers_follow_them(
    unknown_share: float, abandon_share: float
) -> None:
    calls = calls_over(
        schedule(unknown_share=unknown_share, abandon_share=abandon_share, calls_per_minute=10), 60
    )
    n = len(calls)
    unknown = [c for c in calls if not c.known]
    abandoning = [c for c in calls if c.abandons]
    assert abs(len(unknown) / n - unknown_share) < 0.06
    assert abs(len(abandoning) / n - abandon_share) < 0.06
    for c in calls:
        assert (
            c.caller in CUSTOMERS
        ) == c.known  # known callers call from a customer's number: the pop matches
        assert c.did in ("5551000", "5552000")
        if c.abandons:
            assert 12 <= c.hang_up_after_s <= 40  # gives up while waiting
        else:
            assert c.hang_up_after_s == 900  # stays until the colleague hangs up


def test_given_unknown_callers_then_their_numbers_are_french_mobiles_in_use_that_no_customer_has() -> None:
    store = {parse(c.number).suffix_key for c in CUSTOMERS}
    strangers = [c.caller for c in calls_over(schedule(unknown_share=1.0, calls_per_minute=20), 30)]
    assert len(strangers) > 400
    for caller in strangers:
        parsed = parse(caller.number)  # raises for a number not in use
        assert parsed.e164.startswith(("+336", "+337"))  # metropolitan mobiles, not overseas ones
        assert parsed.suffix_key not in store
        assert caller.name == ""


def test_given_colleagues_when_the_demo_opens_and_calls_end_then_phones_are_armed_within_the_pace() -> None:
    s = schedule(ring_s=(2, 6), talk_s=(20, 60))
    opening = s.opening()
    assert [a.agent for a in opening] == ["agent2", "agent3"]
    for arm in [*opening, *(s.phone_done("agent2") for _ in range(200))]:
        assert isinstance(arm, ArmPhone)
        assert 2 <= arm.ring_s <= 6 and 20 <= arm.talk_s <= 60


def test_given_wrap_up_seen_on_ticks_when_dispositions_fall_due_then_one_per_call_after_wrap_time() -> None:
    s = schedule(wrap_s=(4, 15))
    first = s.wrapping_up("agent2", "L1", now=1100.0)
    assert first is not None and 1104 <= first.at <= 1115 and first.code in CODES
    assert s.wrapping_up("agent2", "L1", now=1101.0) is None  # the same wrap-up seen on the next tick
    second = s.wrapping_up("agent3", "L2", now=1102.0)
    assert second is not None
    assert s.dispositions_due(1103.9) == []
    due = s.dispositions_due(1200.0)
    assert due == sorted([first, second], key=lambda d: d.at)
    assert s.dispositions_due(1300.0) == []  # each saved once


@pytest.mark.parametrize(
    ("pace", "error"),
    [
        ({"calls_per_minute": 0}, "calls_per_minute"),
        ({"dids": ()}, "dids"),
        ({"abandon_share": 1.5}, "abandon_share"),
        ({"unknown_share": -0.1}, "unknown_share"),
        ({"talk_s": (60, 20)}, "talk_s"),
        ({"patience_s": (-1, 5)}, "patience_s"),
    ],
)
def test_given_a_pace_that_cannot_work_then_it_is_refused_with_its_name(pace: dict, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Pace(**pace)


def test_given_no_customers_or_codes_then_the_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="customers"):
        DemoSchedule([], ["agent2"], CODES, start=0, rng=random.Random(1))
    with pytest.raises(ValueError, match="dispositions"):
        DemoSchedule(CUSTOMERS, ["agent2"], [], start=0, rng=random.Random(1))


@pytest.mark.parametrize(
    ("concise", "endpoints", "expected"),
    [
        ("", ["trunk", "agent2"], []),
        (
            "PJSIP/trunk-00000003!plateau-queue!s!4!Up!Queue!support!0612345678!!!3!12!!1.3\n"
            "PJSIP/agent2-00000004!plateau-inbound!!1!Up!AppQueue!(Outgoing Line)!agent2!!!3!10!!1.3\n"
            "PJSIP/agent1-00000005!plateau-inbound!!1!Up!AppQueue!(Outgoing Line)!agent1!!!3!10!!1.5\n"
            "PJSIP/agent20-00000006!plateau-inbound!!1!Up!AppQueue!(Outgoing Line)!agent20!!!3!10!!1.6\n"
            "PJSIP/carrier-00000007!plateau-inbound!5551000!1!Ring!Queue!!!!!3!1!!1.7\n",
            ["trunk", "agent2"],
            ["PJSIP/trunk-00000003", "PJSIP/agent2-00000004"],  # not agent1's (a person) nor agent20's
        ),
    ],
)
def test_given_asterisk_channels_when_the_demo_stops_then_only_its_own_are_hung_up(
    concise: str, endpoints: list[str], expected: list[str]
) -> None:
    assert demo_channels(concise, endpoints) == expected
