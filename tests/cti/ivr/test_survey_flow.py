"""The post-call survey as tables: the shipped `satisfaction` flow, the caller's keys → what is saved and how
the call ends; and the opt-in a flow gives before its queue (pure runs of the interpreter)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cti.ivr import interpreter as it
from cti.ivr.flows import load_flows, parse_flow
from cti.ivr.model import FLOWS_DIR

SURVEY = load_flows(FLOWS_DIR, None)["satisfaction"]
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
D = it.Digits
OK = it.SurveySaved(True)


def drive(events: list[it.Event]) -> tuple[list[it.SaveSurvey], it.Session, it.Step]:
    """Feed the events in order; a save request is answered OK unless the table says otherwise."""
    session = it.Session(SURVEY, it.CallContext("0612345678", "", NOW))
    step = session.start()
    saves: list[it.SaveSurvey] = []
    queue = list(events)
    while step.exit is None:
        if isinstance(step.request, it.SaveSurvey):
            saves.append(step.request)
            step = session.feed(OK)
            continue
        assert queue, f"the survey waits for more input at {session.current_node}"
        step = session.feed(queue.pop(0))
    assert not queue, f"the survey ended before {queue}"
    return saves, session, step


@pytest.mark.parametrize(
    ("events", "saved", "exit_node"),
    [
        # 2 then 9, no comment: the scores saved one after the other, then thanks
        ([D("2"), D("9"), D("")], [(2, None, None), (2, 9, None)], "merci"),
        # ten is 1 0 then #
        ([D("5"), D("10#"), D("")], [(5, None, None), (5, 10, None)], "merci"),
        # a wrong key is asked again once; the second answer counts
        ([D("7"), D("4"), D("0"), D("")], [(4, None, None), (4, 0, None)], "merci"),
        # twice no key for CSAT: that question is given up, NPS still asked
        ([D(""), D(""), D("8"), D("")], [(None, 8, None)], "merci"),
        # nothing at all: nothing saved, a clean goodbye
        ([D(""), D(""), D(""), D(""), D("")], [], "merci"),
        # out-of-range answers twice each (6 is no CSAT, 11 is no NPS)
        ([D("6"), D("0"), D("11#"), D("*"), D("")], [], "merci"),
        # a spoken comment: recorded, then saved with the scores
        (
            [D("2"), D("9"), D("1"), it.Recorded(True, "/spool/plateau-comment-1.wav")],
            [(2, None, None), (2, 9, None), (2, 9, "/spool/plateau-comment-1.wav")],
            "merci",
        ),
        # a recording that failed: the scores stay, no comment
        (
            [D("3"), D("6"), D("1"), it.Recorded(False)],
            [(3, None, None), (3, 6, None), (3, 6, None)],
            "merci",
        ),
    ],
)
def test_given_the_survey_when_the_caller_presses_keys_then_the_answers_are_saved_as_given(
    events: list[it.Event], saved: list[tuple[int | None, int | None, str | None]], exit_node: str
) -> None:
    saves, _session, step = drive(events)
    assert [(s.csat, s.nps, s.comment) for s in saves] == saved
    assert step.exit is not None and (step.exit.kind, step.exit.node) == ("hangup", exit_node)


def test_given_the_survey_when_the_caller_hangs_up_after_one_score_then_it_is_saved_and_ends_cleanly() -> (
    None
):
    session = it.Session(SURVEY, it.CallContext("0612345678", "", NOW))
    session.start()
    step = session.feed(D("1"))
    assert step.request == it.SaveSurvey(1, None, None)
    session.feed(OK)
    end = session.feed(it.CallerHangup())
    assert end.exit is not None and end.exit.kind == "caller_hangup"
    assert [p["result"] for p in session.path if p["type"] == "survey"] == ["saved"]


def test_given_a_database_fault_when_saving_then_the_survey_goes_on_and_the_path_says_not_saved() -> None:
    session = it.Session(SURVEY, it.CallContext(None, "", NOW))
    session.start()
    session.feed(D("2"))
    step = session.feed(it.SurveySaved(False))
    assert isinstance(step.request, it.GetDigits)  # NPS is still asked
    assert session.path[-1] == {"node": "note-csat", "type": "survey", "result": "not_saved"}


OPT_IN = parse_flow(
    "optin",
    """
start: ask
nodes:
  ask:
    type: menu
    prompt: [vm-press, digits/1]
    retries: 1
    choices:
      "1": {next: agreed}
      "2": {next: queue}
    on_failure: queue
  agreed: {type: set, values: {survey_optin: true}, next: queue}
  queue: {type: queue, queue: support}
""",
    "optin.yaml",
    None,
)


@pytest.mark.parametrize(("key", "survey"), [("1", True), ("2", False), ("", False)])
def test_given_an_opt_in_menu_when_the_caller_answers_then_the_queue_exit_carries_the_agreement(
    key: str, survey: bool
) -> None:
    steps = it.run_script(OPT_IN, it.CallContext("0612345678", "5551000", NOW), [D(key)])
    assert steps[-1].exit is not None and steps[-1].exit.kind == "queue"
    assert steps[-1].exit.survey is survey


@pytest.mark.parametrize(
    ("node", "error"),
    [
        ("{type: record, max_s: 1, next: end}", "max_s"),
        ("{type: record, var: Bad, next: end}", "var"),
        ("{type: survey, next: nowhere}", "unknown node 'nowhere'"),
    ],
)
def test_given_a_bad_survey_node_when_loaded_then_the_error_names_the_field(node: str, error: str) -> None:
    from core.model_errors import ContentError

    text = f"start: n\nnodes:\n  n: {node}\n  end: {{type: hangup}}\n"
    with pytest.raises(ContentError) as caught:
        parse_flow("bad", text, "bad.yaml", None)
    assert any(error in e and "nodes.n" in e for e in caught.value.errors), caught.value.errors
