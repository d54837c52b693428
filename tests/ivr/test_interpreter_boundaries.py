"""The IVR interpreter at its edges (cti/ivr/interpreter.py): the last retry itself, one before it, and
what the path records when a caller runs out of tries."""

from __future__ import annotations

import pytest

from cti.ivr import interpreter as it
from tests.ivr.test_interpreter import FLOW, MONDAY_OPEN, UNKNOWN, D, run

MENU = {"node": "menu", "type": "menu", "label": "menu principal"}
INVOICE = {"node": "invoice", "type": "collect", "label": "numéro de facture"}
FALLBACK = {"node": "fallback", "type": "queue", "label": "secours", "result": "queued"}


@pytest.mark.parametrize(
    ("events", "tail"),
    [
        (
            [UNKNOWN, D("5"), D("#"), D("0")],  # three invalid keys on a three-try menu
            [
                MENU | {"digits": "5", "result": "invalid"},
                MENU | {"digits": "#", "result": "invalid"},
                MENU | {"digits": "0", "result": "invalid"},
                MENU | {"result": "failed"},
                FALLBACK,
            ],
        ),
        (
            [UNKNOWN, D("2"), D(""), D("")],  # two timeouts on a two-try collect
            [
                MENU | {"digits": "2", "choice": "2", "choice_label": "facturation"},
                INVOICE | {"result": "timeout"},
                INVOICE | {"result": "timeout"},
                INVOICE | {"result": "failed"},
                FALLBACK,
            ],
        ),
    ],
    ids=["menu", "collect"],
)
def test_given_a_caller_out_of_tries_when_recorded_then_the_node_reads_failed_before_the_fallback(
    events: list[it.Event], tail: list[dict]
) -> None:
    session = run(events)
    assert session.path[-len(tail) :] == tail


def test_given_a_caller_right_at_the_last_try_when_recorded_then_the_choice_counts_and_nothing_failed() -> (
    None
):
    session = run([UNKNOWN, D("5"), D("#"), D("1")])  # two mistakes, then a choice on the third and last try
    assert session.path[-2:] == [
        MENU | {"digits": "1", "choice": "1", "choice_label": "ventes"},
        {"node": "sales", "type": "queue", "result": "queued"},
    ]
    assert all(entry.get("result") != "failed" for entry in session.path)


# --- the callback node, step by step -------------------------------------------------------------------

CONFIRM = it.GetDigits(("if-correct-press", "digits/1"), 1, 6, "")
ENTER = it.GetDigits(("vm-enter-num-to-call",), 15, 6, "#")
READ_BACK = (it.Play(("to-call-this-number",)), it.SayDigits("0612345678"))  # the caller's number, nationally
CALLBACK = {"node": "callback", "type": "callback"}


def _steps(events: list[it.Event]) -> tuple[it.Session, list[it.Step]]:
    session = it.Session(FLOW, it.CallContext("0612345678", "5551000", MONDAY_OPEN))
    steps = [session.start()]
    steps += [session.feed(event) for event in events]
    return session, steps[2:]  # from the menu choice on


@pytest.mark.parametrize(
    ("events", "requests", "path", "callback_number"),
    [
        (
            [UNKNOWN, D("3"), D("1"), it.CallbackDone(True, "42")],
            [CONFIRM, it.ScheduleCallback("+33612345678", "support", "anyone"), None],
            [
                CALLBACK | {"digits": "1", "result": "confirmed"},
                CALLBACK | {"result": "scheduled", "number": "+33612345678", "callback": "42"},
                {"node": "thanks", "type": "hangup", "result": "hangup"},
            ],
            "+33612345678",
        ),
        (
            [UNKNOWN, D("3"), D("2"), D("0140000000#"), it.CallbackDone(True)],
            [CONFIRM, ENTER, it.ScheduleCallback("+33140000000", "support", "anyone"), None],
            [
                CALLBACK | {"digits": "2", "result": "other_number"},
                CALLBACK | {"digits": "0140000000", "result": "number_entered"},
                CALLBACK | {"result": "scheduled", "number": "+33140000000"},
                {"node": "thanks", "type": "hangup", "result": "hangup"},
            ],
            "+33140000000",
        ),
        (
            [UNKNOWN, D("3"), D("1"), it.CallbackDone(False)],
            [CONFIRM, it.ScheduleCallback("+33612345678", "support", "anyone"), None],
            [
                CALLBACK | {"digits": "1", "result": "confirmed"},
                CALLBACK | {"result": "not_scheduled", "number": "+33612345678"},
                {"node": "bye", "type": "hangup", "result": "hangup"},
            ],
            "+33612345678",
        ),
        (
            [UNKNOWN, D("3"), D("5"), D("")],  # a wrong key, then silence: two tries
            [CONFIRM, CONFIRM, None],
            [
                CALLBACK | {"digits": "5", "result": "invalid"},
                CALLBACK | {"result": "timeout"},
                CALLBACK | {"result": "failed"},
                {"node": "bye", "type": "hangup", "result": "hangup"},
            ],
            None,
        ),
        (
            [UNKNOWN, D("3"), D("2"), D("12#"), D("99#")],  # another number, twice unusable
            [CONFIRM, ENTER, ENTER, None],
            [
                CALLBACK | {"digits": "2", "result": "other_number"},
                CALLBACK | {"digits": "12#", "result": "invalid"},
                CALLBACK | {"digits": "99#", "result": "invalid"},
                CALLBACK | {"result": "failed"},
                {"node": "bye", "type": "hangup", "result": "hangup"},
            ],
            None,
        ),
    ],
    ids=["confirmed", "other-number", "not-scheduled", "wrong-key-then-silence", "two-unusable-numbers"],
)
def test_given_a_caller_at_the_callback_node_when_they_answer_then_each_step_and_record_is_exact(
    events: list[it.Event], requests: list, path: list[dict], callback_number: str | None
) -> None:
    session, steps = _steps(events)
    assert steps[0].outputs == READ_BACK
    assert [s.request for s in steps] == requests
    assert session.path[5:] == path
    assert session.variables.get("callback_number") == callback_number
