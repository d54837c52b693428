"""One line of a call list to a lead row: the column plan, each cell's checks, and the flat row format."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from core.dialer_tables import RejectKind
from core.tabular import Limits, MalformedFile
from core.tabular import normalise_header as _norm
from cti.numbers import InvalidNumber
from dialer.bulk_numbers import Normaliser
from dialer.compliance import RuleSet
from dialer.compliance_zones import UnknownZone, zone_info
from dialer.list_import.options import AUTO_MAPPING, MappingError, valid_target

MAX_CELL = 500
MAX_COLUMNS = Limits.max_columns
_YES = {"1", "oui", "o", "yes", "y", "true", "vrai", "x"}
_NO = {"", "0", "non", "n", "no", "false", "faux"}


def _encode_fields(fields: dict[str, str]) -> str:
    """A lead's extra fields as compact JSON, non-ASCII kept (orjson: a fifth of the stdlib's time per lead,
    which counted at a million leads; cells are strictly decoded text, so there is nothing it refuses)."""
    return orjson.dumps(fields).decode()


_FIELD, _NUMBER, _EXTERNAL_ID, _CONSENT, _PRIORITY, _TIMEZONE = (
    "field",
    "number",
    "id",
    "consent",
    "prio",
    "tz",
)


def _kind(target: str) -> tuple[str, str]:
    """(how a column is handled, the field name or number label) for a mapping target."""
    special = {"external_id": _EXTERNAL_ID, "consent": _CONSENT, "priority": _PRIORITY, "timezone": _TIMEZONE}
    if target in special:
        return special[target], target
    if target.startswith("number"):
        return _NUMBER, target.partition(":")[2]
    return _FIELD, target.removeprefix("custom:")


# An earlier lead a line duplicates: its line, its import job, and whether it is of this very import
Earlier = tuple[int | None, int | None, bool]


# A parsed line is one flat tuple of text and numbers: its fields already encoded, then its numbers, five
# items each (label, raw, e164, zones, country). The collector stops tracking such a tuple the first time it
# looks at it (a tuple holding a dict, an object or a still-tracked tuple stays tracked, one nesting level
# undone per collection), so the batches queued in the write chain, which outlive many young collections,
# never reach the oldest generation: a full collection during a million-line import has nothing of theirs
# to walk. (A dataclass row, its list of numbers and their NumberInfo stayed tracked for life.)
_Number = tuple[str | None, str, str, tuple[str, ...], str | None]  # label, raw, e164, zones, country
_Row = tuple[Any, ...]  # line, external_id, fields (JSON), zone, consent, priority, *numbers
_LINE, _EXTERNAL_ID, _FIELDS, _ZONE, _CONSENT, _PRIORITY, _NUMBERS = range(7)
_E164S = slice(_NUMBERS + 2, None, 5)  # a row's numbers (E.164), in column order


def row_numbers(row: _Row) -> Iterator[_Number]:
    for k in range(_NUMBERS, len(row), 5):
        yield row[k : k + 5]  # type: ignore[misc]


@dataclass
class ColumnPlan:
    """Where each column goes: (index, target) for the mapped ones."""

    columns: list[tuple[int, str, str, str]] = field(default_factory=list)  # index, target, kind, name

    @classmethod
    def build(cls, header: list[str], mapping: dict[str, str] | None, keep_unmapped: bool) -> ColumnPlan:
        if len(header) > MAX_COLUMNS:
            raise MalformedFile(f"{len(header)} columns: at most {MAX_COLUMNS}")
        given = {_norm(k): v for k, v in (mapping or {}).items()}
        bad = [f"{k!r} → {v!r}" for k, v in given.items() if not valid_target(v)]
        if bad:
            raise MappingError("unknown target field in the mapping: " + ", ".join(bad))
        names = [_norm(h) for h in header]
        missing = [k for k in given if k not in names]
        if missing:
            raise MappingError("the mapping names columns the file does not have: " + ", ".join(missing))
        plan, seen = cls(), set()
        for i, (raw, name) in enumerate(zip(header, names, strict=True)):
            target = given.get(name) if mapping is not None else AUTO_MAPPING.get(name)
            if target is None:
                if mapping is not None and name in given:
                    continue
                target = f"custom:{name.replace(' ', '_')[:40]}" if keep_unmapped and name else "ignore"
            if target == "ignore":
                continue
            if not target.startswith("number") and target in seen:
                raise MappingError(f"two columns map to {target!r} (the second is {raw!r})")
            seen.add(target)
            plan.columns.append((i, target, *_kind(target)))
        if not any(kind == _NUMBER for _, _, kind, _ in plan.columns):
            raise MappingError(
                "no phone column: map one (e.g. 'Téléphone' → number); columns are " + ", ".join(header[:20])
            )
        return plan


def no_consent_reason(rule_set: RuleSet | None, plan: ColumnPlan) -> str:
    """Why a lead without consent is refused: since when the rule set requires it, and what to map."""
    since = rule_set.consent_required_from if rule_set is not None else None
    why = f"no consent: rule set {rule_set.name} requires it since {since}" if rule_set and since else ""
    if any(kind == _CONSENT for _, _, kind, _ in plan.columns):
        return f"{why} (the consent column says no or is empty)"
    return (
        f"{why}, and no column is mapped to consent: map the file's consent column (e.g. 'Consentement')"
        " to the field consent, with oui/non, yes/no or 1/0"
    )


def parse_row(
    normalise: Normaliser,
    columns: list[tuple[int, str, str, str]],
    line: int,
    cells: list[str],
    rejects: list[tuple[int, RejectKind, str]],
) -> _Row | None:
    """One line to a lead, or None after adding exactly one `invalid` reject that says why."""

    def reject(reason: str) -> None:
        rejects.append((line, RejectKind.invalid, reason))

    fields: dict[str, str] = {}
    numbers: list[_Number] = []
    external_id = zone = None
    consent, priority = False, 0
    width = len(cells)
    # Most lines are short and printable as a whole: then no cell of theirs can fail the two checks below,
    # which are skipped (one test per line instead of two per cell).
    whole = "".join(cells)
    checked = len(whole) > MAX_CELL or not whole.isprintable()
    for index, target, kind, name in columns:
        cell = cells[index].strip() if index < width else ""
        if not cell:
            continue
        if checked:
            if len(cell) > MAX_CELL:
                reject(f"{target}: longer than {MAX_CELL} characters")
                return None
            if not cell.isprintable() and any(ord(ch) < 32 and ch != "\t" for ch in cell):
                reject(f"{target}: contains control characters")
                return None
        if kind == _FIELD:
            # Kept as text, formula-looking cells included: they are never evaluated here and
            # are neutralised whenever they leave through an export.
            fields[name] = cell
        elif kind == _NUMBER:
            try:
                e164, zones, country = normalise.plain(cell)
            except InvalidNumber as exc:
                reject(f"number {cell[:40]!r}: {exc.reason}")
                return None
            numbers.append((name or None, cell, e164, zones, country))
        elif kind == _EXTERNAL_ID:
            if len(cell) > 80:
                reject("external_id: longer than 80 characters")
                return None
            external_id = cell
        elif kind == _CONSENT:
            low = cell.lower()
            if low not in _YES and low not in _NO:
                reject(f"consent {cell[:20]!r}: expected oui/non, yes/no, 1/0")
                return None
            consent = low in _YES
        elif kind == _PRIORITY:
            try:
                priority = int(cell)
            except ValueError:
                priority = 10_001
            if not -10_000 <= priority <= 10_000:
                reject(f"priority {cell[:20]!r}: a whole number between -10000 and 10000")
                return None
        else:
            try:
                zone_info(cell)
            except UnknownZone:
                reject(f"timezone {cell[:40]!r}: not an IANA zone such as Europe/Paris")
                return None
            zone = cell
    if not numbers:
        reject("no phone number")
        return None
    if len(numbers) > 1:  # the same number in two columns is kept once, from the first
        unique: dict[str, _Number] = {}
        for entry in numbers:
            unique.setdefault(entry[2], entry)
        numbers = list(unique.values())
    flat = [item for number in numbers for item in number]
    return (line, external_id, _encode_fields(fields), zone, consent, priority, *flat)


_WORKER_NORMALISERS: dict[str, Normaliser] = {}


def parse_chunk(
    region: str, columns: list[tuple[int, str, str, str]], chunk: list[tuple[int, list[str]]]
) -> tuple[list[_Row], list[tuple[int, RejectKind, str]], int, int]:
    """Runs in a worker process: a chunk of lines to leads and rejects (plus the normaliser's counts)."""
    normalise = _WORKER_NORMALISERS.setdefault(region, Normaliser(region))
    rows, rejects = [], []
    for line, cells in chunk:
        row = parse_row(normalise, columns, line, cells, rejects)
        if row is not None:
            rows.append(row)
    return rows, rejects, normalise.fast, normalise.slow
