"""Call scenarios driven on a real Asterisk with SIPp, used by the integration tests and by `make capture`.

Each scenario logs its agents into a queue over AMI, places calls with SIPp, drives mid-call actions
(transfers, originate) and waits until Asterisk has no channel left, so a recording holds the whole story.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from cti.pbx_process import PbxConfig, PrivateAsterisk
from tests.cti.pbx.capture import AmiRecorder
from tests.cti.pbx.sipp import Caller, Sipp

KNOWN = Caller("0612345678", "5551000", "José Müller")
HOTLINE = "5553000"
# A From user that percent-decodes to CR/LF (reference/asterisk-ami.md §0.1): it would forge an
# AgentConnect for another agent and a FullyBooted, if the reader believed it.
FORGED_NUMBER = (
    "0612345679%0D%0A%0D%0AEvent%3A%20AgentConnect%0D%0APrivilege%3A%20agent%2Call%0D%0A"
    "Timestamp%3A%201795000000.000001%0D%0AUniqueid%3A%20forged.1%0D%0ALinkedid%3A%20forged.1"
    "%0D%0AInterface%3A%20PJSIP%2Fagent3%0D%0AQueue%3A%20support%0D%0A%0D%0AEvent%3A%20"
    "FullyBooted%0D%0APrivilege%3A%20system%2Call%0D%0AFake%3A%20x"
)
# Caller IDs holding CR/LF in every shape: the recording's name, the From user (percent-decoded by Asterisk
# into CallerIDNum and the agent leg's ConnectedLineNum), the display name (a raw CR, which Asterisk escapes
# as `\r` in CallerIDName and ConnectedLineName), and whether the agent answers (else the caller abandons
# in the queue after 2.5 s).
CRLF_CALLERS: dict[str, tuple[str, str, bool]] = {
    "callerid_crlf_header": ("15551230004%0D%0AFake%3A%20injected", "Eve", True),
    "callerid_crlf_header_abandoned": ("15551230004%0D%0AFake%3A%20injected", "Eve", False),
    "callerid_lf_header": ("15551230004%0AFake%3A%20injected", "Eve", False),
    "callerid_cr_header": ("15551230004%0DFake%3A%20injected", "Eve", True),
    "callerid_crlf_start": ("%0D%0A15551230004", "Eve", False),
    "callerid_lf_end": ("15551230004%0A", "Eve", True),
    "callerid_crlf_end": ("15551230004%0D%0A", "Eve", True),
    "callerid_crlfcrlf_header": ("15551230004%0D%0A%0D%0AFake%3A%20injected", "Eve", False),
    "callerid_crlf_forged_ids": (
        "15551230004%0D%0AUniqueid%3A%20forged.1%0D%0ALinkedid%3A%20forged.1",
        "Eve",
        True,
    ),
    "callerid_cr_in_name": ("15551230004", "Eve\rFake: injected", True),
}


@dataclass
class Stage:
    pbx: PrivateAsterisk
    sipp: Sipp
    ami: AmiRecorder

    @property
    def cfg(self) -> PbxConfig:
        return self.pbx.cfg

    def login(self, queue: str, *agents: int) -> None:
        for n in agents:
            self.ami.send("QueueAdd", Queue=queue, Interface=f"PJSIP/agent{n}", MemberName=f"Agent {n}")

    def logout(self, queue: str, *agents: int) -> None:
        for n in agents:
            self.ami.send("QueueRemove", Queue=queue, Interface=f"PJSIP/agent{n}")

    async def channel_of(self, endpoint: str, timeout: float = 10) -> str:
        """The live channel name of an endpoint (e.g. agent1), from the recorded stream."""
        pattern = re.compile(rf"Channel: (PJSIP/{endpoint}-[0-9a-f]+)".encode())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = pattern.findall(self.ami.data)
            if found:
                return found[-1].decode()
            await asyncio.sleep(0.05)
        raise AssertionError(f"no channel for {endpoint} within {timeout}s")

    async def until_idle(self, timeout: float = 30) -> None:
        """Wait until Asterisk has no channel left (the calls are over), then let the last events arrive."""
        await self.until_in_stream(b"Event: Newchannel", timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = await asyncio.to_thread(self.pbx.rx, "core show channels count")
            if out.lstrip().startswith("0 active channels"):
                await self.settled()
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"calls still up after {timeout}s")

    async def settled(self, timeout: float = 10) -> None:
        """Every event Asterisk has queued so far is recorded: it answers a Ping on the recorder's session
        only after writing that session's pending events."""
        action_id = f"settled-{time.monotonic_ns()}"
        self.ami.send("Ping", ActionID=action_id)
        await self.until_in_stream(f"ActionID: {action_id}".encode(), timeout)

    async def until_in_stream(self, needle: bytes, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.ami.data:
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not seen within {timeout}s")
            await asyncio.sleep(0.05)


async def answered_queue_call(s: Stage) -> None:
    s.sipp.agent(1, "answer", ring_ms=800, talk_ms=2000)
    s.login("support", 1)
    await s.until_in_stream(b"QueueMemberAdded")
    s.sipp.call([KNOWN], hold_ms=10_000)
    await s.until_idle()
    s.logout("support", 1)


async def abandoned_in_queue(s: Stage) -> None:
    s.sipp.agent(1, "noanswer")
    s.login("support", 1)
    await s.until_in_stream(b"QueueMemberAdded")
    s.sipp.call([KNOWN], hold_ms=2500)
    await s.until_idle()
    s.logout("support", 1)


async def ring_no_answer_then_next(s: Stage) -> None:
    s.sipp.agent(1, "noanswer")
    s.sipp.agent(2, "answer", ring_ms=500, talk_ms=1500)
    s.login("hotline", 1, 2)
    await s.until_in_stream(b"Interface: PJSIP/agent2")
    s.sipp.call([Caller(KNOWN.number, HOTLINE, KNOWN.name)], hold_ms=15_000)
    await s.until_idle()
    s.logout("hotline", 1, 2)


async def agent_busy(s: Stage) -> None:
    s.sipp.agent(1, "busy")
    s.sipp.agent(2, "answer", ring_ms=500, talk_ms=1500)
    s.login("hotline", 1, 2)
    await s.until_in_stream(b"Interface: PJSIP/agent2")
    s.sipp.call([Caller(KNOWN.number, HOTLINE, KNOWN.name)], hold_ms=15_000)
    await s.until_idle()
    s.logout("hotline", 1, 2)


async def blind_transfer(s: Stage) -> None:
    s.sipp.agent(1, "answer", ring_ms=500)
    s.sipp.agent(2, "answer", ring_ms=500)
    s.login("support", 1)
    await s.until_in_stream(b"QueueMemberAdded")
    s.sipp.call([KNOWN], hold_ms=6000)
    await s.until_in_stream(b"Event: AgentConnect")
    chan = await s.channel_of("agent1")
    s.ami.send("BlindTransfer", Channel=chan, Exten="7002", Context="plateau-transfer")
    await s.until_idle()
    s.logout("support", 1)


async def attended_transfer(s: Stage) -> None:
    s.sipp.agent(1, "answer", ring_ms=500, talk_ms=4000)  # agent 1 hangs up after the consultation
    s.sipp.agent(2, "answer", ring_ms=500)
    s.login("support", 1)
    await s.until_in_stream(b"QueueMemberAdded")
    s.sipp.call([KNOWN], hold_ms=9000)
    await s.until_in_stream(b"Event: AgentConnect")
    chan = await s.channel_of("agent1")
    s.ami.send("Atxfer", Channel=chan, Exten="7002", Context="plateau-transfer")
    await s.until_idle()
    s.logout("support", 1)


async def direct_call_to_agent(s: Stage) -> None:
    s.sipp.agent(1, "answer", ring_ms=500)
    s.sipp.call([Caller(KNOWN.number, "7001", KNOWN.name)], hold_ms=3000)
    await s.until_idle()


async def click_to_call(s: Stage) -> None:
    s.sipp.agent(1, "answer", ring_ms=300)
    s.sipp.customer("answer", ring_ms=800, talk_ms=2500)
    s.ami.send(
        "Originate",
        Channel="PJSIP/agent1",
        Context="plateau-click-to-call",
        Exten="0612345678",
        Priority="1",
        CallerID='"Plateau" <0140000000>',
        Async="true",
        ChannelId="c2c-0001",
        OtherChannelId="c2c-0001-2",
        Timeout="20000",
    )
    await s.until_in_stream(b"OriginateResponse")
    await s.until_idle()


async def injection_attempt(s: Stage) -> None:
    s.sipp.agent(1, "answer", ring_ms=500, talk_ms=1500)
    s.login("support", 1)
    await s.until_in_stream(b"QueueMemberAdded")
    s.sipp.call([Caller(FORGED_NUMBER, "5551000", "Mallory <script>alert(1)</script>")], hold_ms=10_000)
    await s.until_idle()
    s.logout("support", 1)


def crlf_caller(number: str, name: str, answered: bool) -> Callable[[Stage], Awaitable[None]]:
    async def scenario(s: Stage) -> None:
        if answered:
            s.sipp.agent(1, "answer", ring_ms=500, talk_ms=1500)
        else:
            s.sipp.agent(1, "noanswer")
        s.login("support", 1)
        await s.until_in_stream(b"QueueMemberAdded")
        s.sipp.call([Caller(number, "5551000", name)], hold_ms=10_000 if answered else 2500)
        await s.until_idle()
        s.logout("support", 1)

    return scenario


async def pause_reason_in_wrap_up(s: Stage) -> None:
    """After an answered call the agent is paused for wrap-up (as Plateau does), then pauses for lunch."""
    s.sipp.agent(1, "answer", ring_ms=500, talk_ms=1500)
    s.login("support", 1)
    await s.until_in_stream(b"QueueMemberAdded")
    s.sipp.call([KNOWN], hold_ms=10_000)
    await s.until_idle()
    s.ami.send("QueuePause", Interface="PJSIP/agent1", Paused="true", Reason="wrapup")
    await s.until_in_stream(b"PausedReason: wrapup")
    s.ami.send("QueuePause", Interface="PJSIP/agent1", Paused="true", Reason="Lunch break")
    await s.until_in_stream(b"PausedReason: Lunch break")


async def originate_no_answer(s: Stage) -> None:
    """A click-to-call whose agent phone rings out: the Originate times out unanswered."""
    s.sipp.agent(1, "noanswer")
    s.ami.send(
        "Originate",
        Channel="PJSIP/agent1",
        Context="plateau-click-to-call",
        Exten="0612345678",
        Priority="1",
        CallerID='"Plateau" <0140000000>',
        Async="true",
        ChannelId="c2c-0002",
        OtherChannelId="c2c-0002-2",
        Timeout="4000",
    )
    await s.until_in_stream(b"OriginateResponse", timeout=20)
    await s.until_idle()


async def restart_mid_call(s: Stage) -> None:
    s.sipp.agent(1, "answer", ring_ms=300)
    s.login("support", 1)
    await s.until_in_stream(b"QueueMemberAdded")
    s.sipp.call([KNOWN], hold_ms=60_000)
    await s.until_in_stream(b"Event: AgentConnect")
    await asyncio.to_thread(s.pbx.restart)


SCENARIOS: dict[str, Callable[[Stage], Awaitable[None]]] = {
    "answered_queue_call": answered_queue_call,
    "abandoned_in_queue": abandoned_in_queue,
    "ring_no_answer_then_next": ring_no_answer_then_next,
    "agent_busy": agent_busy,
    "blind_transfer": blind_transfer,
    "attended_transfer": attended_transfer,
    "direct_call_to_agent": direct_call_to_agent,
    "click_to_call": click_to_call,
    "injection_attempt": injection_attempt,
    "restart_mid_call": restart_mid_call,
    **{scenario: crlf_caller(*caller) for scenario, caller in CRLF_CALLERS.items()},
    "pause_reason_in_wrap_up": pause_reason_in_wrap_up,
    "originate_no_answer": originate_no_answer,
}

FIXTURES = Path(__file__).resolve().parent.parent.parent / "fixtures" / "ami"


async def record_all(out_dir: Path, names: list[str] | None = None) -> list[Path]:
    """Run each scenario on a fresh private Asterisk and save its raw AMI stream as `<name>.ami`."""
    import tempfile

    saved = []
    for name in names or list(SCENARIOS):
        work = Path(tempfile.mkdtemp(prefix=f"capture-{name}-"))
        cfg = PbxConfig.for_tests(work, agents=4, supervisors=1, queue_ring_timeout=3)
        pbx = PrivateAsterisk(cfg)
        await asyncio.to_thread(pbx.start)
        sipp = Sipp(cfg, work / "sipp")
        ami = AmiRecorder(cfg.ami_port, cfg.ami_user, cfg.ami_secret)
        try:
            await ami.start()
            stage = Stage(pbx, sipp, ami)
            await SCENARIOS[name](stage)
            await stage.settled()  # the events of the scenario's last actions (a logout's) are in
        finally:
            sipp.stop()
            await ami.stop()
            await asyncio.to_thread(pbx.stop)
        saved.append(ami.save(out_dir / f"{name}.ami"))
    return saved


if __name__ == "__main__":
    import sys

    for path in asyncio.run(record_all(FIXTURES, sys.argv[1:] or None)):
        print(path)
