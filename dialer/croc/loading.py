"""Loading CROC scripts: YAML parsed into the model, then the checks a schema cannot make (ids, targets,
conditions, variables, reachability).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.model_errors import ContentError, format_validation_error, read_yaml
from dialer.croc.model import (
    CHOICE_TYPES,
    SCRIPTS_DIR,
    SECTION_ORDER,
    STANDARD_VARIABLES,
    VARIABLE_PATTERN,
    Branch,
    Question,
    QuestionType,
    Script,
    Step,
)

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
        for name in dict.fromkeys(VARIABLE_PATTERN.findall(template))
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
