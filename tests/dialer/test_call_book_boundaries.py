"""The call book event by event: which call an AMI event names, what each event changes and answers, the
sweep's boundaries (the instant itself, just before, just after), and what the pacing and monitor read.

Each effect list is compared whole: a note with the wrong key or call, a resolution with the wrong delay,
or an effect lost from the list is a different answer."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from cti.ami_wire import AmiEvent
from cti.events import (
    AgentState,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallerId,
    CallRecord,
    Direction,
)
from cti.tracker import SOFTHANGUP_SHUTDOWN
from dialer import leads_model as m
from dialer.engine.call_book import (
    FINISH_DELAY_S,
    LOST_CALL_GRACE_S,
    STALE_RING_MARGIN_S,
    CallBook,
    DialResolved,
    ForgetCall,
    LiveCall,
    NoteCall,
    PacingInputs,
    ScheduleTimer,
    WakeQueues,
    WrapMeasured,
    WriteAttempt,
    attempt_of,
)
from dialer.outcomes import CallSignals
from dialer.pacing import AbandonMeasure, Observation, PacingStats
from tests.dialer.transcripts import NUMBER, STARTED, T0, live_call

CID = "dial-0001"
TRUNK = "PJSIP/trunk-0000000b"
LONG_AGENT = "PJSIP/" + "a" * 90  # longer than the row's 80 characters
WALL = 1_800_000_000.0


def _book(*calls: LiveCall) -> CallBook:
    book = CallBook(["trunk"])
    for call in calls:
        book.add(call)
    return book


def _ev(name: str, **headers: str) -> AmiEvent:
    return AmiEvent(name, dict(headers))


def _at(seconds: float) -> Any:
    return STARTED + timedelta(seconds=seconds)


def _answered(linkedid: str = CID, agent: str = "PJSIP/agent1") -> CallAnswered:
    return CallAnswered(linkedid, agent, "sales", CallerId(NUMBER, None, True), 1.0, T0)


def _ended(linkedid: str = CID, talk_s: float = 60.0) -> CallEnded:
    record = CallRecord(
        linkedid=linkedid,
        direction=Direction.outbound,
        caller=CallerId(NUMBER, None, True),
        called_number=NUMBER,
        queue="sales",
        agent="PJSIP/agent1",
        offered_at=T0,
        answered_at=T0 + 5,
        ended_at=T0 + 5 + talk_s,
        wait_s=1.0,
        talk_s=talk_s,
        hold_s=0.0,
        outcome="answered",
        hangup_cause=16,
    )
    return CallEnded(record, ("PJSIP/agent1",))


def _state(agent: str, state: AgentState) -> AgentStateChanged:
    return AgentStateChanged(agent, state, None, WALL, ("sales", "support"))


# -- which call an event names -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Naming:
    name: str
    event: AmiEvent
    dialled: bool


NAMINGS = [
    Naming("by_linkedid", _ev("DialBegin", Linkedid=CID, DestChannel=TRUNK), True),
    Naming("by_dest_linkedid", _ev("DialBegin", DestLinkedid=CID, DestChannel=TRUNK), True),
    Naming("linkedid_of_another_call", _ev("DialBegin", Linkedid="other", DestChannel=TRUNK), False),
    Naming("no_id_at_all", _ev("DialBegin", DestChannel=TRUNK), False),
    Naming("an_event_the_book_does_not_follow", _ev("Newchannel", Linkedid=CID, DestChannel=TRUNK), False),
    Naming(
        "dial_to_a_trunk_leg_named_with_a_slash",
        _ev("DialBegin", Linkedid=CID, DestChannel="PJSIP/trunk/x"),
        True,
    ),
    Naming("dial_to_another_trunk", _ev("DialBegin", Linkedid=CID, DestChannel="PJSIP/trunkx-01"), False),
    Naming("dial_to_an_agent", _ev("DialBegin", Linkedid=CID, DestChannel="PJSIP/agent1-01"), False),
    Naming("dial_without_a_destination", _ev("DialBegin", Linkedid=CID), False),
]


@pytest.mark.parametrize("case", NAMINGS, ids=[c.name for c in NAMINGS])
def test_given_a_dial_begin_when_fed_then_only_the_trunk_leg_of_the_named_call_counts_as_dialled(
    case: Naming,
) -> None:
    call = live_call(CID)
    book = _book(call)

    assert book.on_ami(case.event, T0 + 1) == []
    assert call.dialled is case.dialled
    assert call.agent_t is None  # a dial is not an agent's answer


def test_given_a_user_event_naming_only_its_channel_id_when_fed_then_it_reaches_the_call() -> None:
    call = live_call(CID)
    book = _book(call)

    book.on_ami(_ev("UserEvent", ChannelId=CID, UserEvent="DialerAbandon"), T0 + 6)

    assert call.signals().abandon_event is True


# -- DialEnd -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DialEndCase:
    name: str
    amd: bool
    headers: dict[str, str]
    effects: list[Any]
    dial_status: str | None
    answered: bool


DIAL_ENDS = [
    DialEndCase(
        "answered_no_amd",
        False,
        {"DialStatus": "ANSWER"},
        [NoteCall(CID, {"answered_at": _at(3.0)}), DialResolved(7, True, 3.0, True)],
        "ANSWER",
        True,
    ),
    DialEndCase(
        "answered_amd_waits",
        True,
        {"DialStatus": "ANSWER"},
        [NoteCall(CID, {"answered_at": _at(3.0)})],
        "ANSWER",
        True,
    ),
    DialEndCase("busy", True, {"DialStatus": "BUSY"}, [DialResolved(7, False, 3.0, False)], "BUSY", False),
    DialEndCase("no_status", True, {}, [DialResolved(7, False, 3.0, False)], "", False),
]


@pytest.mark.parametrize("case", DIAL_ENDS, ids=[c.name for c in DIAL_ENDS])
def test_given_a_trunk_dial_end_when_fed_then_the_answer_is_noted_and_the_dial_resolved(
    case: DialEndCase,
) -> None:
    call = live_call(CID, amd=case.amd)
    book = _book(call)

    effects = book.on_ami(_ev("DialEnd", Linkedid=CID, DestChannel=TRUNK, **case.headers), T0 + 3)

    assert effects == case.effects
    assert call.dialled is True
    assert call.signals().dial_status == case.dial_status
    assert call.signals().answered is case.answered


def test_given_a_dial_end_without_status_when_the_trunk_hangs_up_busy_then_the_attempt_failed() -> None:
    # a DialEnd was seen: the hang-up cause alone no longer says busy
    call = live_call(CID)
    book = _book(call)
    book.on_ami(_ev("DialEnd", Linkedid=CID, DestChannel=TRUNK), T0 + 3)
    book.on_ami(_ev("Hangup", Linkedid=CID, Channel=TRUNK, Uniqueid="x.3", Cause="17"), T0 + 4)

    assert attempt_of(call, T0 + 4, None)[0].result is m.AttemptResult.FAILED


@pytest.mark.parametrize("amd", [True, False], ids=["amd", "no_amd"])
def test_given_a_call_answered_when_a_second_trunk_answer_arrives_then_nothing_more_is_said(
    amd: bool,
) -> None:
    call = live_call(CID, amd=amd)
    book = _book(call)
    answer = _ev("DialEnd", Linkedid=CID, DestChannel=TRUNK, DialStatus="ANSWER")
    book.on_ami(answer, T0 + 3)

    assert book.on_ami(answer, T0 + 4) == []
    # the AMD still decides: the repeated answer resolved nothing
    assert book.on_ami(_ev("UserEvent", ChannelId=CID, UserEvent="AMDResult", AMDStatus="HUMAN"), T0 + 5) == (
        [NoteCall(CID, {"amd_status": "HUMAN"}), DialResolved(7, True, 5.0, True)]
        if amd
        else [NoteCall(CID, {"amd_status": "HUMAN"})]
    )


def test_given_a_dial_end_of_an_agent_leg_when_fed_then_the_call_is_untouched() -> None:
    call = live_call(CID)
    book = _book(call)
    assert book.on_ami(_ev("DialEnd", Linkedid=CID, DialStatus="BUSY"), T0 + 3) == []  # no destination

    assert (
        book.on_ami(_ev("DialEnd", Linkedid=CID, DestChannel="PJSIP/agent1-01", DialStatus="BUSY"), T0 + 3)
        == []
    )
    assert call.signals() == CallSignals()


# -- Hangup ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HangupCase:
    name: str
    headers: dict[str, str]
    timer: bool  # the originated half is gone: the attempt is written once the trunk's Hangup landed
    cause: int | None


HANGUPS = [
    HangupCase("trunk_leg", {"Channel": TRUNK, "Uniqueid": "x.3", "Cause": "17"}, False, 17),
    HangupCase("trunk_leg_without_cause", {"Channel": TRUNK, "Uniqueid": "x.3"}, False, None),
    HangupCase(
        "trunk_leg_with_text_cause", {"Channel": TRUNK, "Uniqueid": "x.3", "Cause": "busy"}, False, None
    ),
    HangupCase("originated_half", {"Channel": "Local/x;1", "Uniqueid": CID, "Cause": "16"}, True, None),
    HangupCase("half_without_channel", {"Uniqueid": CID, "Cause": "16"}, True, None),
    HangupCase("other_local_half", {"Channel": "Local/x;2", "Uniqueid": "x.2", "Cause": "16"}, False, None),
]


@pytest.mark.parametrize("case", HANGUPS, ids=[c.name for c in HANGUPS])
def test_given_a_hangup_when_fed_then_the_trunk_cause_is_kept_and_the_originated_half_starts_the_timer(
    case: HangupCase,
) -> None:
    call = live_call(CID)
    book = _book(call)

    effects = book.on_ami(_ev("Hangup", Linkedid=CID, **case.headers), T0 + 9)

    assert effects == ([ScheduleTimer(call, FINISH_DELAY_S)] if case.timer else [])
    assert call.signals().hangup_cause == case.cause


# -- UserEvents --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AmdCase:
    name: str
    status: str | None
    note: str | None
    live: bool


AMDS = [
    AmdCase("human", "HUMAN", "HUMAN", True),
    AmdCase("machine", "MACHINE", "MACHINE", False),
    AmdCase("sixteen_chars_kept", "N" * 16, "N" * 16, True),
    AmdCase("seventeen_cut_to_sixteen", "N" * 17, "N" * 16, True),
    AmdCase("empty", "", None, True),
    AmdCase("missing", None, None, True),
]


@pytest.mark.parametrize("case", AMDS, ids=[c.name for c in AMDS])
def test_given_an_amd_result_when_fed_then_it_is_noted_and_resolves_the_dial(case: AmdCase) -> None:
    call = live_call(CID, answered_t=T0 + 3)
    book = _book(call)
    headers = {"UserEvent": "AMDResult"} | ({"AMDStatus": case.status} if case.status is not None else {})

    effects = book.on_ami(_ev("UserEvent", Linkedid=CID, **headers), T0 + 5)

    assert effects == [NoteCall(CID, {"amd_status": case.note}), DialResolved(7, case.live, 5.0, True)]
    assert attempt_of(call, T0 + 6, None)[0].amd_machine is (case.status == "MACHINE")


@pytest.mark.parametrize(
    ("kind", "abandon"),
    [("DialerAbandon", True), ("DialerMessage", False), ("dialerabandon", False)],
    ids=["abandon", "message", "other_case"],
)
def test_given_a_dialer_user_event_when_fed_then_only_dialer_abandon_marks_the_abandon(
    kind: str, abandon: bool
) -> None:
    call = live_call(CID)
    book = _book(call)

    assert book.on_ami(_ev("UserEvent", Linkedid=CID, UserEvent=kind), T0 + 6) == []
    assert call.signals().abandon_event is abandon


@pytest.mark.parametrize(
    ("cause", "lost"),
    [(SOFTHANGUP_SHUTDOWN, True), ("1", False), ("", False)],
    ids=["shutdown", "device", "none"],
)
def test_given_a_soft_hangup_request_when_fed_then_only_a_shutdown_cuts_the_call(
    cause: str, lost: bool
) -> None:
    call = live_call(CID)
    book = _book(call)

    assert book.on_ami(_ev("SoftHangupRequest", Linkedid=CID, Cause=cause), T0 + 6) == []
    assert call.signals().link_lost is lost
    assert call.agent_t is None


# -- agents --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "agent", "noted"),
    [
        ({"Interface": "PJSIP/agent1", "MemberName": "Agent 1"}, "PJSIP/agent1", "PJSIP/agent1"),
        ({"MemberName": "Agent 1"}, "Agent 1", "Agent 1"),
        ({}, None, None),
        ({"Interface": LONG_AGENT}, LONG_AGENT, LONG_AGENT[:80]),
    ],
    ids=["interface", "member_name", "neither", "long_interface"],
)
def test_given_an_agent_connect_when_fed_then_the_agent_and_when_are_noted(
    headers: dict[str, str], agent: str | None, noted: str | None
) -> None:
    call = live_call(CID)
    book = _book(call)

    effects = book.on_ami(_ev("AgentConnect", Linkedid=CID, **headers), T0 + 7)

    assert effects == [NoteCall(CID, {"agent_connected_at": _at(7.0), "agent": noted})]
    assert call.agent == agent
    assert attempt_of(call, T0 + 8, None)[0].agent_connected_at == _at(7.0)
    # the first agent stays: a second AgentConnect notes nothing
    assert book.on_ami(_ev("AgentConnect", Linkedid=CID, Interface="PJSIP/agent2"), T0 + 9) == []
    assert call.agent == agent


def test_given_a_bus_answer_when_fed_then_the_agent_is_noted_once_and_a_later_answer_names_the_agent() -> (
    None
):
    call = live_call(CID)
    book = _book(call, live_call("dial-other"))

    first = book.on_bus(_answered(agent=LONG_AGENT), T0 + 7)
    second = book.on_bus(_answered(agent="PJSIP/agent2"), T0 + 20)

    assert first == [NoteCall(CID, {"agent_connected_at": _at(7.0), "agent": LONG_AGENT[:80]})]
    assert second == []
    assert call.agent == "PJSIP/agent2"  # a transfer: the call's agent is the one on it now
    assert book.on_bus(_answered("unknown"), T0 + 8) == []


def test_given_a_call_connected_on_the_ami_when_the_bus_answer_follows_then_it_only_names_the_agent() -> None:
    call = live_call(CID)
    book = _book(call)
    book.on_ami(_ev("AgentConnect", Linkedid=CID, MemberName="Agent 1"), T0 + 7)

    assert book.on_bus(_answered(agent="PJSIP/agent1"), T0 + 7) == []
    assert call.agent == "PJSIP/agent1"


@dataclass(frozen=True)
class EndCase:
    name: str
    talk_s: float
    ended: float  # seconds after T0
    state_at: float
    talk: float
    wrap: float


ENDS = [
    EndCase("talk_from_the_record", 60.0, 70.0, 75.0, 60.0, 5.0),
    EndCase("no_talk_in_record_measured_from_agent", 0.0, 70.0, 75.0, 60.0, 5.0),
    EndCase("state_change_before_the_end_reads_zero", 60.0, 70.0, 69.5, 60.0, 0.0),
    EndCase("half_a_second_of_wrap_up", 60.0, 70.0, 70.5, 60.0, 0.5),
    EndCase("half_a_second_of_talk", 0.0, 10.5, 12.0, 0.5, 1.5),
]


@pytest.mark.parametrize("case", ENDS, ids=[c.name for c in ENDS])
def test_given_an_agent_call_ended_when_the_agent_leaves_wrap_up_then_talk_and_wrap_are_measured(
    case: EndCase,
) -> None:
    call = live_call(CID, agent_t=T0 + 10, agent="PJSIP/agent1", resolved=True)
    book = _book(call)

    assert book.on_bus(_ended(talk_s=case.talk_s), T0 + case.ended) == [WriteAttempt(call)]
    # still wrapping up: the queues wake, nothing is measured yet
    assert book.on_bus(_state("PJSIP/agent1", AgentState.wrap_up), T0 + case.ended) == [
        WakeQueues(("sales", "support"))
    ]
    left = book.on_bus(_state("PJSIP/agent1", AgentState.ready), T0 + case.state_at)

    assert left == [WakeQueues(("sales", "support")), WrapMeasured(7, case.talk, case.wrap)]
    assert book.on_bus(_state("PJSIP/agent1", AgentState.ready), T0 + 90) == [
        WakeQueues(("sales", "support"))
    ]


@pytest.mark.parametrize(
    ("agent_t", "agent"), [(None, "PJSIP/agent1"), (T0 + 10, None)], ids=["no_agent_time", "no_agent_name"]
)
def test_given_a_call_without_an_agent_when_it_ends_then_no_wrap_up_is_awaited(
    agent_t: float | None, agent: str | None
) -> None:
    call = live_call(CID, agent_t=agent_t, agent=agent)
    book = _book(call)

    assert book.on_bus(_ended(), T0 + 70) == [DialResolved(7, False, 70.0, False), WriteAttempt(call)]
    assert book.on_bus(_state("PJSIP/agent1", AgentState.ready), T0 + 75) == [
        WakeQueues(("sales", "support"))
    ]


def test_given_an_unknown_call_ended_or_another_bus_event_when_fed_then_nothing_happens() -> None:
    book = _book(live_call(CID))

    assert book.on_bus(_ended("unknown"), T0 + 70) == []
    assert book.on_bus(object(), T0 + 70) == []


# -- the Originate's outcome, the end ----------------------------------------------------------------------
def test_given_an_originate_refused_when_told_then_it_fails_unavailable_after_its_short_ring() -> None:
    call = live_call(CID)
    book = _book(call)

    assert book.originate_refused(call, "Originate failed", T0 + 0.5) == [
        DialResolved(7, False, 0.5, False),
        WriteAttempt(call),
    ]
    assert call.signals().dial_status == "CHANUNAVAIL"


def test_given_an_originate_refused_while_shutting_down_when_told_then_the_call_is_forgotten() -> None:
    call = live_call(CID)

    assert _book(call).originate_refused(call, "Asterisk is Shutting Down", T0 + 0.2) == [ForgetCall(call)]
    assert call.signals().dial_status is None


def test_given_an_originate_lost_with_the_link_when_told_then_the_call_is_marked_lost() -> None:
    call = live_call(CID)
    _book(call).originate_lost(call)

    assert call.signals().link_lost is True
    assert attempt_of(call, T0 + 1, None)[0].result is m.AttemptResult.FAILED


def test_given_a_call_released_when_listed_then_it_and_its_lead_are_free() -> None:
    call, other = live_call(CID), replace(live_call("dial-0002"), lead_id=43)
    book = _book(call, other)

    book.release(call)
    book.release(call)  # a second release (forgotten, then written) changes nothing

    assert book.calls == {"dial-0002": other} and book.busy_leads == {43}


@pytest.mark.parametrize(("resolved", "first"), [(False, [DialResolved(7, False, 9.0, False)]), (True, [])])
def test_given_a_call_when_its_timer_expires_then_it_is_resolved_once_and_written_once(
    resolved: bool, first: list[Any]
) -> None:
    call = live_call(CID, resolved=resolved)
    book = _book(call)

    assert book.timer_expired(call, T0 + 9) == [*first, WriteAttempt(call)]
    assert book.timer_expired(call, T0 + 10) == []
    assert book.finish(call, T0 + 11) == []


# -- the attempt -------------------------------------------------------------------------------------------
def test_given_a_finished_call_when_its_attempt_is_made_then_every_field_comes_from_the_call() -> None:
    call = replace(
        live_call(CID, answered_t=T0 + 3, agent_t=T0 + 8, amd_status="MACHINE", dial_status="ANSWER"),
        campaign_id=9,
        lead_id=77,
    )

    attempt, ended = attempt_of(call, T0 + 30, agent_id=5)

    assert attempt == m.Attempt(
        lead_id=77,
        e164=NUMBER,
        started_at=STARTED,
        result=m.AttemptResult.CONTACT,
        answered_at=_at(3.0),
        agent_connected_at=_at(8.0),
        amd_machine=True,
        agent_id=5,
        campaign_id=9,
    )
    assert ended == _at(30.0)


@pytest.mark.parametrize(("t", "at"), [(T0 - 1, 0.0), (T0, 0.0), (T0 + 0.5, 0.5), (T0 + 2.5, 2.5)])
def test_given_an_instant_when_placed_on_the_engine_clock_then_it_is_after_the_start_never_before(
    t: float, at: float
) -> None:
    assert live_call(CID).at(t) == _at(at)
    assert live_call(CID).at(None) is None


def test_given_a_call_when_its_signals_are_read_then_every_fact_is_passed() -> None:
    call = live_call(
        CID,
        dial_status="ANSWER",
        hangup_cause=16,
        answered_t=T0 + 3,
        amd_status="HUMAN",
        abandon_event=True,
        agent_t=T0 + 8,
        link_lost=True,
    )

    assert call.signals() == CallSignals("ANSWER", 16, True, "HUMAN", True, True, True)


# -- the sweep -----------------------------------------------------------------------------------------------
RING_S = 20


@pytest.mark.parametrize(
    ("after_s", "closed"),
    [(LOST_CALL_GRACE_S - 0.5, False), (LOST_CALL_GRACE_S, False), (LOST_CALL_GRACE_S + 0.5, True)],
    ids=["before", "at", "after"],
)
def test_given_calls_lost_with_the_link_when_swept_then_they_close_only_after_the_grace(
    after_s: float, closed: bool
) -> None:
    lost = [live_call(f"dial-{i}", link_lost=True, resolved=True, answered_t=T0 + 3) for i in range(3)]
    book = _book(*lost)
    book.sweep(T0 + 100, True, {}, RING_S)  # the link is back

    effects = book.sweep(T0 + 100 + after_s, True, {}, RING_S)

    assert effects == ([WriteAttempt(c) for c in lost] if closed else [])


@pytest.mark.parametrize(
    ("age_s", "closed"),
    [
        (RING_S + STALE_RING_MARGIN_S - 0.5, False),
        (RING_S + STALE_RING_MARGIN_S, False),
        (RING_S + STALE_RING_MARGIN_S + 0.5, True),
    ],
    ids=["before", "at", "after"],
)
def test_given_unanswered_calls_never_heard_of_when_swept_then_they_close_only_after_ring_and_margin(
    age_s: float, closed: bool
) -> None:
    ending = live_call("dial-0", ending=True)  # already being written: skipped, not a stop
    stale = [live_call(f"dial-{i}", resolved=True) for i in (1, 2)]
    book = _book(ending, *stale)

    effects = book.sweep(T0 + age_s, True, {}, RING_S)

    assert effects == ([WriteAttempt(c) for c in stale] if closed else [])
    assert all(c.link_lost is closed for c in stale)


def test_given_recovered_calls_asterisk_still_carries_when_swept_then_each_is_adopted_once() -> None:
    with_agent = live_call("dial-1", recovered=True, resolved=True)
    without_agent = live_call("dial-2", recovered=True, resolved=True)
    noted = live_call("dial-3", recovered=True, resolved=True, agent_t=T0 + 4, agent="PJSIP/agent9")
    also = live_call("dial-4", recovered=True, resolved=True)
    book = _book(with_agent, without_agent, noted, also)
    carried = {"dial-1": LONG_AGENT, "dial-2": None, "dial-3": "PJSIP/agent1", "dial-4": "PJSIP/agent4"}
    book.sweep(T0 + 100, True, carried, RING_S)

    effects = book.sweep(T0 + 104, True, carried, RING_S)

    assert effects == [
        NoteCall("dial-1", {"agent_connected_at": _at(104.0), "agent": LONG_AGENT[:80]}),
        NoteCall("dial-4", {"agent_connected_at": _at(104.0), "agent": "PJSIP/agent4"}),
    ]
    assert (with_agent.agent, without_agent.agent, noted.agent) == (LONG_AGENT, None, "PJSIP/agent9")
    assert book.sweep(T0 + 105, True, carried, RING_S) == []  # adopted: its events decide from now on


def test_given_the_link_down_when_swept_then_every_call_is_marked_lost_and_the_grace_restarts() -> None:
    call = live_call(CID, resolved=True, answered_t=T0 + 3)
    book = _book(call)
    book.sweep(T0 + 10, True, {}, RING_S)

    assert book.sweep(T0 + 20, False, {}, RING_S) == []
    assert call.link_lost is True
    assert book.sweep(T0 + 21, True, {}, RING_S) == []  # up again: the grace counts from now
    assert book.sweep(T0 + 24.5, True, {}, RING_S) == [WriteAttempt(call)]


# -- what the pacing and the monitor read -------------------------------------------------------------------
def _agent(endpoint: str, state: AgentState, since: float) -> Any:
    return SimpleNamespace(endpoint=endpoint, state=state, since=since, queues={"sales": (False, "")})


@dataclass
class Floor:
    book: CallBook = field(default_factory=lambda: CallBook(["trunk"]))
    stats: PacingStats = field(default_factory=PacingStats)


def _floor() -> Floor:
    f = Floor()
    for live, delay, answered in [(True, 4.0, True), (False, 20.0, False), (False, 6.0, True)]:
        f.stats.dial_resolved(live, delay, answered=answered)
    f.stats.call_finished(90.0, 10.0)
    f.book.add(live_call("dial-r", t0=T0 + 1))  # ringing
    f.book.add(live_call("dial-w", answered_t=T0 + 2))  # a person waiting
    f.book.add(live_call("dial-m", answered_t=T0 + 2, amd_status="MACHINE"))  # a machine: no line, no wait
    f.book.add(live_call("dial-c", answered_t=T0 + 2, agent_t=T0 + 4))  # with an agent
    f.book.add(live_call("dial-f", for_agent="PJSIP/first"))  # agent-first: rings its agent
    f.book.add(replace(live_call("dial-x"), campaign_id=8))  # another campaign's call
    f.book.add(live_call("dial-e", ending=True, for_agent="PJSIP/gone"))  # being written
    f.book.wraps["PJSIP/w-mine"] = (7, 95.0, T0)
    f.book.wraps["PJSIP/w-other"] = (8, 30.0, T0)
    return f


AGENTS = [
    _agent("PJSIP/r1", AgentState.ready, WALL - 10),
    _agent("PJSIP/r2", AgentState.ready, WALL + 5),  # a clock a little ahead: elapsed is never negative
    _agent("PJSIP/first", AgentState.ready, WALL),
    _agent("PJSIP/gone", AgentState.ready, WALL),  # its agent-first call is ending: free again
    _agent("PJSIP/c1", AgentState.on_call, WALL - 30),
    _agent("PJSIP/c2", AgentState.on_call, WALL + 2),
    _agent("PJSIP/ring", AgentState.ringing, WALL - 3),
    _agent("PJSIP/w-mine", AgentState.wrap_up, WALL - 4),
    _agent("PJSIP/w-other", AgentState.wrap_up, WALL - 6),
    _agent("PJSIP/w-none", AgentState.wrap_up, WALL - 1),
    _agent("PJSIP/p1", AgentState.paused, WALL - 100),
    _agent("PJSIP/p2", AgentState.paused, WALL - 100),
]


def test_given_a_campaign_floor_when_observed_then_the_policy_sees_every_line_agent_and_measure() -> None:
    f = _floor()
    pacing = PacingInputs(
        7,
        f.stats,
        abandon_today=AbandonMeasure(1, 50),
        abandon_period=AbandonMeasure(3, 400),
        abandon_24h=AbandonMeasure(2, 100),
        abandon_limit_percent=4.5,
        abandon_after_seconds=2.5,
        max_channels=12,
    )

    obs, states = f.book.observe(pacing, AGENTS, WALL, T0 + 10)

    assert obs == Observation(
        now=T0 + 10,
        agents_ready=3,
        on_call=[0.0, 30.0, 0.0, 0.0],
        in_wrap=[4.0, 6.0, 1.0],
        in_wrap_talk=[95.0, None, None],
        agents_paused=2,
        ringing=[9.0],
        waiting=1,
        dials_sampled=3,
        answer_rate=f.stats.answer_rate,
        connect_rate=f.stats.connect_rate,
        human_delays=[4.0],
        other_delays=[6.0, 20.0],
        handle_times=[100.0],
        wrap_times=[10.0],
        talk_wrap=[(90.0, 10.0)],
        abandon_today=AbandonMeasure(1, 50),
        abandon_period=AbandonMeasure(3, 400),
        abandon_24h=AbandonMeasure(2, 100),
        abandon_limit_percent=4.5,
        abandon_after_seconds=2.5,
        max_channels=12,
    )
    assert (obs.answer_rate, obs.connect_rate) == (pytest.approx(1 / 3), pytest.approx(2 / 3))
    assert states == {"ready": 4, "on_call": 2, "ringing": 1, "wrap_up": 3, "paused": 2}


def test_given_only_this_campaigns_wrap_up_when_observed_then_its_talk_is_passed_alone() -> None:
    f = _floor()

    obs, _ = f.book.observe(PacingInputs(7, f.stats), [AGENTS[7]], WALL, T0 + 10)

    assert obs.in_wrap_talk == [95.0]


def test_given_a_campaign_floor_when_counted_then_the_monitor_sees_its_calls_by_phase() -> None:
    f = _floor()

    assert f.book.counts(7) == {"lines": 5, "calls_in_flight": 2, "waiting_for_agent": 1, "connected": 1}
    assert f.book.targets() == {"PJSIP/first"}


def test_given_a_stopped_book_when_a_call_would_finish_then_nothing_is_written() -> None:
    call = live_call(CID)
    book = _book(call)
    book.stop()

    assert book.timer_expired(call, T0 + 9) == []
    assert book.on_bus(_answered(), T0 + 9) == []
    assert book.on_ami(_ev("DialEnd", Linkedid=CID, DestChannel=TRUNK, DialStatus="BUSY"), T0 + 9) == []
