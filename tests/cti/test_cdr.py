"""Asterisk's call records → the calls Plateau did not see (cti/cdr.py). Caller fields come from strangers."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from cti.cdr import CDR_FIELDS, CdrLine, caller_of, calls_from_lines, parse_line, read_from, read_tail
from cti.events import CallerId, Direction

T0 = 1_796_634_138.6


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def cdr(**over: Any) -> str:
    """One line as cdr_custom.conf writes it (an inbound call answered by agent3)."""
    f: dict[str, Any] = {
        "linkedid": "plateau-1.10",
        "uniqueid": "plateau-1.10",
        "start": f"{T0:.6f}",
        "answer": f"{T0 + 0.002:.6f}",
        "end": f"{T0 + 3.8:.6f}",
        "disposition": "ANSWERED",
        "channel": "PJSIP/trunk-00000008",
        "agent": "PJSIP/agent3-00000009",
        "agent_answered": f"{T0 + 0.8:.6f}",
        "src": "0612349999",
        "clid": '"Gap" <0612349999>',
        "did": "5551000",
        "queue": "support",
    } | over
    coded = CDR_FIELDS.index("src")
    return ",".join(str(f[k]) if i < coded else b64(str(f[k])) for i, k in enumerate(CDR_FIELDS)) + "\n"


def test_given_a_line_as_asterisk_writes_it_when_parsed_then_every_field_is_read() -> None:
    got = parse_line(cdr())
    assert got == CdrLine(
        "plateau-1.10",
        "plateau-1.10",
        T0,
        pytest.approx(T0 + 0.002),  # type: ignore[arg-type]
        pytest.approx(T0 + 3.8),  # type: ignore[arg-type]
        "ANSWERED",
        "PJSIP/trunk-00000008",
        "PJSIP/agent3-00000009",
        pytest.approx(T0 + 0.8),  # type: ignore[arg-type]
        "0612349999",
        '"Gap" <0612349999>',
        "5551000",
        "support",
    )


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("", "empty"),
        ("\n", "blank"),
        (cdr().replace(",", ";"), "no commas"),
        (cdr()[:40], "cut short"),
        (cdr().rstrip("\n") + ",extra", "a field too many"),
        (cdr(src="x").replace(b64("x"), "not base64!"), "caller number not base64"),
        (cdr(linkedid=""), "no Linkedid"),
        (cdr(uniqueid=""), "no Uniqueid"),
        (cdr(start=""), "no start"),
        (cdr(end="nan"), "end not a number"),
        (cdr(end="-5"), "end before 1970"),
        (cdr(start="1e300"), "start in the far future"),
        (cdr(channel=""), "no channel"),
        (cdr(agent_answered="soon"), "agent answer time not a number"),
        ("a,b,c,d,e,f,g,h,i,j,k,l,m\n", "garbage in the right shape"),
    ],
)
def test_given_a_line_that_is_not_a_record_when_parsed_then_it_is_refused(line: str, why: str) -> None:
    assert parse_line(line) is None, why


@pytest.mark.parametrize(
    ("src", "clid", "expected"),
    [
        ("0612349999", '"Gap" <0612349999>', CallerId("0612349999", "Gap", False)),
        ("0612349999", '"Dupont, Jean" <0612349999>', CallerId("0612349999", "Dupont, Jean", False)),
        ("0612349999", '"Jo "the" Boss" <0612349999>', CallerId("0612349999", 'Jo "the" Boss', False)),
        (
            "0612349999",
            '"a\r\nEvent: Hangup" <0612349999>',
            CallerId("0612349999", "a Event: Hangup", False),
        ),
        ("0612349999", '"C:\\new" <0612349999>', CallerId("0612349999", "C:\\new", False)),
        ("06,12\r\n", '"x" <06,12\r\n>', CallerId(None, "x", False)),  # not a number: not kept
        ("", '"Anonymous" <>', CallerId(None, None, True)),
        ("", "", CallerId(None, None, True)),  # no number at all: withheld, as from the AMI
        ("0612349999", "<0612349999>", CallerId("0612349999", None, False)),
    ],
)
def test_given_a_hostile_caller_id_when_read_from_a_record_then_it_is_kept_safe(
    src: str, clid: str, expected: CallerId
) -> None:
    line = parse_line(cdr(src=src, clid=clid))
    assert line is not None and (line.src, line.clid) == (src, clid)  # one line whatever the caller sent
    assert caller_of(line.src, line.clid) == expected


def lines(*texts: str) -> list[CdrLine]:
    parsed = [parse_line(t) for t in texts]
    assert all(parsed)
    return [p for p in parsed if p is not None]


def test_given_an_answered_inbound_call_when_backfilled_then_its_record_has_agent_queue_and_times() -> None:
    [rec] = calls_from_lines(lines(cdr()), since=T0 - 60, until=T0 + 60)
    assert (rec.linkedid, rec.direction, rec.caller, rec.called_number, rec.queue, rec.agent) == (
        "plateau-1.10",
        Direction.inbound,
        CallerId("0612349999", "Gap", False),
        "5551000",
        "support",
        "PJSIP/agent3",
    )
    assert (rec.outcome, rec.offered_at, rec.ended_at) == ("answered", T0, pytest.approx(T0 + 3.8))
    assert (rec.answered_at, rec.wait_s, rec.talk_s) == (pytest.approx(T0 + 0.8), 0.8, 3.0)


@pytest.mark.parametrize(
    ("records", "outcome", "agent", "queue"),
    [
        # nobody answered (the caller left the queue, or it timed out): the record cannot tell which
        ([cdr(agent="", agent_answered="")], "unobserved", None, "support"),
        # the agent mark without its time is not an answer
        ([cdr(agent_answered="")], "unobserved", None, "support"),
        # a direct DID (Dial, no queue)
        ([cdr(agent="", agent_answered="", queue="")], "unobserved", None, None),
        # several records of one call (a transfer): one call, the first agent who answered
        (
            [
                cdr(end=f"{T0 + 2:.6f}"),
                cdr(
                    uniqueid="plateau-1.10",
                    agent="PJSIP/agent5-0000000c",
                    agent_answered=f"{T0 + 2.5:.6f}",
                    start=f"{T0 + 2:.6f}",
                    did="",
                ),
            ],
            "answered",
            "PJSIP/agent3",
            "support",
        ),
    ],
)
def test_given_the_records_of_one_call_when_backfilled_then_its_outcome_is_what_they_tell(
    records: list[str], outcome: str, agent: str | None, queue: str | None
) -> None:
    [rec] = calls_from_lines(lines(*records), since=T0 - 60, until=T0 + 60)
    assert (rec.outcome, rec.agent, rec.queue) == (outcome, agent, queue)
    assert (rec.answered_at is None) == (outcome != "answered")


def test_given_records_of_other_calls_when_backfilled_then_only_inbound_calls_in_the_window_come_back() -> (
    None
):
    records = lines(
        cdr(linkedid="in", uniqueid="in"),
        cdr(linkedid="dialer", uniqueid="dialer", did=""),  # outbound: the dialplan set no DID
        cdr(linkedid="old", uniqueid="old", end=f"{T0 - 120:.6f}"),  # before the window
        cdr(linkedid="late", uniqueid="late", end=f"{T0 + 120:.6f}"),  # after: the tracker saw it
        # an agent's own leg of the inbound call (party A = the agent's channel): not a second call
        cdr(linkedid="in", uniqueid="in.2", channel="PJSIP/agent3-00000009", did="", src="7003"),
    )
    got = calls_from_lines(records, since=T0 - 60, until=T0 + 60)
    assert [(r.linkedid, r.caller.number) for r in got] == [("in", "0612349999")]


def test_given_a_big_file_when_its_tail_is_read_then_it_stays_within_the_bound_and_whole_lines(
    tmp_path: Path,
) -> None:
    path = tmp_path / "plateau.csv"
    assert read_tail(path) == ([], 0)  # no file yet: nothing
    old = "".join(cdr(linkedid=f"old{i}", uniqueid=f"old{i}") for i in range(200))
    new = cdr(linkedid="new", uniqueid="new") + "garbage\n"
    path.write_text(old + new + cdr(linkedid="writing")[:30])  # a line still being written
    got, bad = read_tail(path, max_bytes=len(new) + 100)
    assert [g.linkedid for g in got] == ["new"] and bad == 1  # the cut first line is dropped, not counted


@pytest.mark.parametrize(
    ("last_written", "noted", "expected"),
    [
        (None, [], None),  # nothing of the server ever followed: no gap to fill
        (500.0, [], 500.0),
        (None, [450.0, 420.0], 420.0),  # its first calls, in progress when their node died
        (500.0, [450.0], 450.0),
        (500.0, [520.0], 500.0),
    ],
)
def test_given_a_servers_last_call_written_and_its_calls_noted_when_read_again_then_from_the_earliest(
    last_written: float | None, noted: list[float], expected: float | None
) -> None:
    assert read_from(last_written, noted) == expected
