"""The example flows in ivr_flows/ do what their comments promise (pure runs of the interpreter)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from cti.ivr import interpreter as it
from cti.ivr.flows import load_flows
from cti.ivr.model import FLOWS_DIR

FLOWS = load_flows(FLOWS_DIR, None)
PARIS, LONDON = ZoneInfo("Europe/Paris"), ZoneInfo("Europe/London")
UNKNOWN = it.LookupDone({"known": False})
D = it.Digits


@pytest.mark.parametrize(
    ("flow", "now", "events", "exit_"),
    [
        ("accueil", datetime(2026, 11, 23, 10, 0, tzinfo=PARIS), [UNKNOWN, D("1")], ("queue", "file-ventes")),
        (
            "accueil",
            datetime(2026, 11, 23, 10, 0, tzinfo=PARIS),
            [it.LookupDone({"known": True, "tier": "vip"})],
            ("queue", "file-vip"),
        ),
        (
            "accueil",
            datetime(2026, 11, 23, 10, 0, tzinfo=PARIS),
            [it.LookupDone({"known": True, "tier": "standard", "open_complaint": True})],
            ("queue", "file-reclamation"),
        ),
        (
            "accueil",
            datetime(2026, 11, 23, 10, 0, tzinfo=PARIS),
            [UNKNOWN, D("2"), D("12345674#")],
            ("queue", "file-facturation"),
        ),
        (
            "accueil",
            datetime(2026, 11, 23, 10, 0, tzinfo=PARIS),
            [UNKNOWN, D("4"), D("4"), D("4")],
            ("queue", "file-support"),
        ),
        (
            "accueil",
            datetime(2026, 11, 23, 10, 0, tzinfo=PARIS),
            [UNKNOWN, D("3"), D("1"), it.CallbackDone(True)],
            ("hangup", "rappel-ok"),
        ),
        (
            "accueil",
            datetime(2026, 11, 22, 10, 0, tzinfo=PARIS),
            [it.Recorded(True, "x.wav")],
            ("voicemail", "messagerie"),
        ),  # Sunday
        ("accueil", datetime(2026, 7, 14, 10, 0, tzinfo=PARIS), [], ("hangup", "ferie")),  # Fête nationale
        (
            "accueil",
            datetime(2026, 12, 31, 10, 0, tzinfo=PARIS),
            [it.Recorded(True)],
            ("voicemail", "messagerie"),
        ),  # inventory
        ("main-en", datetime(2026, 11, 23, 10, 0, tzinfo=LONDON), [UNKNOWN, D("9")], ("transfer", "partner")),
        (
            "main-en",
            datetime(2026, 11, 23, 10, 0, tzinfo=LONDON),
            [it.LookupDone({"known": True, "tier": "gold"})],
            ("queue", "priority-queue"),
        ),
        (
            "main-en",
            datetime(2026, 11, 23, 10, 0, tzinfo=LONDON),
            [UNKNOWN, D("2"), D("20261123")],
            ("queue", "orders-queue"),
        ),
        (
            "main-en",
            datetime(2026, 8, 31, 10, 0, tzinfo=LONDON),
            [],
            ("hangup", "closed"),
        ),  # summer bank holiday
        (
            "fermeture",
            datetime(2026, 12, 26, 10, 0, tzinfo=PARIS),
            [D("1"), D("1"), it.CallbackDone(True)],
            ("hangup", "merci"),
        ),
        ("fermeture", datetime(2026, 12, 26, 10, 0, tzinfo=PARIS), [D(""), D("")], ("hangup", "au-revoir")),
        ("fermeture", datetime(2026, 12, 27, 10, 0, tzinfo=PARIS), [], ("queue", "file")),
    ],
)
def test_given_a_shipped_flow_when_a_caller_goes_through_then_the_documented_exit_is_reached(
    flow: str, now: datetime, events: list[it.Event], exit_: tuple[str, str]
) -> None:
    steps = it.run_script(FLOWS[flow], it.CallContext("0612345678", "5551000", now), events)
    assert steps[-1].exit is not None
    assert (steps[-1].exit.kind, steps[-1].exit.node) == exit_
