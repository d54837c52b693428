"""Configuration from `PLATEAU_*` environment variables (and an optional `.env`)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

import phonenumbers
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"


class ConfigError(RuntimeError):
    """Start-up configuration is invalid; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLATEAU_", env_file=".env", extra="ignore")

    database_url: str = Field(default=f"sqlite+aiosqlite:///{VAR / 'plateau.db'}")
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)

    ami_host: str = "127.0.0.1"
    ami_port: int = Field(default=5038, ge=1, le=65535)
    ami_user: str = "plateau"
    ami_secret: SecretStr = SecretStr("plateau-dev-secret")
    ami_enabled: bool = True
    ami_trunks: list[str] = Field(default=["trunk"], description="PJSIP endpoints that are carrier trunks")
    ami_ping_interval_s: float = Field(default=5.0, gt=0)
    ami_ping_timeout_s: float = Field(default=3.0, gt=0)
    cpu_nice: int = Field(default=0, ge=-20, le=19, description="the service's nice; see app/cpu_priority.py")
    pop_lookup_timeout_s: float = Field(default=0.25, gt=0, description="a slower store pops without data")
    wrapup_enabled: bool = Field(default=True, description="pause agents after a call until the disposition")
    wrapup_timeout_s: float = Field(default=60.0, ge=0, description="0: wrap-up lasts until the disposition")
    outbound_caller_id: str = '"Plateau" <0100000000>'
    pbx_sip_port: int = Field(default=5160, ge=1, le=65535, description="SIP port of `make run`'s Asterisk")
    agi_host: str = "127.0.0.1"
    agi_port: int = Field(default=4573, ge=1, le=65535)
    # IVR (cti/ivr): the FastAGI server runs the flows of `ivr_flows_dir`; each flow lists the DIDs it
    # answers, `ivr_default_flow` takes the other DIDs (unset: they go straight to their queue).
    ivr_enabled: bool = False
    ivr_flows_dir: Path = ROOT / "ivr_flows"
    ivr_default_flow: str | None = None
    ivr_check_sounds: bool = True  # off when Plateau's host does not have Asterisk's sounds
    # calls the database refuses (their data) are kept here for replay (app/call_history.py)
    history_dead_letter: Path = VAR / "history-dead-letter.jsonl"

    default_region: str = "FR"
    default_language: Literal["fr", "en"] = "fr"
    timezone: str = "Europe/Paris"
    secret_key: SecretStr | None = None

    session_max_age_s: int = Field(default=12 * 3600, ge=60)
    login_rate_limit: int = Field(default=5, ge=1, description="failed logins per window per user+IP")
    login_rate_window_s: int = Field(default=300, ge=1)
    cookie_secure: bool = False

    complaint_ack_working_days: int = Field(default=10, ge=1)
    complaint_answer_months: int = Field(default=2, ge=1)
    complaint_due_soon_days: int = Field(default=2, ge=0)

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, v: str) -> str:
        v = v.upper()
        if v not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {v!r}; use an ISO 3166 code such as FR, MA, DZ, TN")
        return v

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, v: str) -> str:
        if v.startswith("postgresql://") or v.startswith("postgres://"):
            v = "postgresql+asyncpg://" + v.split("://", 1)[1]
        if v.startswith("sqlite:///"):
            v = "sqlite+aiosqlite:///" + v.removeprefix("sqlite:///")
        if not (v.startswith("sqlite+aiosqlite://") or v.startswith("postgresql+asyncpg://")):
            raise ValueError("must be sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB")
        return v

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def secret(self) -> str:
        """The signing key; generated once into `var/secret_key` when not configured."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = VAR / "secret_key"
        if not path.exists():
            VAR.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()

    def masked(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr) or "secret" in name:
                out[name] = "********" if value else None
            elif name == "database_url" and "@" in str(value) and ":" in str(value).split("@")[0][12:]:
                head, tail = str(value).split("@", 1)
                out[name] = head.rsplit(":", 1)[0] + ":********@" + tail
            else:
                out[name] = value
        return out


def load_settings() -> Settings:
    """Build settings, turning pydantic's error into one that names each `PLATEAU_` variable."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            lines.append(f"PLATEAU_{field.upper()}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
