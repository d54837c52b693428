"""`plateau ivr try`: a flow author's dry run prints what the caller would hear and where they end up."""

from __future__ import annotations

import pytest

from app.cli import main as cli


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["accueil", "--keys", "2,12345674#", "--at", "2026-11-23T10:00+01:00"],
            [
                "play hello",
                "lookup 0612345678 → unknown",
                "prompt vm-press digits/1 vm-for agent-user vm-press digits/2 vm-for vm-message "
                "vm-press digits/3 vm-for vm-tocallback → 2",
                "prompt dir-pls-enter vm-then-pound → 12345674#",
                "exit kind=queue node=file-facturation queue=support on_timeout=rappel "
                "priority=2 max_wait_s=600",
                "summary: a choisi 2 — facturation ; a saisi numéro de facture ; "
                "→ file support (prioritaire)",
            ],
        ),
        (
            ["accueil", "--at", "2026-07-14T10:00+02:00"],
            [
                "play hello im-sorry please-try-call-later goodbye",
                "exit kind=hangup node=ferie",
                "summary: jour férié (Fête nationale)",
            ],
        ),
        (
            ["main-en", "--tier", "gold", "--at", "2026-11-23T10:00Z"],
            [
                "lookup 0612345678 → tier gold",
                "exit kind=queue node=priority-queue queue=sales on_timeout=voicemail "
                "priority=10 max_wait_s=300",
                "summary: known customer GOLD; → queue sales (priority)",
            ],
        ),
    ],
)
def test_given_a_flow_and_inputs_when_tried_then_the_path_and_exit_are_printed(
    argv: list[str], expected: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["ivr", "try", *argv]) == 0
    assert capsys.readouterr().out.splitlines() == expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["nope"], "no flow 'nope'"), (["accueil", "--at", "demain"], "--at 'demain': use an ISO date-time")],
)
def test_given_bad_arguments_when_tried_then_a_clear_error_and_exit_code_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["ivr", "try", *argv]) == 2
    assert message in capsys.readouterr().err
