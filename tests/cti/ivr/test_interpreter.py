"""The IVR interpreter as tables: a flow, the caller's events → what Plateau asks Asterisk to do."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cti.ivr import interpreter as it
from cti.ivr.flows import parse_flow

FLOW = parse_flow(
    "test",
    """
language: fr
start: hours
nodes:
  hours:
    type: hours
    schedule:
      timezone: Europe/Paris
      holidays_country: FR
      weekly: {mon: ["08:00-18:00"], tue: ["08:00-18:00"], sat: ["09:00-12:00"]}
      exceptions: [{date: 2026-12-28, hours: [], reason: inventaire}]
    open: welcome
    closed: closed
    holiday: holiday
  closed: {type: hangup, label: fermé, sounds: [hours, goodbye]}
  holiday: {type: voicemail, label: férié, max_s: 30}
  welcome: {type: play, sounds: [hello], next: lookup}
  lookup: {type: lookup, next: route}
  route:
    type: branch
    cases:
      - when: {var: tier, equals: vip}
        next: vip
      - when: {all: [{var: known, equals: true}, {var: open_complaint, equals: true}]}
        next: complaint
    default: menu
  vip: {type: queue, queue: support, priority: 10, max_wait_s: 120, on_timeout: callback}
  complaint: {type: queue, queue: support, priority: 5}
  menu:
    type: menu
    label: menu principal
    prompt: [vm-press, digits/1]
    timeout_s: 4
    retries: 3
    choices:
      "1": {next: sales, label: ventes}
      "2": {next: invoice, label: facturation}
      "3": {next: callback, label: rappel}
      "9": {next: partner, label: partenaire}
    on_failure: fallback
  invoice:
    type: collect
    label: numéro de facture
    var: invoice
    prompt: [dir-pls-enter]
    min_digits: 6
    max_digits: 8
    luhn: true
    retries: 2
    next: say
    on_failure: fallback
  say: {type: say, say: digits, value: "{invoice}", next: mark}
  mark: {type: set, values: {billing: true}, next: billing}
  billing: {type: queue, queue: support, label: facturation}
  sales: {type: queue, queue: sales}
  partner: {type: transfer, number: "+33140000000"}
  fallback: {type: queue, queue: hotline, label: secours}
  callback:
    type: callback
    queue: support
    retries: 2
    next: thanks
    on_failure: bye
  thanks: {type: hangup, sounds: [auth-thankyou]}
  bye: {type: hangup}
