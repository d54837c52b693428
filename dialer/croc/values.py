"""An answer's value: checked and normalised by its question's type."""

from __future__ import annotations

from datetime import date
from typing import Any

from dialer.croc.model import MAX_TEXT_ANSWER, Question, QuestionType


def is_empty(answer: Any) -> bool:
    return answer is None or answer == "" or answer == []


def normalise_answer(question: Question | None, raw: Any) -> tuple[Any, str | None]:
    """(answer in its canonical type, or a reason it is not valid). None means skipped."""
    if question is None or raw is None:
        return raw, None
    kind = question.type
    if kind == QuestionType.YES_NO:
        if isinstance(raw, bool):
            return raw, None
        return None, "expected yes or no"
    if kind == QuestionType.SINGLE_CHOICE:
        values = {o.value for o in question.options}
        ok = isinstance(raw, str) and raw in values  # a hostile body may send any JSON value
        return (raw, None) if ok else (None, f"{shortened(raw)} is not one of the options")
    if kind == QuestionType.MULTIPLE_CHOICE:
        values = {o.value for o in question.options}
        if not isinstance(raw, list | tuple) or not all(isinstance(v, str) and v in values for v in raw):
            return None, "expected a list of the options"
        return list(dict.fromkeys(raw)), None
    if kind == QuestionType.TEXT:
        if not isinstance(raw, str):
            return None, "expected text"
        if len(raw) > MAX_TEXT_ANSWER:
            return None, f"longer than {MAX_TEXT_ANSWER} characters"
        return raw.strip(), None
    if kind == QuestionType.NUMBER:
        number = as_number(raw)
        if number is None:
            return None, f"{shortened(raw)} is not a number"
        if question.min is not None and number < question.min:
            return None, f"must be at least {question.min:g}"
        if question.max is not None and number > question.max:
            return None, f"must be at most {question.max:g}"
        return number, None
    if isinstance(raw, date):
        return raw, None
    try:
        return date.fromisoformat(str(raw)), None
    except ValueError:
        return None, f"{shortened(raw)} is not a date (YYYY-MM-DD)"


def as_number(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw.strip().replace(",", ".").replace("\u202f", "").replace(" ", ""))
        except ValueError:
            return None
    return None


def shortened(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:39] + "…"
