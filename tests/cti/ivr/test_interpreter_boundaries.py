"""The IVR interpreter at its edges (cti/ivr/interpreter.py): the last retry itself, one before it, and
what the path records when a caller runs out of tries."""

from __future__ import annotations

import pytest

from cti.ivr import interpreter as it
from cti.ivr.flows import parse_flow
from tests.cti.ivr.test_interpreter import FLOW, MONDAY_OPEN, UNKNOWN, D, run

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


# --- every kind of node, as the path records it -----------------------------------------------------------

KINDS = parse_flow(
    "kinds",
    """
language: fr
start: route
nodes:
  route:
    type: branch
    cases:
      - when: {var: did, equals: "5559999"}
        next: say_long
      - when: {var: caller, equals: "+33612345678"}
        next: say_digits
    default: menu
  say_long: {type: say, say: number, value: "1234567890123456789", next: transfer}
  say_digits:
    type: say
    say: digits
    value: "{caller}-{nobody}-0123456789012345678901234567890123456789"
    next: transfer
  transfer: {type: transfer, number: "+33140000000"}
  end: {type: hangup, sounds: [goodbye]}
  menu:
    type: menu
    prompt: [vm-press]
    retries: 2
    choices:
      "1": {next: vm}
    on_failure: end
  vm: {type: voicemail, prompt: [vm-intro], max_s: 30}
""",
    "kinds.yaml",
)
TRANSFER = it.Exit("transfer", "transfer", number="+33140000000")
GET_KEY = it.GetDigits(("vm-press",), 1, 5, "")
RECORD = (it.Play(("vm-intro", "beep")),)


def _kinds(caller: str | None, did: str, events: list[it.Event]) -> tuple[it.Session, list[it.Step]]:
    session = it.Session(KINDS, it.CallContext(caller, did, MONDAY_OPEN))
    return session, [session.start(), *(session.feed(e) for e in events)]


def test_given_a_number_to_say_when_said_then_digits_stop_at_32_and_numbers_at_15() -> None:
    # the second case: the caller's number cleaned to digits and +; an unknown variable says nothing
    session, (step,) = _kinds("+33 6 12-34-56-78", "5551000", [])
    assert session.variables == {"caller": "+33612345678", "did": "5551000"}
    assert step.outputs == (it.SayDigits("33612345678" + "012345678901234567890"),) and step.exit == TRANSFER
    assert session.path == [
        {"node": "route", "type": "branch", "result": "case 2"},
        {"node": "say_digits", "type": "say"},
        {"node": "transfer", "type": "transfer", "result": "transferred"},
    ]
    session, (step,) = _kinds("0612345678", "5559999", [])  # the first case
    assert step.outputs == (it.SayNumber(123456789012345),)
    assert session.path[0] == {"node": "route", "type": "branch", "result": "case 1"}


@pytest.mark.parametrize(
    ("caller", "kept"),
    [(None, ""), ("", ""), ("anonymous", ""), ("+1 (555) 010-2030", "+15550102030"), ("9" * 25, "9" * 20)],
)
def test_given_a_caller_id_when_a_session_starts_then_the_caller_variable_keeps_digits_and_plus_up_to_20(
    caller: str | None, kept: str
) -> None:
    session, _steps = _kinds(caller, "1", [])
    assert session.variables["caller"] == kept


@pytest.mark.parametrize(
    ("events", "steps", "path"),
    [
        (
            [D("12"), it.Recorded(True, "/spool/vm-9.wav")],  # a key press of two digits: the first counts
            [(None, GET_KEY), (RECORD, it.Record(30)), None],
            [
                {"node": "menu", "type": "menu", "digits": "1", "choice": "1"},
                {"node": "vm", "type": "voicemail", "result": "recorded", "recording": "/spool/vm-9.wav"},
            ],
        ),
        (
            [D(""), D("1"), it.Recorded(False)],
            [(None, GET_KEY), (None, GET_KEY), (RECORD, it.Record(30)), None],
            [
                {"node": "menu", "type": "menu", "result": "timeout"},
                {"node": "menu", "type": "menu", "digits": "1", "choice": "1"},
                {"node": "vm", "type": "voicemail", "result": "not_recorded"},
            ],
        ),
        (
            [D(""), D("")],
            [(None, GET_KEY), (None, GET_KEY), ((it.Play(("goodbye",)),), None)],
            [
                {"node": "menu", "type": "menu", "result": "timeout"},
                {"node": "menu", "type": "menu", "result": "timeout"},
                {"node": "menu", "type": "menu", "result": "failed"},
                {"node": "end", "type": "hangup", "result": "hangup"},
            ],
        ),
    ],
    ids=["voicemail-recorded", "voicemail-not-recorded", "hangup"],
)
def test_given_a_caller_in_the_menu_when_they_answer_then_each_request_and_record_is_exact(
    events: list[it.Event], steps: list, path: list[dict]
) -> None:
    session, got = _kinds("x", "1", events)
    for step, want in zip(got, steps, strict=True):
        if want is None:
            continue
        outputs, request = want
        assert step.outputs == (outputs or ()) and step.request == request
    assert session.path[1:] == path
    reason = "/spool/vm-9.wav" if path[-1].get("recording") else ""
    assert got[-1].exit is not None and got[-1].exit.reason == reason


def test_given_a_session_when_fed_out_of_turn_then_it_says_why() -> None:
    session = it.Session(KINDS, it.CallContext("x", "1", MONDAY_OPEN))
    with pytest.raises(RuntimeError, match=r"^no request is waiting for an answer$"):
        session.feed(D("1"))  # before it started
    session.start()
    step = session.feed(it.CallerHangup())
    assert step.exit == it.Exit("caller_hangup", "menu")
    assert session.path[-1] == {"node": "menu", "type": "menu", "result": "caller_hangup"}
    with pytest.raises(RuntimeError, match=r"^the session has ended$"):
        session.feed(D("1"))


def test_given_a_resume_node_when_run_as_a_script_then_it_starts_there() -> None:
    steps = it.run_script(KINDS, it.CallContext("x", "5559999", MONDAY_OPEN), [D("1")], start_at="menu")
    assert steps[0].request == GET_KEY and steps[-1].request == it.Record(30)