""",
    "test.yaml",
)

MONDAY_OPEN = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SUNDAY = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
HOLIDAY = datetime(2026, 12, 25, 10, 0, tzinfo=UTC)
CLOSURE = datetime(2026, 12, 28, 10, 0, tzinfo=UTC)
UNKNOWN = it.LookupDone({"known": False})
VIP = it.LookupDone({"known": True, "tier": "vip", "contact_id": "7"})
COMPLAINT = it.LookupDone({"known": True, "tier": "standard", "open_complaint": True})
D = it.Digits


def run(events: list[it.Event], now: datetime = MONDAY_OPEN, caller: str | None = "0612345678") -> it.Session:
    session = it.Session(FLOW, it.CallContext(caller, "5551000", now))
    step = session.start()
    for event in events:
        assert step.exit is None, f"the flow ended before {event}"
        step = session.feed(event)
    return session


@pytest.mark.parametrize(
    ("now", "events", "kind", "node", "extra"),
    [
        (SUNDAY, [], "hangup", "closed", {}),
        (CLOSURE, [], "hangup", "closed", {}),  # a dated closure on a Monday
        (
            HOLIDAY,
            [it.Recorded(True, "/spool/vm-1.wav")],
            "voicemail",
            "holiday",
            {"reason": "/spool/vm-1.wav"},
        ),
        (MONDAY_OPEN, [VIP], "queue", "vip", {"queue": "support", "priority": 10, "on_timeout": "callback"}),
        (MONDAY_OPEN, [COMPLAINT], "queue", "complaint", {"priority": 5}),
        (MONDAY_OPEN, [UNKNOWN, D("1")], "queue", "sales", {"queue": "sales", "priority": 0}),
        (MONDAY_OPEN, [UNKNOWN, D("9")], "transfer", "partner", {"number": "+33140000000"}),
        (MONDAY_OPEN, [UNKNOWN, D("7"), D("1")], "queue", "sales", {}),  # one mistake, then a choice
        (
            MONDAY_OPEN,
            [UNKNOWN, D(""), D(""), D("")],
            "queue",
            "fallback",
            {"queue": "hotline"},
        ),  # 3 timeouts
        (MONDAY_OPEN, [UNKNOWN, D("5"), D("#"), D("0")], "queue", "fallback", {}),  # 3 invalid keys
        # too long (9+ digits without #), then 10 digits: two failures on a two-retry collect
        (MONDAY_OPEN, [UNKNOWN, D("2"), D("799273987"), D("4992739871#")], "queue", "fallback", {}),
        (MONDAY_OPEN, [UNKNOWN, D("2"), D(""), D("")], "queue", "fallback", {}),  # two timeouts
        (MONDAY_OPEN, [UNKNOWN, D("2"), D("1234567#"), D("7992739871#")], "queue", "fallback", {}),
        (MONDAY_OPEN, [UNKNOWN, D("2"), D("12345674#")], "queue", "billing", {}),  # Luhn-valid 8 digits
        (MONDAY_OPEN, [UNKNOWN, D("2"), D("1234567"), D("12345674")], "queue", "billing", {}),
        (MONDAY_OPEN, [UNKNOWN, D("3"), D("1"), it.CallbackDone(True, "42")], "hangup", "thanks", {}),
        (
            MONDAY_OPEN,
            [UNKNOWN, D("3"), D("2"), D("0140000000#"), it.CallbackDone(True)],
            "hangup",
            "thanks",
            {},
        ),
        (MONDAY_OPEN, [UNKNOWN, D("3"), D("1"), it.CallbackDone(False)], "hangup", "bye", {}),
        (MONDAY_OPEN, [UNKNOWN, D("3"), D("2"), D("12#"), D("99#")], "hangup", "bye", {}),  # no valid number
        (MONDAY_OPEN, [UNKNOWN, D("3"), D("5"), D("")], "hangup", "bye", {}),
        (MONDAY_OPEN, [UNKNOWN, it.CallerHangup()], "caller_hangup", "menu", {}),
        (MONDAY_OPEN, [it.CallerHangup()], "caller_hangup", "lookup", {}),
    ],
)
def test_given_caller_events_when_the_flow_runs_then_the_caller_leaves_by_the_expected_exit(
    now: datetime, events: list[it.Event], kind: str, node: str, extra: dict[str, Any]
) -> None:
    session = run(events, now)
    assert session.exit is not None
    assert (session.exit.kind, session.exit.node) == (kind, node)
    for key, value in extra.items():
        assert getattr(session.exit, key) == value


@pytest.mark.parametrize(
    ("events", "step_index", "expected"),
    [
        # The welcome sound, then the data dip.
        ([], 0, it.Step((it.Play(("hello",)),), request=it.LookupCaller("0612345678"))),
        # The menu prompt is the request's (a key interrupts it).
        ([UNKNOWN], 1, it.Step((), request=it.GetDigits(("vm-press", "digits/1"), 1, 4))),
        # A wrong key: the invalid sound, then the menu again.
        (
            [UNKNOWN, D("7")],
            2,
            it.Step((it.Play(("pm-invalid-option",)),), request=it.GetDigits(("vm-press", "digits/1"), 1, 4)),
        ),
        # A timeout without a timeout_sound: the menu again, silently.
        ([UNKNOWN, D("")], 2, it.Step((), request=it.GetDigits(("vm-press", "digits/1"), 1, 4))),
        # The collect node asks for up to 8 digits ended by #.
        ([UNKNOWN, D("2")], 2, it.Step((), request=it.GetDigits(("dir-pls-enter",), 8, 8, "#"))),
        # The say node reads the invoice number back, digit by digit.
        (
            [UNKNOWN, D("2"), D("12345674#")],
            3,
            it.Step(
                (it.SayDigits("12345674"),),
                exit=it.Exit("queue", "billing", queue="support", max_wait_s=600),
            ),
        ),
        # The callback offer reads the caller's number, then asks to confirm.
        (
            [UNKNOWN, D("3")],
            2,
            it.Step(
                (it.Play(("to-call-this-number",)), it.SayDigits("0612345678")),
                request=it.GetDigits(("if-correct-press", "digits/1"), 1, 6),
            ),
        ),
        (
            [UNKNOWN, D("3"), D("1")],
            3,
            it.Step((), request=it.ScheduleCallback("+33612345678", "support", "anyone")),
        ),
        # Out of hours: the closed sounds come with the exit.
        ([], 0, None),
    ],
)
def test_given_events_when_a_step_is_produced_then_it_asks_asterisk_for_exactly_this(
    events: list[it.Event], step_index: int, expected: it.Step | None
) -> None:
    steps = it.run_script(FLOW, it.CallContext("0612345678", "5551000", MONDAY_OPEN), events)
    if expected is None:
        closed = it.run_script(FLOW, it.CallContext("0612345678", "5551000", SUNDAY), events)
        assert closed[0] == it.Step((it.Play(("hours", "goodbye")),), exit=it.Exit("hangup", "closed"))
        return
    assert steps[step_index] == expected


@pytest.mark.parametrize(
    ("caller", "first_request"),
    [
        ("0612345678", it.GetDigits(("if-correct-press", "digits/1"), 1, 6)),  # confirm the caller ID
        ("anonymous", it.GetDigits(("vm-enter-num-to-call",), 15, 6, "#")),  # withheld: type a number
        (None, it.GetDigits(("vm-enter-num-to-call",), 15, 6, "#")),
        ("12", it.GetDigits(("vm-enter-num-to-call",), 15, 6, "#")),  # not a dialable number
        ("06\r\nEvent: Forged", it.GetDigits(("vm-enter-num-to-call",), 15, 6, "#")),  # hostile caller ID
    ],
)
def test_given_caller_ids_when_a_callback_is_offered_then_only_a_usable_number_is_proposed(
    caller: str | None, first_request: it.GetDigits
) -> None:
    steps = it.run_script(FLOW, it.CallContext(caller, "5551000", MONDAY_OPEN), [UNKNOWN, D("3")])
    assert steps[-1].request == first_request


def test_given_a_full_path_when_recorded_then_nodes_keys_and_results_are_kept_in_order() -> None:
    session = run([UNKNOWN, D("7"), D("2"), D("12345674#")])
    assert session.path == [
        {"node": "hours", "type": "hours", "result": "open"},
        {"node": "welcome", "type": "play"},
        {"node": "lookup", "type": "lookup", "result": "unknown"},
        {"node": "route", "type": "branch", "result": "default"},
        {"node": "menu", "type": "menu", "label": "menu principal", "digits": "7", "result": "invalid"},
        {
            "node": "menu",
            "type": "menu",
            "label": "menu principal",
            "digits": "2",
            "choice": "2",
            "choice_label": "facturation",
        },
        {
            "node": "invoice",
            "type": "collect",
            "label": "numéro de facture",
            "digits": "12345674",
            "result": "ok",
            "var": "invoice",
        },
        {"node": "say", "type": "say"},
        {"node": "mark", "type": "set"},
        {"node": "billing", "type": "queue", "label": "facturation", "result": "queued"},
    ]
    assert session.variables["invoice"] == "12345674" and session.variables["billing"] is True


def test_given_a_sensitive_collect_when_recorded_then_the_digits_are_masked() -> None:
    flow = parse_flow(
        "pci",
        """
