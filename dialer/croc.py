"""CROC agent call scripts: the model, the loader and a pure interpreter.

A script (one YAML file in `scripts/`) has the four CROC sections in order — Contact, Raison de
l'appel, Objectif, Conclusion — each a list of steps. A step shows text with lead variables
(`{first_name}`, `{company}`…), may ask one question (yes/no, single or multiple choice, text,
number, date; optionally required) and moves on by its branches (on the answer), its `next` step,
its `outcome`, or else to the following step. Objection snippets can be opened at any time.
Outcomes map to a disposition code and a dialer action (success, callback, refused, wrong number,
do not call).

Variables are substituted by one regular-expression pass, never `str.format`: a template cannot
reach attributes or indexes, an unknown variable stays visible as `{name}`, and a value is inserted
as inert text (its own braces are not expanded; HTML escaping is the page's job).

The interpreter is a function of (script, variables, answers so far): it replays the path from the
first step, so the desk can send the whole answer set after every click and get the view back.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.model_errors import ContentError, format_loc, format_validation_error, read_yaml
from dialer.leads_model import AttemptResult

SCRIPTS_DIR = Path(__file__).resolve().parent.parent / "scripts"

# Always available to a script: filled from the lead, the contact, the agent and the campaign.
STANDARD_VARIABLES = frozenset(
    {
        "first_name",
        "last_name",
        "civility",
        "company",
        "job_title",
        "phone",
        "email",
        "city",
        "agent_first_name",
        "agent_name",
        "our_company",
        "campaign",
    }
)
_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")
_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
MAX_TEXT_ANSWER = 2000


class SectionKind(enum.StrEnum):
    CONTACT = "contact"
    RAISON = "raison"
    OBJECTIF = "objectif"
    CONCLUSION = "conclusion"


SECTION_ORDER = tuple(SectionKind)


class QuestionType(enum.StrEnum):
    YES_NO = "yes_no"
    SINGLE_CHOICE = "single_choice"
    MULTIPLE_CHOICE = "multiple_choice"
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"


CHOICE_TYPES = frozenset({QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE})
# The dispositions a script may end with (what the dialer does next follows from them).
OUTCOME_ACTIONS = (
    AttemptResult.SUCCESS,
    AttemptResult.CALLBACK,
    AttemptResult.REFUSED,
    AttemptResult.WRONG_NUMBER,
    AttemptResult.DO_NOT_CALL,
    AttemptResult.CONTACT,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(_Strict):
    value: str = Field(pattern=_ID)
    label: str = Field(min_length=1)


class Question(_Strict):
    type: QuestionType
    label: str = Field(min_length=1)
    required: bool = False
    options: list[Option] = Field(default_factory=list)
    min: float | None = None  # numbers only
    max: float | None = None

    @model_validator(mode="after")
    def _options_match_type(self) -> Question:
        if self.type in CHOICE_TYPES and len(self.options) < 2:
            raise ValueError(f"a {self.type} question needs at least two options")
        if self.type not in CHOICE_TYPES and self.options:
            raise ValueError(f"a {self.type} question has no options")
        values = [o.value for o in self.options]
        if len(set(values)) != len(values):
            raise ValueError("option values must be unique")
        return self


class Branch(_Strict):
    """When the answer matches, go to a step or conclude with an outcome."""

    when: Any = None  # a value or a list of values (any matches; for multiple choice: any chosen)
    at_least: float | None = None  # numbers
    at_most: float | None = None
    goto: str | None = None
    outcome: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Branch:
        if (self.goto is None) == (self.outcome is None):
            raise ValueError("a branch has exactly one of 'goto' or 'outcome'")
        if self.when is None and self.at_least is None and self.at_most is None:
            raise ValueError("a branch needs a condition: 'when', 'at_least' or 'at_most'")
        return self

    def values(self) -> list[Any]:
        if self.when is None:
            return []
        return list(self.when) if isinstance(self.when, list) else [self.when]


class Step(_Strict):
    id: str = Field(pattern=_ID)
    text: str = Field(min_length=1)
    hint: str | None = None  # advice for the agent, not read out
    question: Question | None = None
    branches: list[Branch] = Field(default_factory=list)
    next: str | None = None
    outcome: str | None = None  # conclude after this step

    @model_validator(mode="after")
    def _consistent(self) -> Step:
        if self.next is not None and self.outcome is not None:
            raise ValueError("a step has 'next' or 'outcome', not both")
        if self.branches and self.question is None:
            raise ValueError("branches need a question to branch on")
        return self


class Section(_Strict):
    kind: SectionKind
    title: str | None = None
    steps: list[Step] = Field(min_length=1)


class Objection(_Strict):
    id: str = Field(pattern=_ID)
    label: str = Field(min_length=1)
    text: str = Field(min_length=1)


class Outcome(_Strict):
    id: str = Field(pattern=_ID)
    label: str = Field(min_length=1)
    disposition: str = Field(pattern=r"^[A-Z0-9_]{1,16}$")
    action: AttemptResult
    callback_in_days: int | None = Field(default=None, ge=1, le=730)  # proposed callback date
    requires: list[str] = Field(default_factory=list)  # step ids whose answers this outcome needs

    @model_validator(mode="after")
    def _known_action(self) -> Outcome:
        if self.action not in OUTCOME_ACTIONS:
            allowed = ", ".join(a.value for a in OUTCOME_ACTIONS)
            raise ValueError(f"action {self.action.value!r} is not a disposition action ({allowed})")
        if self.callback_in_days is not None and self.action != AttemptResult.CALLBACK:
            raise ValueError("callback_in_days only goes with action 'callback'")
        return self


class Script(_Strict):
    id: str = Field(pattern=_ID)
    title: str = Field(min_length=1)
    language: Literal["fr", "en"]
    description: str = ""
    variables: dict[str, str] = Field(default_factory=dict)  # extra lead fields used: name → meaning
    sections: list[Section]
    objections: list[Objection] = Field(default_factory=list)
    outcomes: list[Outcome] = Field(min_length=1)

    def steps(self) -> list[tuple[int, int, Step]]:
        return [
            (si, i, step) for si, section in enumerate(self.sections) for i, step in enumerate(section.steps)
        ]

    def step(self, step_id: str) -> Step:
        return self._index()[0][step_id]

    def section_of(self, step_id: str) -> SectionKind:
        return self._index()[1][step_id]

    def outcome(self, outcome_id: str) -> Outcome:
        return next(o for o in self.outcomes if o.id == outcome_id)

    def _index(self) -> tuple[dict[str, Step], dict[str, SectionKind]]:
        steps = {s.id: s for _, _, s in self.steps()}
        kinds = {s.id: self.sections[si].kind for si, _, s in self.steps()}
        return steps, kinds


# ---------------------------------------------------------------------------------------------------
# Loading and checking


def parse_script(data: Any, source: str) -> Script:
    """Validate a script document; every error names `source` and the path inside it."""
    if not isinstance(data, Mapping):
        raise ContentError([f"{source}: (top level): a script is a mapping of fields"])
    try:
        script = Script.model_validate(dict(data))
    except ValidationError as exc:
        raise ContentError(format_validation_error(source, exc)) from None
    errors = [f"{source}: {where}: {msg}" for where, msg in _semantic_errors(script)]
    if errors:
        raise ContentError(errors)
    return script


def load_script(path: Path) -> Script:
    return parse_script(read_yaml(path), str(path))


def check_scripts(paths: Iterable[Path]) -> list[str]:
    """One line per problem in the given script files (empty: all good). For `plateau scripts check`."""
    errors: list[str] = []
    seen: dict[str, Path] = {}
    for path in paths:
        try:
            script = load_script(path)
        except ContentError as exc:
            errors.extend(exc.errors)
            continue
        if script.id in seen:
            errors.append(f"{path}: id: {script.id!r} is already the id of {seen[script.id]}")
        seen[script.id] = path
    return errors


def shipped_script_paths() -> list[Path]:
    return sorted(SCRIPTS_DIR.glob("*.yaml"))


def _semantic_errors(script: Script) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    for i, section in enumerate(script.sections):
        if i < len(SECTION_ORDER) and section.kind != SECTION_ORDER[i]:
            errors.append((f"sections[{i}].kind", f"expected {SECTION_ORDER[i].value!r} (CROC order)"))
    if len(script.sections) != len(SECTION_ORDER):
        kinds = ", ".join(k.value for k in SECTION_ORDER)
        errors.append(("sections", f"a CROC script has exactly four sections: {kinds}"))

    where = {step.id: f"sections[{si}].steps[{i}]" for si, i, step in script.steps()}
    steps: dict[str, Step] = {}
    for si, i, step in script.steps():
        if step.id in steps:
            errors.append((f"sections[{si}].steps[{i}].id", f"duplicate step id {step.id!r}"))
        steps.setdefault(step.id, step)
    outcomes = {o.id for o in script.outcomes}
    errors += _duplicates("outcomes", [o.id for o in script.outcomes])
    errors += _duplicates("objections", [o.id for o in script.objections])
    # Answers given earlier in the call can be quoted later: `{rdv_date}` is the answer to step rdv_date.
    asked = {step.id for step in steps.values() if step.question is not None}
    known_vars = STANDARD_VARIABLES | set(script.variables) | asked

    for si, i, step in script.steps():
        path = f"sections[{si}].steps[{i}]"
        errors += _target_errors(f"{path}.next", step.next, None, steps, outcomes)
        errors += _target_errors(f"{path}.outcome", None, step.outcome, steps, outcomes)
        for b, branch in enumerate(step.branches):
            errors += _target_errors(f"{path}.branches[{b}]", branch.goto, branch.outcome, steps, outcomes)
            errors += _condition_errors(f"{path}.branches[{b}]", branch, step.question)
        errors += _variable_errors(f"{path}.text", step.text, known_vars)
        if step.hint:
            errors += _variable_errors(f"{path}.hint", step.hint, known_vars)
    for o, objection in enumerate(script.objections):
        errors += _variable_errors(f"objections[{o}].text", objection.text, known_vars)
    for o, outcome in enumerate(script.outcomes):
        for r, step_id in enumerate(outcome.requires):
            if step_id not in steps:
                errors.append((f"outcomes[{o}].requires[{r}]", f"unknown step {step_id!r}"))
            elif steps[step_id].question is None:
                errors.append((f"outcomes[{o}].requires[{r}]", f"step {step_id!r} asks no question"))

    if not errors and steps:
        order = [step.id for _, _, step in script.steps()]
        reachable = _reachable(order, steps)
        for step_id in order:
            if step_id not in reachable:
                errors.append((where[step_id], f"step {step_id!r} is unreachable"))
    return errors


def _duplicates(path: str, ids: Sequence[str]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    out = []
    for i, value in enumerate(ids):
        if value in seen:
            out.append((f"{path}[{i}].id", f"duplicate id {value!r}"))
        seen.add(value)
    return out


def _target_errors(
    path: str, goto: str | None, outcome: str | None, steps: Mapping[str, Step], outcomes: set[str]
) -> list[tuple[str, str]]:
    if goto is not None and goto not in steps:
        suffix = ".goto" if path.endswith("]") else ""
        return [(path + suffix, f"unknown step {goto!r}")]
    if outcome is not None and outcome not in outcomes:
        suffix = ".outcome" if path.endswith("]") else ""
        return [(path + suffix, f"unknown outcome {outcome!r}")]
    return []


def _condition_errors(path: str, branch: Branch, question: Question | None) -> list[tuple[str, str]]:
    if question is None:
        return []
    numeric = branch.at_least is not None or branch.at_most is not None
    if numeric and question.type != QuestionType.NUMBER:
        return [(path, "'at_least'/'at_most' only apply to number questions")]
    out = []
    for value in branch.values():
        if question.type in CHOICE_TYPES and value not in {o.value for o in question.options}:
            out.append((f"{path}.when", f"{value!r} is not an option of this question"))
        elif question.type == QuestionType.YES_NO and not isinstance(value, bool):
            out.append((f"{path}.when", f"a yes/no answer is true or false, not {value!r}"))
    return out


def _variable_errors(path: str, template: str, known: frozenset[str] | set[str]) -> list[tuple[str, str]]:
    return [
        (path, f"unknown variable {{{name}}} (declare it under 'variables')")
        for name in dict.fromkeys(_VARIABLE.findall(template))
        if name not in known
    ]


def _successors(index: int, order: list[str], steps: Mapping[str, Step]) -> list[str]:
    step = steps[order[index]]
    out = [b.goto for b in step.branches if b.goto]
    if step.next:
        out.append(step.next)
    elif step.outcome is None and index + 1 < len(order):
        out.append(order[index + 1])  # falls through to the following step
    return out


def _reachable(order: list[str], steps: Mapping[str, Step]) -> set[str]:
    position = {step_id: i for i, step_id in enumerate(order)}
    seen, todo = {order[0]}, [order[0]]
    while todo:
        for nxt in _successors(position[todo.pop()], order, steps):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


# ---------------------------------------------------------------------------------------------------
# Rendering


def render(template: str, variables: Mapping[str, Any]) -> str:
    """Fill `{name}` placeholders with values as plain text; unknown or empty ones stay visible."""

    def fill(match: re.Match[str]) -> str:
        value = variables.get(match.group(1))
        if value is None or (isinstance(value, str) and not value.strip()):
            return match.group(0)
        return str(value)

    return _VARIABLE.sub(fill, template)


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
        answer, problem = _normalise(step.question, answers[step.id])
        if problem:
            invalid[step.id] = problem
        if step.question is not None and step.question.required and (problem or _empty(answer)):
            missing.append(step.id)
        path.append(_view(script, step, scope, answer))
        if not problem and not _empty(answer):
            scope = {**scope, step.id: _as_text(answer)}
        goto, outcome = _transition(step, None if problem else answer)
        if outcome is not None:
            return ScriptView(tuple(path), None, tuple(missing), invalid, script.outcome(outcome))
        if goto is not None:
            index = position[goto]
        else:
            index = index + 1 if index + 1 < len(order) else None
    return ScriptView(tuple(path), None, tuple(missing), invalid, None)


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
        answer, problem = _normalise(script.step(step_id).question, answers.get(step_id))
        if problem or _empty(answer):
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
        answer, problem = _normalise(step.question, raw)
        if problem:
            problems[step_id] = problem
        else:
            clean[step_id] = answer.isoformat() if isinstance(answer, date) else answer
    return clean, problems


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


def _empty(answer: Any) -> bool:
    return answer is None or answer == "" or answer == []


def _normalise(question: Question | None, raw: Any) -> tuple[Any, str | None]:
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
        return (raw, None) if ok else (None, f"{_short(raw)} is not one of the options")
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
        number = _number(raw)
        if number is None:
            return None, f"{_short(raw)} is not a number"
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
        return None, f"{_short(raw)} is not a date (YYYY-MM-DD)"


def _number(raw: Any) -> float | None:
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


def _short(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:39] + "…"


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


__all__ = [
    "Blocker",
    "ContentError",
    "Outcome",
    "Script",
    "ScriptView",
    "StepView",
    "check_scripts",
    "disposition_blockers",
    "format_loc",
    "interpret",
    "load_script",
    "normalise_answers",
    "objection_text",
    "outcome_blockers",
    "parse_script",
    "render",
    "shipped_script_paths",
]
