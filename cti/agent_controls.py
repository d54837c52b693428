"""What agents and supervisors ask of the PBX through the service: log in and out, pause, hang up, transfer,
hold, record, call, listen in.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from cti.ami_wire import AUTO_ANSWER, AmiError, AmiUnavailable
from cti.numbers import InvalidNumber, parse
from cti.tracker import reachable

SPY_MODES = ("listen", "whisper", "barge")


class ControlError(RuntimeError):
    """A call control the agent may not do now (no such call, not theirs)."""


class PhoneNotRegistered(RuntimeError):
    """The agent's phone has no registration: they cannot be offered calls."""


# (lease of the server, control, its arguments) → the control's result on the node that runs the server
Forward = Callable[[str, str, dict[str, Any]], Awaitable[Any]]
# what a control done on another node may raise here again, by name (anything else comes back an AmiError)
FORWARDED_ERRORS: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in (ControlError, PhoneNotRegistered, AmiError, AmiUnavailable, InvalidNumber, ValueError)
}


def forwarded_error_name(exc: BaseException) -> str:
    """The name an error raised on the node that did a control goes back under: its own class's, or its
    nearest base's that the asking node raises again (an AmiError there, when none is)."""
    for cls in type(exc).__mro__:
        if FORWARDED_ERRORS.get(cls.__name__) is cls:
            return cls.__name__
    return type(exc).__name__


def raised_again(name: str, message: str) -> Exception:
    """The error a control done on another node failed with, as the asking node raises it: its class by name
    (an AmiError when unknown here) with the owner's message as it was (some classes, InvalidNumber, are not
    built from a message alone)."""
    cls = FORWARDED_ERRORS.get(name, AmiError)
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    return exc


FORWARDABLE: set[str] = set()  # the controls another node may ask this one to do
C = TypeVar("C", bound=Callable[..., Awaitable[Any]])


def on_the_owner(by: str = "interface") -> Callable[[C], C]:
    """The control runs on the node that runs the PBX link of argument `by`'s server: here, or forwarded
    over the bus (several nodes) and its result or error given back."""

    def wrap(method: C) -> C:
        signature = inspect.signature(method)
        FORWARDABLE.add(method.__name__)

        @functools.wraps(method)
        async def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            arguments = signature.bind(self, *args, **kwargs).arguments
            arguments.pop("self")
            unit = self.unit_of(arguments[by])
            if unit.owned or self.leases.local or self.forward is None:
                return await method(self, *args, **kwargs)
            return await self.forward(unit.lease, method.__name__, dict(arguments))

        return run  # type: ignore[return-value]

    return wrap