start: card
nodes:
  card: {type: collect, var: card, prompt: [silence/1], min_digits: 16, max_digits: 16, luhn: true,
         sensitive: true, next: q, on_failure: q}
  q: {type: queue, queue: support}
""",
        "pci.yaml",
    )
    session = it.Session(flow, it.CallContext("0612345678", "1", MONDAY_OPEN))
    session.start()
    session.feed(D("4111111111111111#"))
    assert session.path[0]["digits"] == "*" * 16 and session.path[0]["sensitive"] is True
    assert "4111" not in repr(session.path)


@pytest.mark.parametrize(
    ("condition", "variables", "holds"),
    [
        ({"var": "tier", "equals": "vip"}, {"tier": "vip"}, True),
        ({"var": "tier", "equals": "vip"}, {}, False),
        ({"var": "n", "equals": 42}, {"n": "42"}, True),  # collected digits are strings
        ({"var": "known", "equals": True}, {"known": "true"}, False),  # a bool only equals a bool
        ({"var": "tier", "not_equals": "vip"}, {"tier": "gold"}, True),
        ({"var": "tier", "one_of": ["vip", "gold"]}, {"tier": "gold"}, True),
        ({"var": "account", "is_set": True}, {"account": ""}, False),
        ({"var": "account", "is_set": False}, {}, True),
        ({"var": "caller", "matches": r"\+?336\d{8}|06\d{8}"}, {"caller": "0612345678"}, True),
        ({"any": [{"var": "a", "equals": 1}, {"var": "b", "equals": 2}]}, {"b": 2}, True),
        ({"all": [{"var": "a", "equals": 1}, {"var": "b", "equals": 2}]}, {"b": 2}, False),
    ],
)
def test_given_a_condition_when_tested_then_it_holds_as_written(
    condition: dict[str, Any], variables: dict[str, Any], holds: bool
) -> None:
    from cti.ivr.model import Condition

    assert it.condition_holds(Condition.model_validate(condition), variables) is holds


@pytest.mark.parametrize(
    ("digits", "ok"), [("79927398713", True), ("79927398710", False), ("4111111111111111", True), ("", False)]
)
def test_given_numbers_when_luhn_checked_then_only_valid_ones_pass(digits: str, ok: bool) -> None:
    assert it.luhn_ok(digits) is ok


def test_given_a_resume_node_when_the_session_starts_then_it_begins_there() -> None:
    session = it.Session(FLOW, it.CallContext("0612345678", "5551000", MONDAY_OPEN), start_at="callback")
    step = session.start()
    assert step.request == it.GetDigits(("if-correct-press", "digits/1"), 1, 6)
    unknown = it.Session(FLOW, it.CallContext("0612345678", "5551000", SUNDAY), start_at="no-such-node")
    assert unknown.start().exit == it.Exit("hangup", "closed")  # an unknown resume node starts at `start`


def test_given_an_ended_session_when_fed_again_then_it_refuses() -> None:
    session = run([VIP])
    with pytest.raises(RuntimeError, match="ended"):
        session.feed(D("1"))


def test_given_a_caller_looping_in_a_menu_when_the_hop_limit_is_reached_then_the_flow_exits_in_error() -> (
    None
):
    flow = parse_flow(
        "loop",
        """
start: menu
nodes:
  menu: {type: menu, prompt: [beep], choices: {"9": {next: again}}, on_failure: q}
  again: {type: play, sounds: [beep], next: menu}
  q: {type: queue, queue: support}
""",
        "loop.yaml",
    )
    session = it.Session(flow, it.CallContext(None, "1", MONDAY_OPEN))
    step = session.start()
    presses = 0
    while step.exit is None:
        step = session.feed(D("9"))
        presses += 1
    assert step.exit == it.Exit("error", "menu", reason="too many steps")
    assert presses == it.MAX_HOPS // 2
