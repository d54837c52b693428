"""Flow validation: every problem is reported with the file and the path inside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main as cli
from core.model_errors import ContentError
from cti.ivr.flows import flow_for_did, load_flows, parse_flow
from cti.ivr.model import FLOWS_DIR, SOUNDS_DIR

GOOD = """
start: menu
nodes:
  menu:
    type: menu
    prompt: [silence/1]
    choices: {"1": {next: q}}
    on_failure: q
  q: {type: queue, queue: support}
"""


def errors_of(text: str, sounds: Path | None = None) -> list[str]:
    with pytest.raises(ContentError) as info:
        parse_flow("f", text, "flows/f.yaml", sounds)
    return info.value.errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("start: [a\n", "flows/f.yaml: line 2, column 1: invalid YAML"),
        ("- a\n- b\n", "flows/f.yaml: (top level): a flow is a mapping"),
        ("start: a\nnodes:\n  a: {type: hangup}\n  a: {type: hangup}\n", "duplicate key 'a'"),
        (
            GOOD.replace("queue: support}", "queue: support, colour: red}"),
            "flows/f.yaml: nodes.q.colour: Extra inputs are not permitted",
        ),
        (GOOD.replace("type: queue", "type: teleport"), "flows/f.yaml: nodes.q: Input tag 'teleport'"),
        (
            GOOD.replace('{"1": {next: q}}', '{"12": {next: q}}'),
            "flows/f.yaml: nodes.menu.choices: choice key '12'",
        ),
        (
            GOOD.replace("[silence/1]", "[../../etc/passwd]"),
            "flows/f.yaml: nodes.menu.prompt[0]: sound '../../etc/passwd'",
        ),
        (GOOD.replace("start: menu", "start: nowhere"), "flows/f.yaml: start: unknown node 'nowhere'"),
        (
            GOOD.replace("{next: q}}", "{next: gone}}"),
            "flows/f.yaml: nodes.menu.choices.1.next: unknown node 'gone'",
        ),
        (GOOD + "  orphan: {type: hangup}\n", "flows/f.yaml: nodes.orphan: unreachable from start 'menu'"),
        (
            GOOD.replace('choices: {"1": {next: q}}', 'choices: {"1": {next: a}}')
            + "  a: {type: play, sounds: [beep], next: b}\n  b: {type: set, values: {x: 1}, next: a}\n",
            "flows/f.yaml: nodes.a: loop without caller input: a → b → a",
        ),
        (
            """
start: m
nodes:
  m: {type: menu, prompt: [beep], choices: {"1": {next: p}}, on_failure: m}
  p: {type: play, sounds: [beep], next: m}
""",
            "flows/f.yaml: nodes.m: loop without an exit",
        ),
        (
            """
start: c
nodes:
  c: {type: collect, var: x, prompt: [beep], pattern: "([", next: q, on_failure: q}
  q: {type: queue, queue: support}
""",
            "flows/f.yaml: nodes.c.pattern: pattern is not a valid regular expression",
        ),
        (
            """
start: b
nodes:
  b: {type: branch, cases: [{when: {var: tier}, next: q}], default: q}
  q: {type: queue, queue: support}
""",
            "flows/f.yaml: nodes.b.cases[0].when: a test needs `var` and exactly one of",
        ),
        (
            "start: q\nnodes:\n  q: {type: queue, queue: support, priority: 101}\n",
            "flows/f.yaml: nodes.q.priority: Input should be less than or equal to 100",
        ),
        (
            "start: q\nnodes:\n  Q!: {type: queue, queue: support}\n",
            "flows/f.yaml: nodes: node id 'Q!' must be",
        ),
        (
            "start: t\nnodes:\n  t: {type: transfer, number: '06 12'}\n",
            "flows/f.yaml: nodes.t.number: String should match pattern",
        ),
    ],
)
def test_given_a_broken_flow_when_checked_then_the_error_names_the_file_and_the_path(
    text: str, expected: str
) -> None:
    found = errors_of(text)
    assert any(expected in line for line in found), found


def test_given_missing_sounds_when_checked_with_asterisk_sounds_then_each_is_named(tmp_path: Path) -> None:
    (tmp_path / "fr" / "digits").mkdir(parents=True)
    (tmp_path / "fr" / "digits" / "1.gsm").write_bytes(b"")
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "beep.gsm").write_bytes(b"")  # Asterisk falls back to English
    text = GOOD.replace("[silence/1]", "[digits/1, beep, custom/accueil]")
    assert errors_of(text, tmp_path) == [
        f"flows/f.yaml: nodes.menu.prompt: sound 'custom/accueil' not found in {tmp_path / 'fr'}",
        f"flows/f.yaml: nodes.menu.invalid_sound: sound 'pm-invalid-option' not found in {tmp_path / 'fr'}",
    ]


def test_given_the_shipped_flows_when_loaded_then_all_are_valid_with_their_sounds() -> None:
    flows = load_flows(FLOWS_DIR, SOUNDS_DIR)
    assert {"accueil", "main-en", "fermeture"} <= set(flows)
    assert flows["accueil"].language == "fr" and flows["main-en"].language == "en"
    assert flow_for_did(flows, "5551000") is flows["accueil"]
    assert flow_for_did(flows, "0000", default="main-en") is flows["main-en"]
    assert flow_for_did(flows, "0000") is None


def test_given_two_flows_claiming_one_did_when_loaded_then_both_files_are_named(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.yaml").write_text('dids: ["5551000"]\n' + GOOD)
    with pytest.raises(ContentError) as info:
        load_flows(tmp_path, None)
    assert info.value.errors == [f"{tmp_path / 'b'}.yaml: dids[0]: DID 5551000 is already routed by a"]


def test_given_a_flows_dir_with_errors_when_plateau_ivr_check_runs_then_it_lists_them_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ok.yaml").write_text(GOOD)
    (tmp_path / "bad.yaml").write_text(GOOD + "  orphan: {type: hangup}\n")
    assert cli(["ivr", "check", "--dir", str(tmp_path), "--no-sounds"]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'bad.yaml'}: nodes.orphan: unreachable from start 'menu'" in err
    assert "1 problem(s)" in err


def test_given_valid_flows_when_plateau_ivr_check_runs_then_it_lists_them_and_succeeds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli(["ivr", "check", "--dir", str(FLOWS_DIR)]) == 0
    assert "accueil: ok (17 nodes, DIDs 5551000)" in capsys.readouterr().out
