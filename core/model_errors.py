"""Turn Pydantic validation errors into lines a campaign manager can act on.

Every content file (rule sets, CROC scripts) reports an error as `source: path.inside[2].field: message`,
so the person editing the file knows where to look without reading a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError


class ContentError(ValueError):
    """A content file (YAML or a manager's edit) is invalid; `errors` holds one line per problem."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)


def format_loc(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def format_validation_error(source: str, exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors(include_url=False):
        # Pydantic adds the name of a function validator to the location; it means nothing to a reader.
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {format_loc(loc)}: {msg}")
    return lines


def read_yaml(path: Path) -> Any:
    """The YAML document in `path`; unreadable files and YAML syntax errors become a ContentError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContentError([f"{path}: cannot read: {exc}"]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ContentError([f"{path}: {where}invalid YAML: {problem}"]) from None
