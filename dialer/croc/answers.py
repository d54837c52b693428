"""The answers: normalised by question type, and what still blocks an outcome or a disposition."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from dialer.croc.interpreter import interpret
from dialer.croc.model import Script
from dialer.croc.values import is_empty, normalise_answer
from dialer.leads_model import AttemptResult


@dataclass(frozen=True, slots=True)
class Blocker:
    """One reason an outcome cannot be saved yet: a required answer (`step_id`, its question's
    `label`) is missing or invalid, or (`step_id` None) the script is not finished."""

    step_id: str | None
    label: str | None

    def message(self) -> str:
        return "the script is not finished" if self.step_id is None else f"answer required: {self.label}"


def outcome_blockers(script: Script, answers: Mapping[str, Any], outcome_id: str) -> list[Blocker]:
    """Why the agent cannot save `outcome_id` with these answers yet (empty: they can).

    Every outcome needs the answers it lists in `requires`; a success also needs the script to have
    ended and every required question on the path answered. Raises KeyError for an unknown outcome.
    """
    outcome = next((o for o in script.outcomes if o.id == outcome_id), None)
    if outcome is None:
        raise KeyError(f"script {script.id!r} has no outcome {outcome_id!r}")
    blockers: list[Blocker] = []
    seen: set[str] = set()

    def need(step_id: str) -> None:
        if step_id not in seen:
            seen.add(step_id)
            blockers.append(Blocker(step_id, script.step(step_id).question.label))  # type: ignore[union-attr]

    for step_id in outcome.requires:
        answer, problem = normalise_answer(script.step(step_id).question, answers.get(step_id))
        if problem or is_empty(answer):
            need(step_id)
    if outcome.action == AttemptResult.SUCCESS:
        view = interpret(script, {}, answers)
        if not view.ended:
            blockers.append(Blocker(None, None))
        for step_id in view.missing:
            need(step_id)
    return blockers


def disposition_blockers(script: Script, answers: Mapping[str, Any], outcome_id: str) -> list[str]:
    """`outcome_blockers` as sentences (an unknown outcome is one blocker too)."""
    try:
        return [b.message() for b in outcome_blockers(script, answers, outcome_id)]
    except KeyError:
        return [f"unknown outcome {outcome_id!r}"]


def normalise_answers(script: Script, answers: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(answers of known steps in their canonical JSON form, step id → why an answer is not valid).

    Unknown step ids are reported as invalid rather than dropped silently: the desk and the script
    disagree, and saving would lose what the agent typed.
    """
    steps = {step.id: step for _, _, step in script.steps()}
    clean: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for step_id, raw in answers.items():
        step = steps.get(step_id)
        if step is None:
            problems[step_id] = "no such step in this script"
            continue
        if step.question is None:
            clean[step_id] = True  # a text-only step: read out, nothing to keep but that it was passed
            continue
        answer, problem = normalise_answer(step.question, raw)
        if problem:
            problems[step_id] = problem
        else:
            clean[step_id] = answer.isoformat() if isinstance(answer, date) else answer
    return clean, problems
