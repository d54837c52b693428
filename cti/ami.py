"""The AMI link: the only module that imports panoramisk, and the place where its 1.4 defects are fixed.

panoramisk keeps the connection, login, reconnect and the ActionID bookkeeping. Around it
(reference/asterisk-ami.md §0–§1.3):

- bytes are read by `cti.ami_wire.AmiReader`: incremental UTF-8, every event validated, forged ones dropped;
- every event goes through one ordered queue; a handler that raises is logged and counted, never fatal;
- our own ping with a deadline detects a dead or hung PBX; reconnects back off up to `backoff_max`;
- the Login has a deadline too: a PBX caught mid-restart can accept the connection and never answer it,
  and panoramisk would wait on that socket forever;
- a refused login is an error in the log and in `/healthz`, and is retried like a lost connection;
- with `identify`, the PBX's SystemName (Action CoreSettings) is read before the link counts as up, and a
  name `identify` refuses (empty, or another server's) keeps the link down, said in `/healthz`;
- actions still unanswered when the link drops fail at once: panoramisk would resend them after the next
  `FullyBooted`, and a stale Originate placed minutes later is a wrong call to a customer;
- QueueAdd & co. resolve on their one-line reply (1.4 waits forever for a list that never comes);
- every value written is checked for CR, LF and NUL, which would let a value smuggle in a second action;
- after login and on `FullyBooted`, `CoreShowChannels` and `QueueStatus` are queued in stream order so the
  consumer rebuilds its state from them before it sees later events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from panoramisk import Manager  # the only import of panoramisk in Plateau
from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from cti.ami_wire import AmiError, AmiEvent, AmiReader, AmiResponse, AmiUnavailable

log = logging.getLogger(__name__)

_FORBIDDEN = ("\r", "\n", "\x00")


def check_value(key: str, value: object) -> str:
    text = str(value)
    if any(c in text for c in _FORBIDDEN) or any(c in key for c in (*_FORBIDDEN, ":")):
        raise ValueError(f"AMI field {key!r} contains a line break or NUL; refused")
    return text


@dataclass(frozen=True, slots=True)
class ChannelsSnapshot:
    channels: list[dict[str, str]]


@dataclass(frozen=True, slots=True)
class QueuesSnapshot:
    members: list[dict[str, str]]
    entries: list[dict[str, str]]


@dataclass(frozen=True, slots=True)
class LinkState:
    """Connection changes, in stream order with the events (the consumer learns of a cut in sequence)."""

    up: bool
    reason: str = ""


@dataclass
class DevicesSnapshot:
    """`DeviceStateList`: the device state of every device Asterisk knows (phones: registered or not)."""

    devices: list[dict[str, str]]


QueueItem = AmiEvent | ChannelsSnapshot | QueuesSnapshot | DevicesSnapshot | LinkState


class _Action(Action):
    @property
    def multi(self) -> bool:
        # Only real lists are multi-part. 1.4 also takes "Added interface to queue" and an Async Originate's
        # "successfully queued" for lists; we want their one-line reply (the outcome comes from events).
        resp = self.responses[0]
        if self.as_list is not None:
            return bool(self.as_list)
        return resp.get("EventList") == "start" or "will follow" in str(resp.get("Message", "")).lower()


def _action_values(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, list | tuple):
            out[key] = [check_value(key, v) for v in value]
        else:
            out[key] = check_value(key, value)
    return out


@dataclass
class AmiStats:
    connected: bool = False
    authenticated: bool = False
    last_error: str | None = None
    since: float = field(default_factory=time.time)
    connects: int = 0
    events: int = 0
    handler_errors: int = 0
    unmatched_responses: int = 0
    ping_timeouts: int = 0
    login_timeouts: int = 0
    last_event_at: float | None = None


class _Protocol(AMIProtocol):
    def __init__(self, link: AmiLink) -> None:
        super().__init__()
        self.link = link
        self.lost_early = False

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.link.reader.reset()

    def connection_lost(self, exc: Any) -> None:
        if self.factory is None:
            # Closed by the peer before panoramisk attached us (it does so in a callback one loop turn after
            # the connect): 1.4 raises here and never dials again. The manager learns of it when it attaches.
            self.lost_early = self.closed = True
            return
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        try:
            for msg in self.link.reader.feed(data):
                if isinstance(msg, AmiResponse):
                    self._route(msg.headers)
                elif msg.headers.get("ActionID") and msg.headers["ActionID"] in self.responses:
                    self._route(msg.headers)
                else:
                    self.link._on_event(msg)
                    if msg.name == "Shutdown":
                        self.connection_lost(None)
                        return
        except Exception:  # never let one bad chunk close the connection
            self.link.stats.handler_errors += 1
            log.exception("ami: failed to process %d bytes", len(data))

    def _route(self, headers: dict[str, Any]) -> None:
        message = Message(headers)
        action = self.responses.get(message.id) or (
            message.action_id and self.responses.get(message.action_id)
        )
        if action is None:
            self.link.stats.unmatched_responses += 1
            return
        self.handle_message(message)
        self.link._after_response(action)

    def close(self) -> None:
        super().close()
        factory = self.factory
        if factory is not None:  # fail what panoramisk would resend after the next FullyBooted
            while factory.awaiting_actions:
                action = factory.awaiting_actions.popleft()
                if not action.future.done():
                    action.future.set_exception(AmiUnavailable("AMI connection lost before the reply"))


class _Manager(Manager):
    def __init__(self, link: AmiLink, **config: Any) -> None:
        super().__init__(**config)
        self.link = link

    def login(self, future: asyncio.Future[Any]) -> bool:
        try:
            resp = future.result()
        except Exception as exc:
            resp = None
            self.link._login_failed(f"login: {exc}")
            return False
        ok = super().login(future)
        if not ok:
            self.link._login_failed(f"login refused: {resp.get('Message', '') if resp else ''}".strip())
        return ok

    def ping(self) -> None:  # replaced by AmiLink's watchdog, which checks the reply
        return None

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        if not f.cancelled() and f.exception() is None:
            _, protocol = f.result()
            if getattr(protocol, "lost_early", False):  # hung up at once (a PBX going down): as a refusal
                self.link._lost_before_login("the PBX closed the connection at once")
                self.loop.call_later(self.reconnect_timeout, self.connect)
                return
        super().connection_made(f)

    def connection_lost(self, exc: Any) -> None:
        self.link._on_lost(exc)
        super().connection_lost(exc)


class AmiLink:
    """One connection to one PBX. `consume` receives events and snapshots in stream order."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        consume: Callable[[QueueItem], None],
        *,
        ping_interval: float = 5.0,
        ping_timeout: float = 3.0,
        backoff_min: float = 0.5,
        backoff_max: float = 10.0,
        action_timeout: float = 5.0,
        login_timeout: float = 10.0,
        require_timestamp: bool = True,
        identify: Callable[[str], str | None] | None = None,
        namespaced: bool = False,
    ) -> None:
        self.host, self.port, self.username, self._secret = host, port, username, secret
        self.consume = consume
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.backoff_min, self.backoff_max = backoff_min, backoff_max
        self.action_timeout = action_timeout
        self.login_timeout = login_timeout
        self.reader = AmiReader(require_timestamp=require_timestamp)
        self.stats = AmiStats()
        self.queue: asyncio.Queue[QueueItem] = asyncio.Queue()
        self._manager: _Manager | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._backoff = backoff_min
        self._logged_in = asyncio.Event()
        self._snapshot_actions: dict[str, str] = {}
        self._stopping = False
        self.identify = identify  # SystemName → None, or why this PBX is refused
        self.system_name: str | None = None  # its asterisk.conf `systemname`, read at login
        self.namespaced = namespaced  # one of several servers: our ChannelIds carry its systemname too

    @property
    def id_prefix(self) -> str:
        """Before the ChannelIds of our originates: the server's systemname with several servers (so a call
        Plateau places is found on its server like the others), nothing with one (as before)."""
        return f"{self.system_name}-" if self.namespaced and self.system_name else ""

    # -- lifecycle ---------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = False  # a link stopped may be started again (its server's lease taken back)
        loop = asyncio.get_running_loop()
        self._manager = _Manager(
            self,
            host=self.host,
            port=self.port,
            username=self.username,
            secret=self._secret,
            loop=loop,
            events="on",
            ping_delay=3600,
            ping_interval=3600,
            reconnect_timeout=self._backoff,
            protocol_factory=lambda: _Protocol(self),
        )
        self._manager.on_login = self._on_login
        self._manager.on_connect = self._on_connect
        self._tasks = [
            asyncio.create_task(self._consumer(), name="ami-consumer"),
            asyncio.create_task(self._watchdog(), name="ami-watchdog"),
        ]
        self._connect()

    def _connect(self) -> None:
        if self._stopping or self._manager is None:
            return
        task = self._manager.connect()

        def _done(t: asyncio.Future[Any]) -> None:
            if not t.cancelled() and t.exception() is not None:
                self.stats.last_error = f"cannot connect to {self.host}:{self.port}: {t.exception()}"
                log.warning("ami: %s", self.stats.last_error)
                self._grow_backoff()

        task.add_done_callback(_done)

    async def stop(self) -> None:
        self._stopping = True
        # not ready from this instant (a lost lease fences here), before the socket's close is noticed
        self._logged_in.clear()
        self.stats.connected = self.stats.authenticated = False
        if self._manager is not None:
            self._manager.reconnect_timeout = 3600
            self._manager.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def wait_ready(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._logged_in.wait(), timeout)
            return True
        except TimeoutError:
            return False

    @property
    def ready(self) -> bool:
        return self._logged_in.is_set()

    # -- panoramisk callbacks ------------------------------------------------------------------------------
    def _on_connect(self, manager: Manager) -> None:
        self.stats.connected = True
        self.stats.connects += 1
        asyncio.get_running_loop().call_later(self.login_timeout, self._login_deadline, manager.protocol)

    def _login_deadline(self, protocol: AMIProtocol | None) -> None:
        manager = self._manager
        if self._stopping or manager is None or protocol is None or manager.protocol is not protocol:
            return
        if self._logged_in.is_set() or not self.stats.connected:  # logged in, or already lost and redialling
            return
        self.stats.login_timeouts += 1
        self.stats.last_error = f"no reply to Login within {self.login_timeout:g}s"
        log.error("ami: %s from %s:%s; dropping the connection", self.stats.last_error, self.host, self.port)
        if protocol.closed:  # closed without panoramisk hearing of it: nothing else would ever redial
            manager.connection_lost(None)
        else:
            protocol.transport.abort()  # → connection_lost → reconnect after the backoff

    def _lost_before_login(self, reason: str) -> None:
        self.stats.last_error = reason
        log.warning("ami: %s (%s:%s); reconnecting in %.1fs", reason, self.host, self.port, self._backoff)
        if self._manager is not None:
            self._manager.reconnect_timeout = self._backoff
        self._grow_backoff()

    def _on_login(self, manager: Manager) -> None:
        if self.identify is None:
            self._logged_up()
            return
        protocol = manager.protocol
        action = self._send("CoreSettings", {}, as_list=False)

        def _identified(f: asyncio.Future[Any]) -> None:
            if f.cancelled() or self._stopping or manager.protocol is not protocol or self.identify is None:
                return
            reply = f.result() if f.exception() is None else None
            first = reply[0] if isinstance(reply, list) else reply
            self.system_name = str(first.get("SystemName", "")) if first is not None else ""
            refusal = self.identify(self.system_name)
            if refusal is None:
                self._logged_up()
                return
            self.stats.authenticated = False
            self.stats.last_error = refusal
            self._backoff = self.backoff_max  # nothing changes until the PBX is reconfigured: retry slowly
            log.error("ami: %s:%s refused: %s", self.host, self.port, refusal)
            if protocol is not None:
                protocol.transport.close()  # → connection_lost → reconnect after the backoff

        action.future.add_done_callback(_identified)

    def _logged_up(self) -> None:
        self.stats.authenticated = True
        self.stats.last_error = None
        self.stats.since = time.time()
        self._backoff = self.backoff_min
        if self._manager is not None:
            self._manager.reconnect_timeout = self._backoff
        self._logged_in.set()
        log.info("ami: logged in to %s:%s", self.host, self.port)
        self.queue.put_nowait(LinkState(True))
        self._request_snapshot()

    def _login_failed(self, reason: str) -> None:
        self.stats.authenticated = False
        self.stats.last_error = reason
        log.error("ami: %s (user %r at %s:%s); retrying", reason, self.username, self.host, self.port)
        self._grow_backoff()
        if self._manager is not None and self._manager.protocol is not None:
            self._manager.protocol.transport.close()  # → connection_lost → reconnect after the backoff

    def _on_lost(self, exc: Any) -> None:
        was_up = self._logged_in.is_set()
        self.stats.connected = self.stats.authenticated = False
        self._logged_in.clear()
        self._snapshot_actions.clear()
        if not self._stopping:
            if self.stats.last_error is None or was_up:
                self.stats.last_error = f"connection lost: {exc!s}"[:300] if exc else "connection lost"
            log.warning("ami: %s; reconnecting in %.1fs", self.stats.last_error, self._backoff)
        if was_up:
            self.queue.put_nowait(LinkState(False, self.stats.last_error or ""))
        if self._manager is not None:
            self._manager.reconnect_timeout = self._backoff
        self._grow_backoff()

    def _grow_backoff(self) -> None:
        self._backoff = min(self.backoff_max, self._backoff * 2)
        if self._manager is not None:
            self._manager.reconnect_timeout = self._backoff

    def _on_event(self, event: AmiEvent) -> None:
        self.stats.events += 1
        self.stats.last_event_at = time.time()
        self.queue.put_nowait(event)
        if event.name == "FullyBooted" and self._logged_in.is_set():
            self._request_snapshot()

    # -- snapshot in stream order --------------------------------------------------------------------------
    def _request_snapshot(self) -> None:
        for name in ("CoreShowChannels", "QueueStatus", "DeviceStateList"):
            action = self._send(name, {}, as_list=None)
            self._snapshot_actions[action.id] = name
            action.future.add_done_callback(lambda f: f.exception() if not f.cancelled() else None)

    def _after_response(self, action: Action) -> None:
        kind = self._snapshot_actions.get(action.id)
        if kind is None or not action.future.done() or action.future.exception() is not None:
            return
        del self._snapshot_actions[action.id]
        result = action.future.result()
        items = [dict(m.items()) for m in (result if isinstance(result, list) else [result])]
        if kind == "CoreShowChannels":
            self.queue.put_nowait(ChannelsSnapshot([i for i in items if i.get("Event") == "CoreShowChannel"]))
        elif kind == "DeviceStateList":
            devices = [i for i in items if i.get("Event") == "DeviceStateChange"]
            self.queue.put_nowait(DevicesSnapshot(devices))
        else:
            self.queue.put_nowait(
                QueuesSnapshot(
                    [i for i in items if i.get("Event") == "QueueMember"],
                    [i for i in items if i.get("Event") == "QueueEntry"],
                )
            )

    # -- consumer and watchdog -----------------------------------------------------------------------------
    async def _consumer(self) -> None:
        while True:
            item = await self.queue.get()
            try:
                self.consume(item)
            except Exception:
                self.stats.handler_errors += 1
                log.exception("ami: handler failed on %s", getattr(item, "name", type(item).__name__))

    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            if not self._logged_in.is_set():
                continue
            try:
                await self.send("Ping", timeout=self.ping_timeout)
            except AmiError as exc:
                self.stats.ping_timeouts += 1
                self.stats.last_error = f"no reply to Ping within {self.ping_timeout}s ({exc})"
                log.error("ami: %s; dropping the connection", self.stats.last_error)
                if self._manager is not None and self._manager.protocol is not None:
                    self._manager.protocol.transport.abort()

    # -- actions -------------------------------------------------------------------------------------------
    def _send(self, name: str, fields: dict[str, Any], as_list: bool | None) -> Action:
        if self._manager is None or self._manager.protocol is None or self._manager.protocol.closed:
            raise AmiUnavailable("not connected to the PBX")
        values = _action_values({"Action": name, **fields})
        values["ActionID"] = f"plateau-{secrets.token_hex(8)}"  # unguessable: a forged reply cannot match
        action = _Action(values, as_list=as_list)
        self._manager.send_action(action, as_list=as_list)
        return action

    async def send(
        self, name: str, *, timeout: float | None = None, as_list: bool | None = None, **fields: Any
    ) -> Any:
        """Send one action; its reply (or list of replies). Raises AmiError when refused or lost."""
        if not self._logged_in.is_set() and name not in ("Ping",):
            raise AmiUnavailable(self.stats.last_error or "not logged in to the PBX")
        action = self._send(name, fields, as_list)
        try:
            reply = await asyncio.wait_for(asyncio.shield(action.future), timeout or self.action_timeout)
        except TimeoutError:
            self._forget(action)
            raise AmiError(f"{name}: no reply within {timeout or self.action_timeout}s") from None
        first = reply[0] if isinstance(reply, list) else reply
        if first.get("Response") in ("Error", "Failure", "Fail"):
            raise AmiError(f"{name}: {first.get('Message', 'refused')}")
        return reply

    def _forget(self, action: Action) -> None:
        if self._manager is not None and self._manager.protocol is not None:
            self._manager.protocol.responses.pop(action.id, None)

    async def originate(
        self,
        *,
        channel: str,
        context: str,
        exten: str,
        channel_id: str,
        priority: int = 1,
        caller_id: str | None = None,
        variables: dict[str, str] | None = None,
        timeout_ms: int = 30_000,
        other_channel_id: str | None = None,
    ) -> str:
        """Always Async with our own ChannelId, so the outcome is followed on that Uniqueid's events.

        Sent once: if the link drops before Asterisk replies, this raises instead of being resent later.
        """
        fields: dict[str, Any] = {
            "Channel": channel,
            "Context": context,
            "Exten": exten,
            "Priority": priority,
            "Async": "true",
            "ChannelId": channel_id,
            "Timeout": timeout_ms,
        }
        if other_channel_id:
            fields["OtherChannelId"] = other_channel_id
        if caller_id:
            fields["CallerID"] = caller_id
        if variables:
            fields["Variable"] = [f"{check_value('Variable', k)}={v}" for k, v in variables.items()]
        await self.send("Originate", **fields)
        return channel_id

    def status(self) -> dict[str, Any]:
        s = self.stats
        return {
            "ok": s.authenticated,
            "system_name": self.system_name,
            "connected": s.connected,
            "authenticated": s.authenticated,
            "host": self.host,
            "port": self.port,
            "error": s.last_error,
            "since": s.since,
            "connects": s.connects,
            "events": s.events,
            "dropped_events": dict(Counter(self.reader.dropped)),
            "handler_errors": s.handler_errors,
            "ping_timeouts": s.ping_timeouts,
            "login_timeouts": s.login_timeouts,
            "unmatched_responses": s.unmatched_responses,
            "last_event_at": s.last_event_at,
        }
