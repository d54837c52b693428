"""The call book hands the pacing policy the same inputs as the simulator (no PBX, no database)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from cti.ami_wire import AmiEvent
from cti.events import AgentState, AgentStateChanged, CallEnded, CallerId, CallRecord, Direction
from dialer.engine.call_book import CallBook, DialResolved, PacingInputs, WrapMeasured
from dialer.pacing import AbandonMeasure, PacingStats
from tests.dialer.transcripts import T0, live_call

QUEUE = "sales"
WALL = 1_800_000_000.0


def _agent(endpoint: str, state: AgentState, since: float) -> Any:
    return SimpleNamespace(endpoint=endpoint, state=state, since=since, queues={QUEUE: (False, "")})


def _ended(linkedid: str, talk_s: float) -> CallEnded:
    record = CallRecord(
        linkedid=linkedid,
        direction=Direction.outbound,
        caller=CallerId("+33612345678", None, True),
        called_number="+33612345678",
        queue=QUEUE,
        agent="PJSIP/a",
        offered_at=T0,
        answered_at=T0 + 5,
        ended_at=T0 + 5 + talk_s,
        wait_s=1.0,
        talk_s=talk_s,
        hold_s=0.0,
        outcome="answered",
        hangup_cause=16,
    )
    return CallEnded(record, ("PJSIP/a",))


def _feed_stats(stats: PacingStats, effects: list[Any]) -> None:
    """What the engine's shell does with the book's statistics effects."""
    for e in effects:
        if isinstance(e, DialResolved):
            stats.dial_resolved(e.live, e.delay_s, answered=e.answered)
        elif isinstance(e, WrapMeasured):
            stats.call_finished(e.talk_s, e.wrap_s)


def test_given_an_agent_wrapping_up_a_campaign_call_when_observed_then_its_talk_time_is_passed() -> None:
    book, stats = CallBook(["trunk"]), PacingStats()
    call = live_call("dial-a", agent_t=T0 + 5, agent="PJSIP/a")
    book.add(call)
    _feed_stats(stats, book.on_bus(_ended("dial-a", 95.0), T0 + 100))  # the 95 s call ends: wrap-up
    agents = [
        _agent("PJSIP/a", AgentState.wrap_up, WALL - 3),  # wrapping up this campaign's 95 s call
        _agent("PJSIP/b", AgentState.wrap_up, WALL - 1),  # wrapping up a call the engine did not place
        _agent("PJSIP/c", AgentState.ready, WALL - 10),
    ]

    obs, states = book.observe(PacingInputs(7, stats), agents, WALL, T0 + 103)

    assert obs.in_wrap_talk == [95.0, None]
    assert obs.agents_ready == 1 and states == {"wrap_up": 2, "ready": 1}


def test_given_an_agent_leaving_wrap_up_when_observed_then_talk_and_wrap_up_are_measured() -> None:
    book, stats = CallBook(["trunk"]), PacingStats()
    book.add(live_call("dial-a", agent_t=T0 + 5, agent="PJSIP/a"))
    _feed_stats(stats, book.on_bus(_ended("dial-a", 95.0), T0 + 100))
    ready = AgentStateChanged("PJSIP/a", AgentState.ready, None, WALL, (QUEUE,))

    _feed_stats(stats, book.on_bus(ready, T0 + 104))
    obs, _ = book.observe(PacingInputs(7, stats), [_agent("PJSIP/a", AgentState.ready, WALL)], WALL, T0 + 105)

    assert list(obs.talk_wrap) == [(95.0, 4.0)]
    assert obs.in_wrap_talk == ()


def test_given_a_machine_answered_when_resolved_then_it_counts_as_connected_not_live() -> None:
    # the dial results arrive as Asterisk sends them
    book, stats = CallBook(["trunk"]), PacingStats()
    book.add(live_call("dial-m", amd=True))
    book.add(live_call("dial-b", amd=True))
    for linkedid, status in (("dial-m", "ANSWER"), ("dial-b", "BUSY")):
        headers = {"Linkedid": linkedid, "DestChannel": "PJSIP/trunk-01", "DialStatus": status}
        _feed_stats(stats, book.on_ami(AmiEvent("DialEnd", headers), T0 + 3))
    amd = {"Linkedid": "dial-m", "UserEvent": "AMDResult", "AMDStatus": "MACHINE"}
    _feed_stats(stats, book.on_ami(AmiEvent("UserEvent", amd), T0 + 5))
    pacing = PacingInputs(7, stats, abandon_24h=AbandonMeasure(2, 100), abandon_limit_percent=3.0)

    obs, _ = book.observe(pacing, [], WALL, T0 + 6)

    assert obs.connect_rate == 0.5
    assert obs.answer_rate == 0.0
    assert obs.abandon_24h == AbandonMeasure(2, 100)
    assert obs.waiting == 0  # the machine is not a person waiting for an agent


def test_given_calls_in_flight_when_observed_then_ringing_and_waiting_lines_are_counted() -> None:
    book = CallBook(["trunk"])
    book.add(live_call("dial-r", t0=T0))  # ringing for 6 s
    book.add(live_call("dial-w", t0=T0, answered_t=T0 + 2))  # a person waiting for an agent
    book.add(live_call("dial-p", t0=T0, for_agent="PJSIP/c"))  # agent-first: holds its agent, no line
    agents = [_agent("PJSIP/c", AgentState.ready, WALL)]

    obs, _ = book.observe(PacingInputs(7, PacingStats()), agents, WALL, T0 + 6)

    assert obs.ringing == [6.0] and obs.waiting == 1
    assert obs.agents_ready == 0 and obs.on_call == [0.0]
    assert book.counts(7) == {"lines": 3, "calls_in_flight": 2, "waiting_for_agent": 1, "connected": 0}
