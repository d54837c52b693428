"""IVR flows: the YAML format and its Pydantic model (loaded by `cti/ivr/flows.py`, checked by `checks.py`).

A flow is one file in `ivr_flows/` (its name is the file stem): a language, the DIDs it answers, a
start node and a mapping of nodes. Each node has a `type` and names the node(s) that follow. Nodes
that end the IVR (queue, transfer, voicemail, hangup) are exits; every other node must lead to one.

The post-call survey is a flow too (`satisfaction.yaml`): `collect` nodes read the scores into `csat`
and `nps`, `record` keeps a spoken comment, `survey` stores them with the call. A flow that sets
`survey_optin: true` before a queue exit asks the dialplan to send the caller to the survey when the agent
hangs up first.

Checks beyond the schema, each reported as `file: nodes.<id>.<field>: message`:
- every reference names an existing node;
- every node is reachable from `start`;
- every node can reach an exit, and no cycle runs without waiting for the caller (such a loop
  would spin forever on the same variables).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from cti.ivr.hours import Schedule

FLOWS_DIR = Path(__file__).resolve().parent.parent.parent / "ivr_flows"
SOUNDS_DIR = Path("/usr/share/asterisk/sounds")

_ID = r"^[a-z0-9][a-z0-9_-]{0,49}$"
_VAR = r"^[a-z_][a-z0-9_]{0,49}$"
# A sound is a path under Asterisk's sounds dir, without extension; no '..', no absolute path, nothing
# that could smuggle a second AGI argument (spaces, quotes).
_SOUND = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_/-]{0,119}$")
DTMF_KEYS = "0123456789*#"


def _sound(s: str) -> str:
    if not _SOUND.match(s) or "//" in s:
        raise ValueError(f"sound {s!r} must be a path like 'digits/1' (letters, digits, _ - /)")
    return s


Sound = Annotated[str, AfterValidator(_sound)]
# One sound or a list of sounds played in order.
SoundList = Annotated[list[Sound], BeforeValidator(lambda v: [v] if isinstance(v, str) else v)]


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str = ""  # shown in the agent's pop and in reports ("facturation")

    def edges(self) -> Iterator[tuple[str, str]]:
        """(field path, target node id) for every node this one can lead to."""
        return iter(())

    @property
    def is_exit(self) -> bool:
        return False

    @property
    def waits_for_caller(self) -> bool:
        return False


class Play(_Node):
    type: Literal["play"]
    sounds: SoundList
    next: str

    def edges(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next


class Say(_Node):
    """Say a value digit by digit or as a number: `value: "{account}"` or a literal."""

    type: Literal["say"]
    say: Literal["digits", "number"] = "digits"
    value: str = Field(min_length=1, max_length=80)
    next: str

    def edges(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next


class Choice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    next: str
    label: str = ""


class Menu(_Node):
    type: Literal["menu"]
    prompt: SoundList
    choices: dict[str, Choice] = Field(min_length=1)
    timeout_s: float = Field(default=5, gt=0, le=60)
    retries: int = Field(default=3, ge=1, le=9, description="attempts before on_failure")
    invalid_sound: Sound = "pm-invalid-option"
    timeout_sound: Sound | None = None
    on_failure: str  # the default exit after `retries` invalid or missing inputs

    @field_validator("choices", mode="before")
    @classmethod
    def _keys(cls, v: Any) -> Any:
        if isinstance(v, Mapping):
            v = {str(k): c for k, c in v.items()}  # YAML reads `1:` as an integer
            for k in v:
                if len(k) != 1 or k not in DTMF_KEYS:
                    raise ValueError(f"choice key {k!r} must be one key among {DTMF_KEYS}")
        return v

    def edges(self) -> Iterator[tuple[str, str]]:
        for key, c in self.choices.items():
            yield f"choices.{key}.next", c.next
        yield "on_failure", self.on_failure

    @property
    def waits_for_caller(self) -> bool:
        return True


class Collect(_Node):
    """Collect digits into a variable (account, order number), checked by length, regex and Luhn."""

    type: Literal["collect"]
    var: str = Field(pattern=_VAR)
    prompt: SoundList
    min_digits: int = Field(default=1, ge=1, le=32)
    max_digits: int = Field(default=16, ge=1, le=32)
    terminator: Literal["#", "*", ""] = "#"
    timeout_s: float = Field(default=8, gt=0, le=60)
    pattern: str | None = None
    luhn: bool = False
    sensitive: bool = False  # card numbers, PINs: masked in the history (PCI-DSS)
    retries: int = Field(default=3, ge=1, le=9)
    invalid_sound: Sound = "pm-invalid-option"
    next: str
    on_failure: str

    @field_validator("pattern")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"pattern is not a valid regular expression: {exc}") from None
        return v

    @model_validator(mode="after")
    def _lengths(self) -> Collect:
        if self.min_digits > self.max_digits:
            raise ValueError("min_digits is larger than max_digits")
        return self

    def edges(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next
        yield "on_failure", self.on_failure

    @property
    def waits_for_caller(self) -> bool:
        return True


SCHEDULE_NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"  # a row of `business_hours`, edited at /admin/hours


class Hours(_Node):
    """`schedule_name`: the schedule edited in the browser, read at run time; `schedule`: the one written
    here, used when no schedule of that name is stored (or when the flow names none)."""

    type: Literal["hours"]
    schedule: Schedule | None = None
    schedule_name: str | None = Field(default=None, pattern=SCHEDULE_NAME)
    open: str
    closed: str
    holiday: str | None = None  # defaults to `closed`

    def edges(self) -> Iterator[tuple[str, str]]:
        yield "open", self.open
        yield "closed", self.closed
        if self.holiday is not None:
            yield "holiday", self.holiday

    @model_validator(mode="after")
    def _some_schedule(self) -> Hours:
        if self.schedule is None and self.schedule_name is None:
            raise ValueError("an hours node needs `schedule`, `schedule_name` or both")
        return self


class Lookup(_Node):
    """The data dip: sets `known`, `tier`, `open_complaint`, `customer_name`, `contact_id`."""

    type: Literal["lookup"]
    next: str

    def edges(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next


Scalar = str | int | bool
_OPERATORS = ("equals", "not_equals", "one_of", "is_set", "matches")


class Condition(BaseModel):
    """One test on a variable; `all`/`any` combine tests. Exactly one operator per test."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    var: str | None = Field(default=None, pattern=_VAR)
    equals: Scalar | None = None
    not_equals: Scalar | None = None
    one_of: list[Scalar] | None = None
    is_set: bool | None = None
    matches: str | None = None
    all: list[Condition] | None = None
    any: list[Condition] | None = None

    @model_validator(mode="after")
    def _shape(self) -> Condition:
        ops = [k for k in _OPERATORS if getattr(self, k) is not None]
        combos = [k for k in ("all", "any") if getattr(self, k) is not None]
        if combos:
            if ops or self.var is not None or len(combos) > 1:
                raise ValueError("`all`/`any` stand alone (no var, no operator beside them)")
        elif self.var is None or len(ops) != 1:
            raise ValueError(f"a test needs `var` and exactly one of {', '.join(_OPERATORS)}")
        if self.matches is not None:
            try:
                re.compile(self.matches)
            except re.error as exc:
                raise ValueError(f"matches is not a valid regular expression: {exc}") from None
        return self


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    when: Condition
    next: str


