"""`plateau campaign create FILE.yaml`, in-process against a fresh SQLite database: the API's schema and
checks, names for lists and queues, every problem listed, nothing written on an error, audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from app.cli import main
from tests.app.cli.test_cli import cli_db  # noqa: F401 - the fixture

GOOD = """\
name: Relance hiver
lists: [Clients hiver]
queue: support
script: suivi-satisfaction
rule_set: FR-2023
dial_mode: predictive
dial_ratio: 1.5
caller_id: 01 84 80 00 00
retry_rules:
  busy: {delay_minutes: 15, max_attempts: 3}
"""


def _sql(url: str, query: str) -> list[tuple[object, ...]]:
    engine = create_engine(url.replace("+aiosqlite", ""))
    with engine.connect() as c:
        rows = [tuple(r) for r in c.execute(text(query))]
    engine.dispose()
    return rows


@pytest.fixture
def seeded(cli_db: str) -> str:  # noqa: F811
    engine = create_engine(cli_db.replace("+aiosqlite", ""))
    with engine.begin() as c:
        c.execute(text("INSERT INTO queues (name, display_name, service_level_s, sl_variant, sl_target_pct,"
                       " short_abandon_s) VALUES ('support', 'Support', 20, 'answered', 80, 5)"))  # fmt: skip
        c.execute(text("INSERT INTO call_lists (name, lead_count, created_at, updated_at) "
                       "VALUES ('Clients hiver', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))  # fmt: skip
    engine.dispose()
    return cli_db


def test_given_a_campaign_file_when_created_then_a_draft_exists_with_its_references_and_an_audit_row(
    seeded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "relance.yaml"
    f.write_text(GOOD, encoding="utf-8")
    assert main(["campaign", "create", str(f)]) == 0
    assert "'Relance hiver' created as a draft" in capsys.readouterr().out
    rows = _sql(seeded, "SELECT name, state, dial_mode, caller_id, script FROM campaigns")
    assert rows == [("Relance hiver", "draft", "predictive", "+33184800000", "suivi-satisfaction")]
    assert _sql(seeded, "SELECT count(*) FROM campaign_lists") == [(1,)]
    assert _sql(seeded, "SELECT action FROM audit_log") == [("campaign_created",)]
    assert main(["campaign", "create", str(f)]) == 2  # the same name again
    assert "already exists" in capsys.readouterr().err


BAD = [  # (file text, what the error says)
    ("name: X\nlists: [Nope]\n", "lists.0: no call list named 'Nope'"),
    ("name: X\nqueue: nope\n", "queue: no queue named 'nope'"),
    ("name: X\ndial_mode: turbo\n", "dial_mode"),
    ("name: X\ncaller_id: pas un numéro\n", "caller_id"),
    ("name: X\nscript: absent\n", "no script named 'absent'"),
    ("name: X\nretry_rules: {busy: {delay_minutes: 0, max_attempts: 1}}\n", "retry_rules.busy"),
    ("name: [unclosed\n", "invalid YAML"),
    ("- just a list\n", "a mapping of campaign fields"),
    ("dial_mode: preview\n", "name"),
]


@pytest.mark.parametrize(("content", "message"), BAD)
def test_given_a_bad_campaign_file_when_created_then_exit_2_names_the_problem_and_nothing_is_written(
    seeded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(content, encoding="utf-8")
    assert main(["campaign", "create", str(f)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert _sql(seeded, "SELECT count(*) FROM campaigns") == [(0,)]
