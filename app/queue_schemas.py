"""The one schema of a queue and of a member's skill: the API, the admin page's forms and the CLI
(`plateau queue add|member`) all validate through these, so each refuses the same things with the same
field errors."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from app.kpi import SlVariant
from app.schemas import ORM, Id, Label, RetentionDays, SoundName, Text
from cti.queues_conf import SKILL_MAX, SKILL_MIN, STRATEGIES, name_problem
from cti.recordings import Policy as RecordingPolicy

Strategy = Literal[STRATEGIES]  # type: ignore[valid-type]


def _queue_name(v: str) -> str:
    problem = name_problem(v)
    if problem:
        raise ValueError(problem)
    return v


QueueName = Annotated[str, StringConstraints(max_length=80), AfterValidator(_queue_name)]
Did = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9]{2,20}$")]
Skill = Annotated[int, Field(ge=SKILL_MIN, le=SKILL_MAX)]


class QueueSettings(BaseModel):
    """What an admin may change on a queue (everything but its name is also in QueuePatch)."""

    model_config = ConfigDict(extra="forbid")
    display_name: Label  # type: ignore[valid-type]
    team_id: Id | None = None  # type: ignore[valid-type]
    strategy: Strategy = "rrmemory"
    wrapup_s: Annotated[int, Field(ge=0, le=3600)] = 0
    # KPI settings (definitions in app/kpi.py and the README): the service level's threshold, formula and
    # target, and the abandons too short to count
    service_level_s: Annotated[int, Field(ge=1, le=3600)] = 20
    sl_variant: SlVariant = SlVariant.short_abandons_excluded
    sl_target_pct: Annotated[int, Field(ge=1, le=100)] = 80
    short_abandon_s: Annotated[int, Field(ge=0, le=600)] = 5
    max_wait_s: Annotated[int, Field(ge=5, le=86400)] | None = None
    overflow: QueueName | None = None
    did: Did | None = None  # type: ignore[valid-type]
    script: Text(120) | None = None  # type: ignore[valid-type]
    # call recordings (cti/recordings.py) and the post-call survey offered on its calls
    recording_policy: RecordingPolicy = RecordingPolicy.none
    recording_announcement: SoundName | None = None
    recording_retention_days: RetentionDays | None = None
    survey: bool = False


class QueueIn(QueueSettings):
    name: QueueName


class QueuePatch(BaseModel):
    """Fields left out stay as they are; `null` clears the optional ones (max wait, overflow, DID)."""

    model_config = ConfigDict(extra="forbid")
    name: QueueName | None = None
    display_name: Label | None = None  # type: ignore[valid-type]
    team_id: Id | None = None  # type: ignore[valid-type]
    strategy: Strategy | None = None
    wrapup_s: Annotated[int, Field(ge=0, le=3600)] | None = None
    service_level_s: Annotated[int, Field(ge=1, le=3600)] | None = None
    sl_variant: SlVariant | None = None
    sl_target_pct: Annotated[int, Field(ge=1, le=100)] | None = None
    short_abandon_s: Annotated[int, Field(ge=0, le=600)] | None = None
    max_wait_s: Annotated[int, Field(ge=5, le=86400)] | None = None
    overflow: QueueName | None = None
    did: Did | None = None  # type: ignore[valid-type]
    script: Text(120) | None = None  # type: ignore[valid-type]
    recording_policy: RecordingPolicy | None = None
    recording_announcement: SoundName | None = None
    recording_retention_days: RetentionDays | None = None
    survey: bool | None = None


NOT_NULL = frozenset(QueueIn.model_fields) - {
    "team_id",
    "max_wait_s",
    "overflow",
    "did",
    "script",
    "recording_announcement",
    "recording_retention_days",
}


class QueueOut(ORM):
    id: int
    name: str
    display_name: str
    team_id: int | None
    strategy: str
    wrapup_s: int
    service_level_s: int
    sl_variant: str
    sl_target_pct: int
    short_abandon_s: int
    max_wait_s: int | None
    overflow: str | None
    did: str | None
    script: str | None
    recording_policy: str
    recording_announcement: str | None
    recording_retention_days: int | None
    survey: bool


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: Id  # type: ignore[valid-type]
    skill: Skill


class SkillIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    skill: Skill


class MemberOut(BaseModel):
    queue: str
    user_id: int
    username: str
    display_name: str
    skill: int
    live: bool  # logged into this queue right now (the change reached Asterisk at once)
