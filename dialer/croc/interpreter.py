"""The pure interpreter: a script, lead variables and the answers so far replayed into the view the desk
shows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from dialer.croc.model import VARIABLE_PATTERN, Branch, Outcome, Question, Script, SectionKind, Step
from dialer.croc.values import is_empty, normalise_answer

# ---------------------------------------------------------------------------------------------------
# Rendering


def render(template: str, variables: Mapping[str, Any]) -> str:
    """Fill `{name}` placeholders with values as plain text; unknown or empty ones stay visible."""

    def fill(match: re.Match[str]) -> str:
        value = variables.get(match.group(1))
        if value is None or (isinstance(value, str) and not value.strip()):
            return match.group(0)
        return str(value)

    return VARIABLE_PATTERN.sub(fill, template)


# ---------------------------------------------------------------------------------------------------
# Interpreter


@dataclass(frozen=True, slots=True)
class StepView:
    id: str
    section: SectionKind
    text: str
    hint: str | None
    question: Question | None
    answer: Any


@dataclass(frozen=True, slots=True)
class ScriptView:
    path: tuple[StepView, ...]  # the steps passed, in order
    current: StepView | None  # the step waiting for the agent; None once the script has ended
    missing: tuple[str, ...]  # required questions on the path without a valid answer
    invalid: Mapping[str, str]  # step id → why its answer is not valid
    outcome: Outcome | None  # the outcome the script concluded with, if it did

    @property
    def ended(self) -> bool:
        return self.current is None


def interpret(script: Script, variables: Mapping[str, Any], answers: Mapping[str, Any]) -> ScriptView:
    """Replay the script from its first step with `answers` (step id → answer; a text-only step is
    passed when its id is in `answers`, with any value) and return where the call stands."""
    order = [step.id for _, _, step in script.steps()]
    position = {step_id: i for i, step_id in enumerate(order)}
    path: list[StepView] = []
    invalid: dict[str, str] = {}
    missing: list[str] = []
    index: int | None = 0
    visited: set[str] = set()
    scope: dict[str, Any] = dict(variables)
    while index is not None:
        step = script.step(order[index])
        if step.id in visited:  # a loop back (e.g. "ask again"): stop on the step to ask it again
            return ScriptView(tuple(path), _view(script, step, scope, None), tuple(missing), invalid, None)
        visited.add(step.id)
        if step.id not in answers:
            view = _view(script, step, scope, None)
            return ScriptView(tuple(path), view, tuple(missing), invalid, None)
        answer, problem = normalise_answer(step.question, answers[step.id])
        if problem:
            invalid[step.id] = problem
        if step.question is not None and step.question.required and (problem or is_empty(answer)):
            missing.append(step.id)
        path.append(_view(script, step, scope, answer))
        if not problem and not is_empty(answer):
            scope = {**scope, step.id: _as_text(answer)}
        goto, outcome = _transition(step, None if problem else answer)
        if outcome is not None:
            return ScriptView(tuple(path), None, tuple(missing), invalid, script.outcome(outcome))
        if goto is not None:
            index = position[goto]
        else:
            index = index + 1 if index + 1 < len(order) else None
    return ScriptView(tuple(path), None, tuple(missing), invalid, None)


def objection_text(script: Script, objection_id: str, variables: Mapping[str, Any]) -> str:
    for objection in script.objections:
        if objection.id == objection_id:
            return render(objection.text, variables)
    raise KeyError(f"script {script.id!r} has no objection {objection_id!r}")


def _view(script: Script, step: Step, variables: Mapping[str, Any], answer: Any) -> StepView:
    hint = render(step.hint, variables) if step.hint else None
    return StepView(
        step.id, script.section_of(step.id), render(step.text, variables), hint, step.question, answer
    )


def _as_text(answer: Any) -> str:
    if isinstance(answer, bool):
        return "oui" if answer else "non"
    if isinstance(answer, float):
        return f"{answer:g}"
    if isinstance(answer, date):
        return answer.strftime("%d/%m/%Y")
    if isinstance(answer, list):
        return ", ".join(answer)
    return str(answer)


def _transition(step: Step, answer: Any) -> tuple[str | None, str | None]:
    """(step to go to, outcome to conclude with); (None, None) means the following step."""
    if answer is not None:
        for branch in step.branches:
            if _matches(branch, answer):
                return branch.goto, branch.outcome
    if step.outcome is not None:
        return None, step.outcome
    return step.next, None


def _matches(branch: Branch, answer: Any) -> bool:
    if isinstance(answer, float):
        if branch.at_least is not None and answer < branch.at_least:
            return False
        if branch.at_most is not None and answer > branch.at_most:
            return False
        return not branch.values() or answer in branch.values()
    chosen = answer if isinstance(answer, list) else [answer]
    return any(value in chosen for value in branch.values())
