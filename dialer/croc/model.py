"""The CROC script model: sections, questions, steps with branches, objections and outcomes (pydantic,
strict).
"""

from __future__ import annotations

import enum
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dialer.leads_model import AttemptResult

SCRIPTS_DIR = Path(__file__).resolve().parents[2] / "scripts"

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
VARIABLE_PATTERN = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")
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
