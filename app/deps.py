"""What `app.state` holds, typed, and the dependencies handlers declare with `Annotated` aliases.

The app factory and its lifespan (app/main.py) fill `app.state`; handlers read it only through these
aliases (`db: Db`, `dialer: Dialer`, `ident: Staff`), never with `getattr(request.app.state, ...)`.
The parts a test app may run without (no lifespan, no PBX) are `None` rather than missing.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import State

from app.cluster_bus import ClusterView
from app.login_limits import LoginLimits, limits_of
from app.security import ANY_ROLE, STAFF, Identity, PasswordWork, Role, get_db, require
from app.unhappy_segment import SegmentCache
from app.ws_hub import Hub
from core.bus import interface_of
from core.db import Database
from core.errors import Conflict, Unavailable
from core.settings import Settings
from cti.phones import Provisioner
from cti.queue_provision import QueueProvisioner
from cti.service import CtiService
from dialer.campaign_feed import CampaignFeed
from dialer.engine import DialerService


class AppState:
    """A typed view of `app.state`: every key the application puts there, and what it is."""

    def __init__(self, state: State) -> None:
        self._state = state

    def _get(self, name: str) -> Any:
        return getattr(self._state, name, None)

    # set by the app factory, so always there
    @property
    def settings(self) -> Settings:
        return cast(Settings, self._state.settings)

    @property
    def hub(self) -> Hub:
        return cast(Hub, self._state.hub)

    @property
    def login_limits(self) -> LoginLimits:
        """The sign-in limiter (one node's, or shared through PostgreSQL: app/login_limits.py)."""
        return limits_of(self._state)

    @property
    def passwords(self) -> PasswordWork:
        return cast(PasswordWork, self._state.passwords)

    # set by the lifespan
    @property
    def db(self) -> Database:
        return cast(Database, self._state.db)

    @property
    def cti(self) -> CtiService | None:
        return cast("CtiService | None", self._get("cti"))

    @property
    def cluster(self) -> ClusterView | None:
        """The other nodes' state mirrored here (PLATEAU_CLUSTER_BUS on PostgreSQL), else None."""
        return cast("ClusterView | None", self._get("cluster"))

    @property
    def dialer(self) -> DialerService | None:
        """None without a lifespan; without a PBX the service exists unstarted (nobody is ready)."""
        return cast("DialerService | None", self._get("dialer"))

    @property
    def campaign_feed(self) -> CampaignFeed | None:
        return cast("CampaignFeed | None", self._get("campaign_feed"))

    @property
    def unhappy(self) -> SegmentCache | None:
        """The CTI service's cache of the unhappy-customers segment (the pops read it)."""
        return cast("SegmentCache | None", self._get("unhappy"))

    @property
    def queues(self) -> QueueProvisioner | None:
        """None unless this Plateau provisions the PBX's queues."""
        return cast("QueueProvisioner | None", self._get("queues"))

    @property
    def phones(self) -> Provisioner | None:
        """The private Asterisk's phone provisioner, set by `plateau serve`; else None."""
        return cast("Provisioner | None", self._get("phones"))

    async def apply_phones(self, db: AsyncSession) -> bool:
        """Re-render the phones of the private Asterisk and reload PJSIP, when Plateau runs one (False:
        nothing to apply here)."""
        if self.phones is None:
            return False
        await self.phones.apply(db)
        return True

    def memo(self, name: str, make: Any) -> Any:
        """A per-application cache kept on the state (made on first use)."""
        value = self._get(name)
        if value is None:
            value = make()
            setattr(self._state, name, value)
        return value


def state_of(request: Request) -> AppState:
    """The typed view of the application state a request runs in."""
    return AppState(request.app.state)


def app_state(request: Request) -> AppState:
    return state_of(request)


def settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


def maybe_cti(request: Request) -> CtiService | None:
    return app_state(request).cti


def cti(request: Request) -> CtiService:
    service = app_state(request).cti
    if service is None:
        raise Unavailable("CTI is not running")
    return service


def maybe_dialer(request: Request) -> DialerService | None:
    return app_state(request).dialer


def dialer(request: Request) -> DialerService:
    service = app_state(request).dialer
    if service is None:
        raise Unavailable("the dialer is not running")
    return service


def my_phone(ident: Identity) -> str:
    """The caller's own phone (its PJSIP interface); a Conflict when their account has none."""
    interface = interface_of(ident.user.sip_endpoint)
    if interface is None:
        raise Conflict("your account has no phone (SIP endpoint)")
    return interface


StateDep = Annotated[AppState, Depends(app_state)]
Db = Annotated[AsyncSession, Depends(get_db)]
Config = Annotated[Settings, Depends(settings)]
Cti = Annotated[CtiService, Depends(cti)]
MaybeCti = Annotated[CtiService | None, Depends(maybe_cti)]
Dialer = Annotated[DialerService, Depends(dialer)]
MaybeDialer = Annotated[DialerService | None, Depends(maybe_dialer)]

# who may call: authenticated (401) with one of the roles (403); admins may do everything
AnyRole = Annotated[Identity, Depends(require(*ANY_ROLE))]
Staff = Annotated[Identity, Depends(require(*STAFF))]
Agent = Annotated[Identity, Depends(require(Role.agent, Role.supervisor))]
Supervisor = Annotated[Identity, Depends(require(Role.supervisor, Role.manager))]
Manager = Annotated[Identity, Depends(require(Role.manager))]
Admin = Annotated[Identity, Depends(require())]
