"""`plateau import list` and `plateau dnc import`, in-process against a fresh SQLite database."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from core.settings import get_settings
from tests.dialer.files import french_csv


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("PLATEAU_DATABASE_URL", url)
    monkeypatch.setenv("PLATEAU_SECRET_KEY", "cli-test-secret")
    get_settings.cache_clear()
    assert main(["migrate"]) == 0
    return url


def test_given_a_bloctel_file_and_a_list_when_imported_from_the_cli_then_dnc_numbers_are_scrubbed(
    cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bloctel = tmp_path / "bloctel.txt"
    bloctel.write_text("0612345678\n06 98 76 54 32\nabc\n", encoding="ascii")
    assert main(["dnc", "import", str(bloctel), "--list", "Bloctel", "--kind", "national"]) == 0
    out = capsys.readouterr().out
    assert "2 numbers added to 'Bloctel', 1 invalid" in out and "line 3" in out
    assert main(["import", "list", str(french_csv(tmp_path)), "--list", "Prospects"]) == 0
    out = capsys.readouterr().out
    assert "4 lines read: 2 leads imported into 'Prospects'" in out
    assert "line 2: dnc: +33612345678 is on a do-not-call list" in out


def test_given_a_broken_file_or_unknown_template_when_imported_from_the_cli_then_exit_2_with_the_reason(
    cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = tmp_path / "x.csv"
    binary.write_bytes(b"\x00\x01\x02garbage")
    assert main(["import", "list", str(binary), "--list", "L"]) == 2
    assert "not a text file" in capsys.readouterr().err
    assert main(["import", "list", str(french_csv(tmp_path)), "--list", "L", "--template", "nope"]) == 2
    assert "no mapping template named 'nope'" in capsys.readouterr().err
    assert main(["dnc", "import", str(tmp_path / "missing.txt")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_given_a_file_whose_every_line_is_rejected_when_imported_from_the_cli_then_exit_1_and_it_says_so(
    cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = ["M.;A;B;;12;;;oui;", "M.;C;D;;06 12 34 56 78;;;oui;", "M.;E;F;;06.12.34.56.78;;;oui;"]
    assert main(["import", "list", str(french_csv(tmp_path, rows[:1])), "--list", "L"]) == 1
    out, err = capsys.readouterr()
    assert "0 leads imported" in out and "line 2: invalid" in out
    assert "nothing was imported from" in err and "every line was rejected" in err
    assert main(["import", "list", str(french_csv(tmp_path, rows[1:2])), "--list", "L"]) == 0
    assert main(["import", "list", str(french_csv(tmp_path, rows[2:])), "--list", "L"]) == 1
    out, err = capsys.readouterr()
    assert "line 2: duplicate: duplicate of line 2 of import 2: +33612345678 is already in this list" in out
    assert main(["import", "list", str(french_csv(tmp_path, [])), "--list", "L"]) == 1
    assert "the file has no lines" in capsys.readouterr().err


def test_given_a_dnc_file_with_a_header_when_imported_from_the_cli_then_every_line_is_counted_once(
    cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bloctel.csv"
    path.write_text("MSISDN;Source\n" + "".join(f"06123456{i:02d};B\n" for i in range(79)), encoding="ascii")
    assert main(["dnc", "import", str(path), "--list", "Bloctel", "--kind", "national"]) == 0
    out = capsys.readouterr().out
    assert "80 lines read (a header ('MSISDN;Source') and 79 numbers): 79 numbers added" in out
    assert "0 invalid" in out
