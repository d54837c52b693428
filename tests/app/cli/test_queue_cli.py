"""`plateau queue add|member`: scripted provisioning with the admin page's rules, in-process against a
fresh SQLite database; the include files land in PLATEAU_PBX_CONF_DIR."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from core.settings import get_settings
from cti.queues_conf import GLOBALS_INCLUDE, QUEUES_INCLUDE


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PLATEAU_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("PLATEAU_SECRET_KEY", "cli-test-secret")
    etc = tmp_path / "etc"
    etc.mkdir()
    monkeypatch.setenv("PLATEAU_PBX_CONF_DIR", str(etc))
    get_settings.cache_clear()
    assert main(["migrate"]) == 0
    return etc


def test_given_a_script_when_it_adds_a_queue_and_a_member_then_both_exist_and_asterisk_files_hold_the_queue(
    cli_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["user", "add", "alice", "--role", "agent", "--password", "a-long-password",
                 "--sip-endpoint", "agent1"]) == 0  # fmt: skip
    argv = ["queue", "add", "reclamations", "--display-name", "Réclamations", "--strategy", "linear",
            "--did", "5554000", "--max-wait", "120"]  # fmt: skip
    assert main(argv) == 0
    assert "queue reclamations created" in capsys.readouterr().out
    assert "[reclamations](queue-defaults)\nstrategy = linear\n" in (cli_db / QUEUES_INCLUDE).read_text()
    assert "DID_5554000 = reclamations" in (cli_db / GLOBALS_INCLUDE).read_text()
    assert main(["queue", "member", "reclamations", "alice", "--skill", "3"]) == 0
    assert "alice in reclamations with skill 3" in capsys.readouterr().out
    assert main(["queue", "member", "reclamations", "alice", "--remove"]) == 0


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["queue", "add", "general"], "name: Value error, 'general' is reserved"),
        (["queue", "add", "file client"], "name: Value error, lowercase letters"),
        (["queue", "add", "ok", "--strategy", "roundrobin"], "strategy"),
        (["queue", "add", "ok", "--overflow", "nowhere"], "overflow: no queue named 'nowhere'"),
        (["queue", "member", "nowhere", "alice"], "no queue 'nowhere'"),
    ],
)
def test_given_bad_input_when_provisioning_from_the_cli_then_exit_2_names_the_field(
    cli_db: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    assert main(argv) == 2
    assert says in capsys.readouterr().err
