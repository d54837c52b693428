"""`plateau demo --live` for real: a private Asterisk, `plateau serve`, and the demo command in processes of
their own, as a newcomer runs them (`make run`, then the demo in another terminal)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from sqlalchemy import select

from core.db import Database
from core.models import Call, Interaction, InteractionKind, PhoneNumber
from cti.numbers import parse
from tests.conftest import wait_for
from tests.cti.pbx.demo_centre import Centre, demo_centre

pytestmark = pytest.mark.asterisk
# The clean-up hangs up calls and unregisters phones through rasterisk and SIPp, and logs colleagues out
# through the API: a few seconds alone, far more on a machine as loaded as the full suite makes it.
CLEAN_UP_S = 90


@pytest.fixture(scope="module")
def centre(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Centre]:
    with demo_centre(tmp_path_factory.mktemp("demo-live")) as c:
        yield c


def rtp_received(channelstats: str) -> dict[str, int]:
    """Packets Asterisk received per channel, from `pjsip show channelstats` (the Receive count follows the
    codec: BridgeId ChannelId UpTime Codec Count ...)."""
    out = {}
    for line in channelstats.splitlines():
        words = line.split()
        for i, word in enumerate(words[:-2]):
            if word in ("alaw", "ulaw") and words[i + 1].isdigit():
                out[words[i - 2]] = int(words[i + 1])
    return out


def sipp_left(work: Path) -> list[psutil.Process]:
    """SIPp processes still running on this demo's scenarios."""
    found = []
    for p in psutil.process_iter(["name", "cmdline"]):
        if p.info["name"] == "sipp" and any(str(work) in part for part in p.info["cmdline"] or ()):
            found.append(p)
    return found


async def demo_calls(url: str) -> tuple[list[Call], set[str], set[int]]:
    """The calls the live demo made (not the seeded history), the demo customers' numbers, and the calls
    that have a disposition."""
    db = Database(url)
    async with db.session() as s:
        calls = list(await s.scalars(select(Call).where(Call.linkedid.not_like("demo.%"))))
        numbers = set(await s.scalars(select(PhoneNumber.e164)))
        disposed = set(
            await s.scalars(
                select(Interaction.call_id).where(
                    Interaction.kind == InteractionKind.disposition, Interaction.call_id.is_not(None)
                )
            )
        )
    await db.dispose()
    return calls, numbers, disposed


async def test_given_the_live_demo_when_customers_call_then_history_pops_and_wallboard_move_and_sigterm_ends(
    centre: Centre,
) -> None:
    before = centre.kpi_today()
    demo = centre.demo("--calls-per-minute", "20", "--talk-seconds", "3-6", "--seed", "3")
    try:

        async def enough() -> bool:
            calls, _numbers, disposed = await demo_calls(centre.url)
            answered = [c for c in calls if c.outcome == "answered"]
            return (
                len([c for c in answered if c.id in disposed]) >= 3
                and any(c.outcome == "abandoned" for c in calls)
                and any(c.contact_id is None for c in calls)
            )

        async def done_or_enough() -> bool:
            return demo.poll() is not None or await enough()

        async def both_speak() -> bool:  # a customer and a colleague, each heard by Asterisk
            got = rtp_received(centre.pbx.rx("pjsip show channelstats"))
            return any(n > 0 for ch, n in got.items() if ch.startswith("trunk-")) and any(
                n > 0 for ch, n in got.items() if ch.startswith("agent")
            )

        await wait_for(both_speak, timeout=120, interval=0.5, what="RTP from a customer and a colleague")
        await wait_for(done_or_enough, timeout=240, interval=1, what="the demo's calls in the history")
        assert demo.poll() is None, centre.log()
        calls, numbers, _disposed = await demo_calls(centre.url)
        for call in calls:  # the pop matched exactly the callers who are customers
            matched = call.contact_id is not None
            customer = parse(call.caller_number or "").e164 in numbers
            assert matched == customer, (call.caller_number, centre.log())
        answered = [c for c in calls if c.outcome == "answered"]
        agents = {c.agent_id for c in answered}
        assert len(agents) == 2, "both colleagues took calls"
        assert any(c.queue == "support" for c in answered) and any(c.queue == "sales" for c in answered)
        after = centre.kpi_today()
        assert after["offered"] > before["offered"] and after["answered"] > before["answered"], (
            before,
            after,
        )
        assert after["abandoned"] > before["abandoned"], (before, after)
        assert "disposition" in centre.log() and "saved" in centre.log()
    finally:
        demo.send_signal(signal.SIGTERM)
        code = demo.wait(CLEAN_UP_S)
    assert code == 0, centre.log()
    assert sipp_left(centre.pbx.cfg.runtime.parent) == []
    assert "stopping the live demo" in centre.log()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
async def test_given_the_live_demo_running_when_interrupted_or_killed_then_no_sipp_is_left(
    centre: Centre, sig: signal.Signals
) -> None:
    demo = centre.demo("--calls-per-minute", "30", "--seed", str(sig.value))
    await wait_for(
        lambda: demo.poll() is not None or len(sipp_left(centre.pbx.cfg.runtime.parent)) >= 3,
        timeout=60,
        interval=0.2,
        what="the colleagues' phones and a caller running",
    )
    assert demo.poll() is None, centre.log()
    os.kill(demo.pid, sig)
    try:
        demo.wait(CLEAN_UP_S)
    finally:
        if demo.poll() is None:  # a hung clean-up must not leave its SIPps to the next test
            demo.kill()
    # Ctrl-C goes through the clean-up; after kill -9 each SIPp gets SIGTERM from the kernel (PDEATHSIG)
    await wait_for(lambda: sipp_left(centre.pbx.cfg.runtime.parent) == [], timeout=10, what="no SIPp left")
