"""Configuration from `PLATEAU_*` environment variables (and an optional `.env`)."""

from __future__ import annotations

import ipaddress
import re
import secrets
import socket
from functools import lru_cache
from pathlib import Path
from typing import Literal

import phonenumbers
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.lease_rules import LeaseTiming
from core.tabular import Limits
from core.trunks import Trunk, TrunkError, check_trunks

ROOT = Path(__file__).resolve().parent.parent
DEV_AMI_SECRET = "plateau-dev-secret"  # asterisk-conf/'s manager.conf, for the private loopback Asterisk
VAR = ROOT / "var"


class ConfigError(RuntimeError):
    """Start-up configuration is invalid; the message names the variable."""


class TrunkSetting(BaseModel):
    """One carrier trunk of PLATEAU_PBX_TRUNKS (JSON): by address (`host`, `match`) or registering
    (`server`, `username`, `password`); `dids` it brings, `caller_id` presented on calls out of it."""

    model_config = ConfigDict(extra="forbid")
    name: str
    host: str | None = None
    match: list[str] = []
    server: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    dids: list[str] = []
    caller_id: str | None = None

    def trunk(self) -> Trunk:
        return Trunk(
            name=self.name,
            host=self.host,
            match=tuple(self.match),
            server=self.server,
            username=self.username,
            password=self.password.get_secret_value() if self.password else None,
            dids=tuple(self.dids),
            caller_id=self.caller_id,
        )


PBX_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"


