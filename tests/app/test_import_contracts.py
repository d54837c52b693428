"""The layers' import contracts (pyproject's [tool.importlinter], run by `make lint`): a copy of the four
packages with one wrong-way import added must fail `lint-imports`, naming the import; the copy as it is
passes. The copy lives in tmp_path, so the tree under test is never touched."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "cti", "dialer", "app")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copy(ROOT / "pyproject.toml", tree)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    return tree


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _add_import(tree: Path, module: str, line: str) -> None:
    path = tree / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{line}\n")


# module that gets the bad import, the import, what the report names
WRONG_WAY = [
    ("core.db", "import app.main  # noqa", "core.db -> app.main"),
    ("core.bus", "import cti.service  # noqa", "core.bus -> cti.service"),
    ("cti.tracker", "import dialer.engine  # noqa", "cti.tracker -> dialer.engine"),
    ("cti.recorder", "from app import screenpop  # noqa", "cti.recorder -> app.screenpop"),
    ("dialer.leads", "import cti.service  # noqa", "dialer.leads -> cti.service"),
    ("dialer.dnc", "import app.security  # noqa", "dialer.dnc -> app.security"),
]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy(tmp_path_factory.mktemp("contracts"))


def test_given_the_packages_as_they_are_when_linted_then_every_contract_is_kept(tree: Path) -> None:
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "named"), WRONG_WAY, ids=[w[2] for w in WRONG_WAY])
def test_given_one_wrong_way_import_when_linted_then_a_contract_is_broken_and_names_it(
    tmp_path: Path, module: str, line: str, named: str
) -> None:
    tree = _copy(tmp_path)
    _add_import(tree, module, line)
    result = _lint(tree)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert named in result.stdout
