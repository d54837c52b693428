"""What the dialer uses of the CTI service, typed as protocols (the dialer must not import the app's wiring).

`cti.service.CtiService` satisfies `CtiPort`; tests hand in lighter doubles."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Set
from typing import Any, Protocol

from cti.ami_wire import AmiEvent
from cti.events import AgentState


class LinkStats(Protocol):
    connects: int


class AmiLinkPort(Protocol):
    @property
    def ready(self) -> bool: ...

    @property
    def stats(self) -> LinkStats: ...

    @property
    def id_prefix(self) -> str: ...  # before our ChannelIds on this server ("" with one server)

    async def originate(
        self,
        *,
        channel: str,
        context: str,
        exten: str,
        channel_id: str,
        caller_id: str | None = None,
        variables: dict[str, str] | None = None,
        timeout_ms: int = 30_000,
    ) -> str: ...


class TrackedAgent(Protocol):
    endpoint: str
    state: AgentState
    since: float  # wall clock
    queues: Mapping[str, Any]


class TrackedLeg(Protocol):
    endpoint: str | None


class TrackedCall(Protocol):
    legs: Set[str]  # the uniqueids of its legs


class TrackerPort(Protocol):
    @property
    def agents(self) -> Mapping[str, TrackedAgent]: ...  # by endpoint

    @property
    def calls(self) -> Mapping[str, TrackedCall]: ...  # by linkedid

    @property
    def legs(self) -> Mapping[str, TrackedLeg]: ...  # by uniqueid


class AgentInfo(Protocol):
    user_id: int | None


class DirectoryPort(Protocol):
    def get(self, endpoint: str) -> AgentInfo | None: ...


class BusPort(Protocol):
    def subscribe(self, handler: Callable[[Any], None]) -> Any: ...


class ScreenPopPort(Protocol):
    extras: list[Callable[[str], dict[str, Any] | None]]


class RecorderPort(Protocol):
    campaign_of: Callable[[str], int | None]


class CtiSettings(Protocol):
    ami_trunks: Sequence[str]
    default_region: str


class PbxServerPort(Protocol):
    @property
    def channel_limit(self) -> int | None: ...


class PbxUnitPort(Protocol):
    """One Asterisk server of the CTI (cti/pbx_unit.py)."""

    @property
    def name(self) -> str: ...

    @property
    def ready(self) -> bool: ...

    @property
    def owned(self) -> bool: ...  # this node holds its lease `pbx:<name>` (so runs its link)

    @property
    def channels_in_use(self) -> int: ...

    @property
    def server(self) -> PbxServerPort: ...

    @property
    def link(self) -> AmiLinkPort: ...  # the first server's

    @property
    def units(self) -> Sequence[PbxUnitPort]: ...  # one per Asterisk server

    def unit_of(self, interface: str) -> PbxUnitPort: ...  # the server an agent's phone is on


class CtiPort(Protocol):
    """The CTI service as the dialer sees it (read-only members: a service's own types fit them)."""

    raw_listeners: list[Callable[[AmiEvent], None]]

    @property
    def bus(self) -> BusPort: ...

    @property
    def screenpop(self) -> ScreenPopPort: ...

    @property
    def recorder(self) -> RecorderPort: ...

    @property
    def link(self) -> AmiLinkPort: ...  # the first server's

    @property
    def units(self) -> Sequence[PbxUnitPort]: ...  # one per Asterisk server

    def unit_of(self, interface: str) -> PbxUnitPort: ...  # the server an agent's phone is on

    def link_of_call(self, linkedid: str) -> AmiLinkPort: ...  # the link of the server a call is on

    @property
    def tracker(self) -> TrackerPort: ...

    @property
    def directory(self) -> DirectoryPort: ...

    @property
    def settings(self) -> CtiSettings: ...