class PbxServer(BaseModel):
    """One Asterisk of PLATEAU_PBX_SERVERS (JSON): its manager interface, its carrier trunks (PJSIP endpoints
    whose calls are inbound) and how many channels it may carry (None: no limit; the dialer spreads its
    calls by what is left). `name` is Plateau's label for it (users' `pbx`, `?pbx=`, /healthz); None only for
    the one server built from the `ami_*` settings, which is then named by its Asterisk's SystemName.
    `cdr_file`: that Asterisk's call records (cti/cdr.py) as this node reads them (e.g. a read-only mount of
    its log folder), from which the calls that began and ended while no node followed it are written; None:
    none are (the one server of the `ami_*` settings reads PLATEAU_PBX_CDR_FILE)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, pattern=PBX_NAME)
    ami_host: str = "127.0.0.1"
    ami_port: int = Field(default=5038, ge=1, le=65535)
    ami_user: str = "plateau"
    ami_secret: SecretStr = SecretStr(DEV_AMI_SECRET)
    trunks: list[str] = ["trunk"]
    channel_limit: int | None = Field(default=None, ge=1)
    cdr_file: Path | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLATEAU_", env_file=".env", extra="ignore")

    database_url: str = Field(default=f"sqlite+aiosqlite:///{VAR / 'plateau.db'}")
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)

    ami_host: str = "127.0.0.1"
    ami_port: int = Field(default=5038, ge=1, le=65535)
    ami_user: str = "plateau"
    ami_secret: SecretStr = SecretStr(DEV_AMI_SECRET)
    ami_enabled: bool = True
    ami_trunks: list[str] = Field(default=["trunk"], description="PJSIP endpoints that are carrier trunks")
    ami_ping_interval_s: float = Field(default=5.0, gt=0)
    ami_ping_timeout_s: float = Field(default=3.0, gt=0)
    ami_login_timeout_s: float = Field(
        default=10.0, gt=0, description="a PBX that accepts the connection but never answers Login is dropped"
    )
    # several Asterisk servers (cti/pbx_unit.py); empty: one, from the ami_* settings above
    pbx_servers: list[PbxServer] = []
    cpu_nice: int = Field(default=0, ge=-20, le=19, description="the service's nice; see app/cpu_priority.py")
    pop_lookup_timeout_s: float = Field(default=0.25, gt=0, description="a slower store pops without data")
    wrapup_enabled: bool = Field(default=True, description="pause agents after a call until the disposition")
    wrapup_timeout_s: float = Field(default=60.0, ge=0, description="0: wrap-up lasts until the disposition")
    outbound_caller_id: str = '"Plateau" <0100000000>'
    pbx_sip_port: int = Field(default=5160, ge=1, le=65535, description="SIP port of `make run`'s Asterisk")
    # `make run`'s Asterisk on a real network: the address SIP binds, what it advertises behind NAT, its
    # RTP ports and the carrier trunks (rendered by cti/phones.py at every start).
    pbx_sip_bind: str = "127.0.0.1"
    pbx_external_signaling_address: str | None = None
    pbx_external_media_address: str | None = None
    pbx_local_net: list[str] = []
    pbx_rtp_start: int = Field(default=20000, ge=1024, le=65535)
    pbx_rtp_end: int = Field(default=20999, ge=1024, le=65535)
    # The browser phones' SIP over WebSocket (asterisk-conf/http.conf): ws:// on loopback, wss:// on
    # pbx_sip_bind with the given certificate or a self-signed one; `pbx_ws_url` is what desks connect to
    # (unset: ws://127.0.0.1 for a desk opened on this machine, else wss://<the desk's host>).
    pbx_http_port: int = Field(default=8088, ge=1, le=65535)
    pbx_https_port: int = Field(default=8089, ge=1, le=65535)
    pbx_tls_cert: Path | None = None
    pbx_tls_key: Path | None = None
    pbx_ws_url: str | None = Field(default=None, pattern=r"^wss?://[^\s\"'<>]+$")
    pbx_trunks: list[TrunkSetting] = Field(
        default_factory=lambda: [TrunkSetting(name="trunk", host="127.0.0.2:5064")], min_length=1
    )
    agi_host: str = "127.0.0.1"
    agi_port: int = Field(default=4573, ge=1, le=65535)
    # IVR (cti/ivr): the FastAGI server runs the flows of `ivr_flows_dir`; each flow lists the DIDs it
    # answers, `ivr_default_flow` takes the other DIDs (unset: they go straight to their queue).
    ivr_enabled: bool = False
    ivr_flows_dir: Path = ROOT / "ivr_flows"
    ivr_default_flow: str | None = None
    survey_flow: str = "satisfaction"  # the post-call survey's flow (`[plateau-survey]`, the desk's button)
    ivr_check_sounds: bool = True  # off when Plateau's host does not have Asterisk's sounds
    # calls the database refuses (their data) are kept here for replay (app/call_history.py)
    history_dead_letter: Path = VAR / "history-dead-letter.jsonl"
    # Asterisk's call records (cti/cdr.py): the calls that began and ended while Plateau was down are written
    # from them on (re)connect. Default: `make run`'s private Asterisk; a missing file backfills nothing.
    pbx_cdr_file: Path = VAR / "asterisk" / "log" / "cdr-custom" / "plateau.csv"
    # where Plateau writes the queues it provisions (cti/queue_provision.py) for the PBX to #include; none:
    # queues live in the database only. `plateau serve --with-pbx` (make run): the private Asterisk's.
    pbx_conf_dir: Path | None = None

    # call recordings (cti/recordings.py): the folder Asterisk writes into (shared with it), the days kept
    # when a queue or campaign says none (0: forever), the call rows' own retention (0: forever; older rows
    # lose the caller's number and name, aggregates stay), how often the purge runs
    recordings_dir: Path = VAR / "recordings"
    recording_retention_days: int = Field(default=90, ge=0, le=36500)
    call_metadata_retention_days: int = Field(default=0, ge=0, le=36500)
    recording_purge_interval_s: float = Field(default=3600.0, gt=0)
    # the CROC script answers an agent typed on a call whose outcome was never saved (`script_drafts`): the
    # retention purge deletes those untouched for this long
    script_draft_retention_hours: float = Field(default=24.0, gt=0, le=24 * 366)

    # where Asterisk's Playback finds sounds (the private Asterisk's too): a campaign's uploaded recording is
    # converted into its `plateau/` folder (app/campaign_sounds.py)
    pbx_sounds_dir: Path = Path("/usr/share/asterisk/sounds")

    default_region: str = "FR"
    default_language: Literal["fr", "en"] = "fr"
    timezone: str = "Europe/Paris"
    secret_key: SecretStr | None = None
    # the key of erased persons' tombstones (core/tombstones.py); apart from secret_key, which may be rotated
    tombstone_secret: SecretStr | None = None

    session_max_age_s: int = Field(default=12 * 3600, ge=60)
    login_rate_limit: int = Field(default=5, ge=1, description="failed logins per window per user+IP")
    login_rate_window_s: int = Field(default=300, ge=1)
    login_ip_rate_limit: int = Field(default=50, ge=1, description="failed logins per window per address")
    password_workers: int = Field(default=1, ge=1, le=16, description="argon2 threads; 8 queued per thread")
    # proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (IPs or networks, comma-separated)
    trusted_proxies: str = ""
    cookie_secure: bool = False

    # What one request or uploaded file may cost (app/body_limits.py, core/tabular.py's Limits)
    max_body_bytes: int = Field(default=2 * 2**20, ge=1024, description="a request body (uploads aside)")
    max_upload_bytes: int = Field(default=512 * 2**20, ge=1024, description="a list or DNC upload")
    max_preview_bytes: int = Field(default=32 * 2**20, ge=1024, description="a file sent to lists/preview")
    max_line_chars: int = Field(default=2**20, ge=1024, description="a line of an uploaded CSV")
    max_columns: int = Field(default=200, ge=1, le=16384, description="cells in a row of an upload")
    max_xlsx_unzipped_bytes: int = Field(default=2**30, ge=2**20, description="a workbook, unzipped")
    max_xlsx_shared_strings: int = Field(default=1_000_000, ge=1, description="a workbook's string table")

    # Several nodes on one PostgreSQL database (core/leases.py): this node's name in the leases it holds, how
    # long a renewal holds a lease, how often it is renewed, how long before expiry a holder stops acting
    node_name: str = Field(default_factory=socket.gethostname, min_length=1, max_length=100)
    lease_ttl_s: float = Field(default=15.0, gt=0)
    lease_renew_every_s: float = Field(default=5.0, gt=0)
    lease_margin_s: float = Field(default=2.0, ge=0)
    # Several nodes on one PostgreSQL (core/bus_relay.py): what one node's CTI publishes for the browsers
    # reaches the desks and wallboards connected to the others (LISTEN/NOTIFY). Ignored on SQLite.
    cluster_bus: bool = False
    # with the bus, how often each node sends its full browser-facing state to the others' mirrors; a node
    # silent for three periods is taken as gone and its entries dropped (app/cluster_mirror.py)
    cluster_state_every_s: float = Field(default=5.0, gt=0)

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

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_addresses(cls, v: str) -> str:
        items = [item.strip() for item in v.split(",") if item.strip()]
        for item in items:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                msg = f"{item!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/24)"
                raise ValueError(msg) from None
        return ",".join(items)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @field_validator("pbx_sip_bind")
    @classmethod
    def _ip_address(cls, v: str) -> str:
        try:
            ipaddress.ip_address(v)
        except ValueError:
            raise ValueError(f"{v!r} is not an IP address (0.0.0.0 for every interface)") from None
        return v

    @field_validator("pbx_external_signaling_address", "pbx_external_media_address")
    @classmethod
    def _host(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9.:-]{1,253}", v):
            raise ValueError(f"{v!r} is not an IP address or host name")
        return v

    @field_validator("pbx_local_net")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        for net in v:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"{net!r} is not a network such as 192.168.1.0/24") from None
        return v

    @field_validator("pbx_trunks")
    @classmethod
    def _trunks(cls, v: list[TrunkSetting]) -> list[TrunkSetting]:
        try:
            check_trunks([t.trunk() for t in v])
        except TrunkError as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("pbx_servers")
    @classmethod
    def _servers(cls, v: list[PbxServer]) -> list[PbxServer]:
        names = [server.name for server in v]
        if any(name is None for name in names):
            raise ValueError("each server needs a name (letters, digits, - and _)")
        doubles = sorted({name for name in names if names.count(name) > 1 and name is not None})
        if doubles:
            raise ValueError(f"server names must differ; {', '.join(doubles)} given twice")
        return v

    def pbx_list(self) -> list[PbxServer]:
        """The Asterisk servers Plateau speaks to: PLATEAU_PBX_SERVERS, or one from the ami_* settings."""
        if self.pbx_servers:
            return list(self.pbx_servers)
        return [
            PbxServer(
                ami_host=self.ami_host,
                ami_port=self.ami_port,
                ami_user=self.ami_user,
                ami_secret=self.ami_secret,
                trunks=self.trunk_names,
                cdr_file=self.pbx_cdr_file,
            )
        ]

    @model_validator(mode="after")
    def _rtp_range(self) -> Settings:
        if self.pbx_rtp_end <= self.pbx_rtp_start:
            raise ValueError(
                f"PLATEAU_PBX_RTP_END ({self.pbx_rtp_end}) must be above PLATEAU_PBX_RTP_START "
                f"({self.pbx_rtp_start})"
            )
        return self

    @model_validator(mode="after")
    def _lease_timing(self) -> Settings:
        problems = LeaseTiming(self.lease_ttl_s, self.lease_renew_every_s, self.lease_margin_s).problems()
        if problems:
            raise ValueError(f"PLATEAU_LEASE_TTL_S, _RENEW_EVERY_S, _MARGIN_S: {'; '.join(problems)}")
        return self

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.pbx_tls_cert is None) != (self.pbx_tls_key is None):
            raise ValueError("PLATEAU_PBX_TLS_CERT and PLATEAU_PBX_TLS_KEY go together: give both or neither")
        for name, path in (("CERT", self.pbx_tls_cert), ("KEY", self.pbx_tls_key)):
            if path is not None and not path.is_file():
                raise ValueError(f"PLATEAU_PBX_TLS_{name}: {path} is not a readable file")
        return self

    @property
    def trunk_names(self) -> list[str]:
        """Every PJSIP endpoint that is a carrier trunk."""
        return sorted({*self.ami_trunks, *(t.name for t in self.pbx_trunks)})

    def table_limits(self) -> Limits:
        """What reading one uploaded file may cost (core/tabular.py)."""
        return Limits(
            max_line_chars=self.max_line_chars,
            max_columns=self.max_columns,
            max_unzipped_bytes=self.max_xlsx_unzipped_bytes,
            max_shared_strings=self.max_xlsx_shared_strings,
        )

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

    def tombstone_key(self) -> bytes:
        """The tombstones' hash key; generated once into `var/tombstone_key` when not configured. Changing it
        forgets every tombstone (erased persons could be imported again)."""
        if self.tombstone_secret is not None:
            return self.tombstone_secret.get_secret_value().encode()
        path = VAR / "tombstone_key"
        if not path.exists():
            VAR.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip().encode()

    def masked(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr) or "secret" in name:
                out[name] = "********" if value else None
            elif name == "pbx_trunks":
                out[name] = [{**t, "password": "********" if t.get("password") else None} for t in value]
            elif name == "pbx_servers":
                out[name] = [{**p, "ami_secret": "********"} for p in value]
            elif name == "database_url":
                out[name] = mask_url(str(value))
            else:
                out[name] = value
        return out

    @model_validator(mode="after")
    def _no_public_dev_secret(self) -> Settings:
        """The default AMI secret is in this repository: fine for the private Asterisk on loopback that
        `make run` starts, a manager login for anyone who reads the code on any other host."""
        if self.ami_enabled and self.ami_secret.get_secret_value() == DEV_AMI_SECRET:
            if not _is_loopback(self.ami_host) and not self.pbx_servers:
                raise ValueError(
                    f"PLATEAU_AMI_SECRET: the development default is public; with PLATEAU_AMI_HOST="
                    f"{self.ami_host} (not loopback) set the secret of that Asterisk's manager.conf"
                )
        for server in self.pbx_servers if self.ami_enabled else []:
            if server.ami_secret.get_secret_value() == DEV_AMI_SECRET and not _is_loopback(server.ami_host):
                raise ValueError(
                    f"PLATEAU_PBX_SERVERS ({server.name}): the development default secret is public; with "
                    f"ami_host {server.ami_host} (not loopback) set its manager.conf secret"
                )
        return self


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


_URL_PASSWORD = re.compile(r"((?:^|&)[^=&]*(?:password|secret)[^=&]*=)[^&]*", re.IGNORECASE)


def mask_url(url: str) -> str:
    """A database URL with its password hidden, from the user part or the query (`?password=`), even
    when the password holds `@`, `:` or `/`; works on URLs too broken to parse."""
    head, q, query = url.partition("?")
    scheme, sep, rest = head.partition("://")
    if sep and "@" in rest:
        userinfo, host = rest.rsplit("@", 1)
        user, colon, _ = userinfo.partition(":")
        head = f"{scheme}://{user}{':********' if colon else ''}@{host}"
    return head + q + _URL_PASSWORD.sub(r"\1********", query)


def load_settings() -> Settings:
    """Build settings, turning pydantic's error into one that names each `PLATEAU_` variable."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = str(err["msg"]).removeprefix("Value error, ")
            if not err["loc"]:  # a rule between settings: its message names them
                lines.append(msg)
                continue
            field, *inner = (str(part) for part in err["loc"])
            where = f" (at {'.'.join(inner)})" if inner else ""
            value = err.get("input")
            # a trunk's password or a secret is never echoed back, nor a password inside the database URL
            if field in ("pbx_trunks", "pbx_servers") or "secret" in field:
                got = ""
            elif field == "database_url" and isinstance(value, str):
                got = f" (got {mask_url(value)!r})"
            else:
                got = f" (got {value!r})"
            lines.append(f"PLATEAU_{field.upper()}{where}: {msg}{got}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
