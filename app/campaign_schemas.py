"""The campaign API's bodies (shared by the routes, the campaign file of `plateau campaign create` and the
pages)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from app.schemas import ORM, Id, Name, RetentionDays, SoundName, Text
from core.dialer_tables import (
    CampaignState,
    DialMode,
    MachineAction,
)
from cti.recordings import Policy as RecordingPolicy
from dialer.campaigns import (
    DEFAULT_RETRY_RULES,
)


def _bounded(value: datetime) -> datetime:
    """An instant the database and zone arithmetic can hold (years 1971 to 9000)."""
    if not 1971 <= value.year <= 9000:
        raise ValueError("the year must be between 1971 and 9000")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(_bounded)]


# --- campaigns -----------------------------------------------------------------------------------
class CampaignIn(BaseModel):
    name: Name  # type: ignore[valid-type]
    list_ids: list[Id] = Field(default_factory=list, max_length=50)  # type: ignore[valid-type]
    queue_id: int | None = Field(default=None, ge=1, le=2**62)
    team_id: int | None = Field(default=None, ge=1, le=2**62)
    dial_mode: DialMode = DialMode.progressive
    dial_ratio: float = Field(default=1.0, ge=1.0, le=5.0)
    caller_id: Text(32) | None = None  # type: ignore[valid-type]
    script: Text(120) | None = None  # type: ignore[valid-type]
    max_channels: int = Field(default=10, ge=1, le=1000)
    amd_enabled: bool = False
    amd_machine_action: MachineAction = MachineAction.hangup
    retry_rules: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_RETRY_RULES))
    rule_set: Text(64, 1) = "FR-2023"  # type: ignore[valid-type]
    callback_fallback_minutes: int = Field(default=30, ge=0, le=7 * 24 * 60)
    callback_number: Text(32) | None = None  # type: ignore[valid-type]
    machine_message: Text(80) | None = None  # type: ignore[valid-type]
    recording_policy: RecordingPolicy = RecordingPolicy.none
    recording_announcement: SoundName | None = None
    recording_retention_days: RetentionDays | None = None
    survey: bool = False  # the post-call survey is offered on its calls (the desk's button)


class CampaignPatch(BaseModel):
    name: Name | None = None  # type: ignore[valid-type]
    list_ids: list[Id] | None = Field(default=None, max_length=50)  # type: ignore[valid-type]
    queue_id: int | None = Field(default=None, ge=1, le=2**62)
    team_id: int | None = Field(default=None, ge=1, le=2**62)
    dial_mode: DialMode | None = None
    dial_ratio: float | None = Field(default=None, ge=1.0, le=5.0)
    caller_id: Text(32) | None = None  # type: ignore[valid-type]
    script: Text(120) | None = None  # type: ignore[valid-type]
    max_channels: int | None = Field(default=None, ge=1, le=1000)
    amd_enabled: bool | None = None
    amd_machine_action: MachineAction | None = None
    retry_rules: dict[str, Any] | None = None
    rule_set: Text(64, 1) | None = None  # type: ignore[valid-type]
    callback_fallback_minutes: int | None = Field(default=None, ge=0, le=7 * 24 * 60)
    callback_number: Text(32) | None = None  # type: ignore[valid-type]
    machine_message: Text(80) | None = None  # type: ignore[valid-type]
    recording_policy: RecordingPolicy | None = None
    recording_announcement: SoundName | None = None
    recording_retention_days: RetentionDays | None = None
    survey: bool | None = None


class CampaignOut(ORM):
    id: int
    name: str
    list_ids: list[int] = []
    queue_id: int | None
    team_id: int | None
    dial_mode: DialMode
    dial_ratio: float
    caller_id: str | None
    script: str | None
    max_channels: int
    amd_enabled: bool
    amd_machine_action: MachineAction
    retry_rules: dict[str, Any]
    rule_set: str
    callback_fallback_minutes: int
    callback_number: str | None = None
    machine_message: str | None = None
    abandon_message: str | None = None  # uploaded (app/routes/campaign_abandon.py); None: stock prompts
    recording_policy: str = "none"
    recording_announcement: str | None = None
    recording_retention_days: int | None = None
    survey: bool = False
    state: CampaignState
    state_changed_at: datetime | None
    state_changed_by: int | None
    created_at: datetime
    updated_at: datetime


class TransitionIn(BaseModel):
    to: CampaignState


class BlockerOut(BaseModel):
    code: str
    text: str
    at: datetime | None = None
