"""What the CTI shell needs from the application, as Protocols declared here, on the consumer's side.

The screen pop (caller lookup, complaints, surveys), the call history and the agent-state log are the
application's features: app/cti_wiring.py (the composition root) builds them around the running service and
hands them in, so cti imports no feature and the features may use all of cti.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.bus import Message
from core.db import Database
from core.directory import AgentDirectory
from core.settings import Settings
from cti.events import CallRecord, Direction


class Publisher(Protocol):
    """Where messages for the browsers go (app/ws_hub.py's Hub)."""

    def publish(self, message: Message) -> None: ...


class ScreenPopPort(Protocol):
    """The agent's screen pop: follows the bus, names the caller on the wallboard, replays to browsers."""

    def on_event(self, event: Any) -> None: ...
    async def warm(self) -> None: ...
    async def close(self) -> None: ...
    def contact_name(self, linkedid: str) -> str | None: ...
    def pops(self) -> list[dict[str, Any]]: ...


class HistoryPort(Protocol):
    """The call history writer: calls ended (or left in progress by a killed run) become rows."""

    written: int
    recovered: dict[str, dict[str, Any]]
    adopting: set[str]  # leases of the servers whose link was gained: their notes read after the snapshot

    def on_event(self, event: Any) -> None: ...
    async def load_open(self) -> None: ...
    def hold_notes(self, prefix: str) -> None: ...
    async def take_notes(self, prefix: str) -> int: ...
    def close_gap(
        self, prefix: str, live: set[str], found: list[CallRecord], seen: set[str], now: float
    ) -> list[CallRecord]: ...
    def forget(self, prefix: str) -> None: ...
    async def last_ended_at(self, prefix: str = "") -> float | None: ...
    async def unwritten(self, linkedids: list[str]) -> set[str]: ...
    def start(self) -> None: ...
    async def stop(self) -> None: ...
    def health(self) -> dict[str, Any]: ...


class StateLogPort(Protocol):
    """The agent-state log writer: each agent's state periods become rows."""

    def on_event(self, event: Any) -> None: ...
    def start(self) -> None: ...
    async def stop(self) -> None: ...


class CtiShell(Protocol):
    """What a feature may read of the service while it is being built."""

    settings: Settings
    db: Database
    hub: Publisher
    directory: AgentDirectory

    def direction_of(self, linkedid: str) -> Direction | None: ...


@dataclass
class CtiFeatures:
    """The features subscribed to the bus (in this order: pop, state log, history), and the background jobs
    the service runs while it runs (e.g. refreshing what the pop shows)."""

    screenpop: ScreenPopPort
    history: HistoryPort
    state_log: StateLogPort
    background: list[Callable[[], Awaitable[object]]] = field(default_factory=list)


FeaturesFactory = Callable[[CtiShell], CtiFeatures]