class Branch(_Node):
    type: Literal["branch"]
    cases: list[Case] = Field(min_length=1)
    default: str

    def edges(self) -> Iterator[tuple[str, str]]:
        for i, c in enumerate(self.cases):
            yield f"cases[{i}].next", c.next
        yield "default", self.default


class SetVars(_Node):
    type: Literal["set"]
    values: dict[str, Scalar] = Field(min_length=1)
    next: str

    @field_validator("values")
    @classmethod
    def _names(cls, v: dict[str, Scalar]) -> dict[str, Scalar]:
        for k in v:
            if not re.match(_VAR, k):
                raise ValueError(f"variable name {k!r} must be lower-case letters, digits and _")
        return v

    def edges(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next


class QueueNode(_Node):
    """Wait for an agent. Higher priority is answered first (VIP ahead); after `max_wait_s` the caller
    goes to `on_timeout` when set (e.g. a callback offer), else hears a sorry message and is released."""

    type: Literal["queue"]
    queue: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,79}$")
    priority: int = Field(default=0, ge=0, le=100)
    max_wait_s: int = Field(default=600, ge=5, le=7200)
    on_timeout: str | None = None

    def edges(self) -> Iterator[tuple[str, str]]:
        if self.on_timeout is not None:
            yield "on_timeout", self.on_timeout

    @property
    def is_exit(self) -> bool:
        return True