class AgentControls:
    """Agent and supervisor controls, each checked against the tracker's state before the AMI action."""

    forward: Forward | None = None  # several nodes: a control for a server another node runs goes there

    async def run_forwarded(self, control: str, arguments: dict[str, Any]) -> Any:
        """A control another node forwarded here (this node runs the server): done as if asked here; if
        this node no longer runs it, refused like any control without its link (never forwarded again)."""
        if control not in FORWARDABLE:
            raise ControlError(f"not a control: {control}")
        method = getattr(type(self), control).__wrapped__
        return await method(self, **arguments)

    # -- agent controls -----------------------------------------------------------------------------------
    async def check_phone(self, interface: str) -> None:
        """An agent whose phone is not registered may not take calls: the queue would ring nothing.
        Unknown to the tracker yet (just connected, never seen), Asterisk is asked."""
        agent = self.tracker.agents.get(interface)
        registered = agent.registered if agent is not None else None
        if registered is None:
            reply = await self.link_for(interface).send("DeviceStateList")
            states = {
                str(i.get("Device")): str(i.get("State"))
                for i in (reply if isinstance(reply, list) else [reply])
                if i.get("Event") == "DeviceStateChange"
            }
            registered = reachable(states.get(interface, ""))
        if not registered:
            raise PhoneNotRegistered(
                f"your phone ({interface.removeprefix('PJSIP/')}) is not registered: start your softphone "
                "or desk phone and sign it in with its own SIP user and password, then try again"
            )

    @on_the_owner()
    async def login(self, interface: str, member_name: str, queues: Mapping[str, int]) -> None:
        """Join each queue with the agent's penalty there (their skill, cti/queues_conf.py)."""
        await self.check_phone(interface)
        for queue, penalty in sorted(queues.items()):
            await self.join_queue(interface, member_name, queue, penalty)

    async def join_queue(self, interface: str, member_name: str, queue: str, penalty: int) -> None:
        try:
            await self.link_for(interface).send(
                "QueueAdd",
                Queue=queue,
                Interface=interface,
                MemberName=member_name,
                StateInterface=interface,
                Penalty=penalty,
                Paused="false",
            )
        except AmiError as exc:
            if "Already there" not in str(exc):
                raise
            # already a member (a second login, or astdb kept them): the penalty is still today's
            await self.link_for(interface).send(
                "QueuePenalty", Queue=queue, Interface=interface, Penalty=penalty
            )

    @on_the_owner()
    async def logout(self, interface: str) -> None:
        agent = self.tracker.agents.get(interface)
        for queue in list(agent.queues if agent else []):
            with contextlib.suppress(AmiError):
                await self.link_for(interface).send("QueueRemove", Queue=queue, Interface=interface)

    @on_the_owner()
    async def pause(self, interface: str, reason: str) -> None:
        await self.link_for(interface).send("QueuePause", Interface=interface, Paused="true", Reason=reason)

    @on_the_owner()
    async def ready(self, interface: str) -> None:
        await self.check_phone(interface)
        timer = self._wrapup_timers.pop(interface, None)
        if timer is not None:
            timer.cancel()
        await self.link_for(interface).send("QueuePause", Interface=interface, Paused="false")

    def _own_channel(self, interface: str, linkedid: str) -> str:
        channel = self.tracker.leg_of(linkedid, interface)
        if channel is None:
            raise ControlError("no such call on your phone")
        return channel

    @on_the_owner()
    async def hangup(self, interface: str, linkedid: str) -> None:
        channel = self._own_channel(interface, linkedid)
        await self.link_for(interface).send("Hangup", Channel=channel, Cause=16)

    @on_the_owner()
    async def transfer(self, interface: str, linkedid: str, target: str, attended: bool) -> None:
        channel = self._own_channel(interface, linkedid)
        exten = self.transfer_exten(target)
        if attended:
            await self.link_for(interface).send(
                "Atxfer", Channel=channel, Exten=exten, Context="plateau-transfer"
            )
        else:
            await self.link_for(interface).send(
                "BlindTransfer", Channel=channel, Exten=exten, Context="plateau-transfer"
            )

    def transfer_exten(self, target: str) -> str:
        """An agent extension (7001…) as it is, any other number in E.164 (validated, never raw)."""
        target = target.strip()
        if target.isdigit() and len(target) == 4 and target.startswith("7"):
            return target
        return parse(target, self.settings.default_region).e164

    @on_the_owner()
    async def hold(self, interface: str, linkedid: str) -> None:
        channel = self._own_channel(interface, linkedid)
        customer = self.tracker.other_leg(linkedid, interface)
        if customer is None:
            raise ControlError("nobody to hold on this call")
        await self.link_for(interface).send(
            "Redirect",
            Channel=customer,
            ExtraChannel=channel,
            Context="plateau-hold",
            Exten="customer",
            ExtraContext="plateau-hold",
            ExtraExten="agent",
            Priority=1,
            ExtraPriority=1,
        )

    @on_the_owner()
    async def send_to_survey(self, interface: str, linkedid: str) -> None:
        """The customer goes to the post-call survey (`[plateau-survey]`); the agent's leg ends with the
        bridge. The call keeps its Linkedid, so the answers are stored with it."""
        self._own_channel(interface, linkedid)
        customer = self.tracker.other_leg(linkedid, interface)
        if customer is None:
            raise ControlError("nobody to survey on this call")
        await self.link_for(interface).send(
            "Redirect", Channel=customer, Context="plateau-survey", Exten="s", Priority=1
        )

    def queue_of(self, linkedid: str) -> str | None:
        call = self.tracker.calls.get(linkedid)
        return call.queue if call is not None else None

    @on_the_owner()
    async def unhold(self, interface: str, linkedid: str) -> None:
        channel = self._own_channel(interface, linkedid)
        customer = self.tracker.other_leg(linkedid, interface)
        if customer is None:
            raise ControlError("nobody on hold on this call")
        await self.link_for(interface).send("Bridge", Channel1=customer, Channel2=channel, Tone="no")

    @on_the_owner()
    async def pause_recording(self, interface: str, linkedid: str, paused: bool, user_id: int | None) -> None:
        """Pause (or resume) the recording of the agent's own call: it runs on the caller's channel."""
        self._own_channel(interface, linkedid)
        customer = self.tracker.other_leg(linkedid, interface)
        if customer is None:
            raise ControlError("no recording on this call")
        await self.recorder.mute(customer, linkedid, paused, user_id=user_id, source="desk")

    @on_the_owner()
    async def start_recording(self, interface: str, linkedid: str, user_id: int | None) -> None:
        """Start the `on_demand` recording of the agent's own call (it waits muted since the bridge)."""
        self._own_channel(interface, linkedid)
        try:
            await self.recorder.start(linkedid, user_id=user_id)
        except LookupError as exc:
            raise ControlError(str(exc)) from None

    @on_the_owner()
    async def click_to_call(self, interface: str, number: str, caller_id: str | None = None) -> str:
        """Ring the agent's phone first, then the customer. Returns the call's ChannelId (its Linkedid)."""
        e164 = parse(number, self.settings.default_region).e164
        link = self.link_for(interface)
        channel_id = f"{link.id_prefix}c2c-{uuid.uuid4().hex[:16]}"
        await link.originate(
            channel=interface,
            context="plateau-click-to-call",
            exten=e164,
            channel_id=channel_id,
            caller_id=caller_id or self.settings.outbound_caller_id,
            timeout_ms=30_000,
            variables=AUTO_ANSWER,  # the agent asked for this call: their browser phone takes it at once
        )
        return channel_id

    @on_the_owner(by="target")
    async def spy(self, supervisor: str, target: str, mode: str) -> str:
        """Ring the supervisor's phone into ChanSpy on the agent's channel: listen, whisper or barge."""
        if mode not in SPY_MODES:
            raise ValueError(f"mode: one of {', '.join(SPY_MODES)}")
        if self.tracker.call_of_agent(target) is None:
            raise ControlError("this agent is not on a call")
        link = self.link_for(target)  # ChanSpy sees the channels of its own server: the agent's
        channel_id = f"{link.id_prefix}spy-{uuid.uuid4().hex[:16]}"
        await link.originate(
            channel=supervisor,
            context="plateau-spy",
            exten=mode,
            channel_id=channel_id,
            caller_id=f'"Supervision" <{mode}>',
            variables={"SPY_TARGET": target, **AUTO_ANSWER},
            timeout_ms=20_000,
        )
        return channel_id
