"""The IVR interpreter at its edges (cti/ivr/interpreter.py): the last retry itself, one before it, and
what the path records when a caller runs out of tries."""

from __future__ import annotations

import pytest

from cti.ivr import interpreter as it
from tests.ivr.test_interpreter import UNKNOWN, D, run

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