class Callback(_Node):
    """Offer a callback instead of waiting: confirm the caller ID (1) or type another number (2)."""

    type: Literal["callback"]
    queue: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,79}$")
    mode: Literal["agent", "anyone"] = "anyone"  # the agent of the call only, or anyone in the queue
    confirm_prompt: SoundList = Field(default_factory=lambda: ["to-call-this-number"])
    confirm_keys_prompt: SoundList = Field(default_factory=lambda: ["if-correct-press", "digits/1"])
    enter_prompt: SoundList = Field(default_factory=lambda: ["vm-enter-num-to-call"])
    timeout_s: float = Field(default=6, gt=0, le=60)
    retries: int = Field(default=3, ge=1, le=9)
    invalid_sound: Sound = "pm-invalid-option"
    next: str
    on_failure: str

    def edges(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next
        yield "on_failure", self.on_failure

    @property
    def waits_for_caller(self) -> bool:
        return True


class RecordComment(_Node):
    """Record what the caller says to a file (a survey's comment), then go on: `var` holds the file's path.
    Unlike voicemail it is not an exit: hanging up mid-comment keeps what was said and the flow still
    saves it."""

    type: Literal["record"]
    prompt: SoundList = Field(default_factory=lambda: ["vm-rec-temp"])
    max_s: int = Field(default=60, ge=3, le=300)
    var: str = Field(default="comment", pattern=_VAR)
    next: str

    def edges(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next

    @property
    def waits_for_caller(self) -> bool:
        return True


class SurveySave(_Node):
    """Store the post-call survey's answers with the call: the variables `csat` (1–5), `nps` (0–10) and
    `comment` (a recording's path), each optional. Saving twice (the scores, then the comment) completes
    the same answer."""

    type: Literal["survey"]
    next: str

    def edges(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next


class Voicemail(_Node):
    type: Literal["voicemail"]
    prompt: SoundList = Field(default_factory=lambda: ["vm-intro"])
    max_s: int = Field(default=120, ge=5, le=600)

    @property
    def is_exit(self) -> bool:
        return True


class Transfer(_Node):
    type: Literal["transfer"]
    number: str = Field(pattern=r"^\+?[0-9]{3,20}$")

    @property
    def is_exit(self) -> bool:
        return True


class Hangup(_Node):
    type: Literal["hangup"]
    sounds: SoundList = Field(default_factory=list)

    @property
    def is_exit(self) -> bool:
        return True


Node = Annotated[
    Play
    | Say
    | Menu
    | Collect
    | Hours
    | Lookup
    | Branch
    | SetVars
    | QueueNode
    | Callback
    | RecordComment
    | SurveySave
    | Voicemail
    | Transfer
    | Hangup,
    Field(discriminator="type"),
]
NODE_TYPES = (
    "play",
    "say",
    "menu",
    "collect",
    "hours",
    "lookup",
    "branch",
    "set",
    "queue",
    "callback",
    "record",
    "survey",
    "voicemail",
    "transfer",
    "hangup",
)


class Flow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = ""  # set from the file name by the loader
    title: str = ""
    language: Literal["fr", "en"] = "fr"
    dids: list[str] = Field(default_factory=list)
    start: str
    nodes: dict[str, Node] = Field(min_length=1)

    @field_validator("dids", mode="before")
    @classmethod
    def _dids(cls, v: Any) -> Any:
        if isinstance(v, list):
            v = [str(d) for d in v]
            for d in v:
                if not re.match(r"^\+?[0-9]{2,20}$", d):
                    raise ValueError(f"DID {d!r} must be digits")
        return v

    @field_validator("nodes", mode="before")
    @classmethod
    def _ids(cls, v: Any) -> Any:
        if isinstance(v, Mapping):
            for k in v:
                if not isinstance(k, str) or not re.match(_ID, k):
                    raise ValueError(f"node id {k!r} must be lower-case letters, digits, _ or -")
        return v

    def node(self, node_id: str) -> Any:
        return self.nodes[node_id]

    def schedule_names(self) -> frozenset[str]:
        """The stored schedules this flow reads at run time (its hours nodes' `schedule_name`)."""
        return frozenset(
            n.schedule_name for n in self.nodes.values() if isinstance(n, Hours) and n.schedule_name
        )
