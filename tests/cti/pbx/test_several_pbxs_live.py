"""Two private Asterisk servers (systemnames pbx-a and pbx-b) and one Plateau: agent1's phone on A, agent2's
on B (users.pbx). A call into B pops on B's agent and is one history row with B's namespaced id; a campaign
with an agent on each server dials over both; a third server answering with a systemname already taken is
refused, and /healthz says why."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import select, update

from core.dialer_tables import LeadAttempt
from core.models import Call, User
from core.settings import PbxServer
from cti.pbx_process import PrivateAsterisk
from tests.conftest import wait_for
from tests.cti.pbx.conftest import KNOWN_NUMBER, Plateau, pbxs_running, plateau_settings, serve_plateau
from tests.cti.pbx.sipp import Caller, Sipp
from tests.dialer.engine.conftest import IN_WINDOW, add_campaign

pytestmark = pytest.mark.asterisk


def _server(name: str, pbx: PrivateAsterisk) -> PbxServer:
    cfg = pbx.cfg
    return PbxServer.model_validate(
        {"name": name, "ami_port": cfg.ami_port, "ami_user": cfg.ami_user, "ami_secret": cfg.ami_secret}
        | {"channel_limit": 10}
    )


@pytest.fixture(scope="module")
def two_pbxs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrivateAsterisk, PrivateAsterisk]]:
    with pbxs_running(tmp_path_factory.mktemp("pbxs")) as servers:
        yield servers


@pytest.fixture
def phones(two_pbxs: tuple[PrivateAsterisk, PrivateAsterisk], tmp_path: Path) -> Iterator[tuple[Sipp, Sipp]]:
    a, b = Sipp(two_pbxs[0].cfg, tmp_path / "sipp-a"), Sipp(two_pbxs[1].cfg, tmp_path / "sipp-b")
    yield a, b
    a.stop()
    b.stop()


@pytest_asyncio.fixture
async def plateau(
    two_pbxs: tuple[PrivateAsterisk, PrivateAsterisk], tmp_path: Path
) -> AsyncIterator[Plateau]:
    a, b = two_pbxs
    settings = plateau_settings(a, tmp_path, pbx_servers=[_server("a", a), _server("b", b)])
    async with serve_plateau(settings) as p:
        async with p.db.session() as s:
            await s.execute(update(User).where(User.username == "agent2").values(pbx="b"))
            await s.commit()
        await p.cti.directory.load()
        for unit in p.cti.units:
            assert await unit.link.wait_ready(15), p.cti.health()
        yield p
        for n in (1, 2):
            with contextlib.suppress(Exception):
                await p.cti.logout(f"PJSIP/agent{n}")


async def _login(p: Plateau, n: int, queue: str) -> None:
    await p.cti.login(f"PJSIP/agent{n}", f"agent{n}", {queue: 0})
    await wait_for(
        lambda: queue in getattr(p.cti.tracker.agents.get(f"PJSIP/agent{n}"), "queues", {}),
        10,
        what=f"agent{n} in {queue}",
    )


async def test_given_two_servers_when_a_call_comes_into_b_then_bs_agent_gets_the_pop_and_one_row_with_bs_id(
    plateau: Plateau, phones: tuple[Sipp, Sipp]
) -> None:
    _, on_b = phones
    assert [u.link.system_name for u in plateau.cti.units] == ["pbx-a", "pbx-b"]
    async with plateau.client("boss") as c:
        health = (await c.get("/healthz")).json()["ami"]
    assert [(s["name"], s["ok"]) for s in health["servers"]] == [("a", True), ("b", True)]
    agent2 = await plateau.ws("agent2")
    await wait_for(lambda: agent2.of_type("snapshot"), 5, what="agent2's snapshot")
    links = [i for i in agent2.of_type("snapshot")[0]["items"] if i["type"] == "pbx_link"]
    assert [(i["pbx"], i["up"]) for i in links] == [("b", True)]  # the desk shows its own server's link
    on_b.agent(2, "answer", ring_ms=500, talk_ms=1000)
    await _login(plateau, 2, "support")
    assert "support" not in plateau.cti.units[0].tracker.agents.get("PJSIP/agent2").queues  # B's member only

    on_b.call([Caller(KNOWN_NUMBER, "5551000", "Jose Muller")], hold_ms=6000)
    await wait_for(lambda: agent2.pops(phase="ringing", partial=False), 10, what="the pop on agent2's desk")
    pop = agent2.pops(phase="ringing", partial=False)[0]
    assert pop["linkedid"].startswith("pbx-b-")

    await wait_for(lambda: plateau.cti.history.written >= 1, 20, what="the history row")
    async with plateau.db.session() as s:
        (call,) = (await s.scalars(select(Call))).all()
    assert (call.linkedid, call.outcome, call.agent_id) == (
        pop["linkedid"],
        "answered",
        plateau.users["agent2"],
    )

    # the wallboard's KPIs and the live picture, for one server
    async with plateau.client("boss") as c:
        offered = {}
        for pbx in ("a", "b"):
            (today, *_) = (await c.get("/api/v1/reports/kpi", params={"pbx": pbx})).json()
            offered[pbx] = sum(q["offered"] for q in today["queues"])
        assert offered == {"a": 0, "b": 1}
        live_b = (await c.get("/api/v1/supervisor/live", params={"pbx": "b"})).json()["items"]
        assert {i["agent"] for i in live_b if i["type"] == "agent_state_changed"} == {"PJSIP/agent2"}
        assert [i["pbx"] for i in live_b if i["type"] == "pbx_link"] == ["b"]
        everywhere = (await c.get("/api/v1/supervisor/live")).json()["items"]
        assert [i["key"] for i in everywhere if i["type"] == "pbx_link"] == ["a", "b"]
        assert (await c.get("/api/v1/reports/kpi", params={"pbx": "nowhere"})).status_code == 404


async def test_given_agents_on_both_servers_when_a_campaign_runs_then_it_dials_over_both(
    plateau: Plateau, phones: tuple[Sipp, Sipp]
) -> None:
    dialer = plateau.app.state.dialer
    dialer.clock, dialer.ring_s = (lambda: IN_WINDOW), 4
    for n, sipp in ((1, phones[0]), (2, phones[1])):
        sipp.customer("answer", ring_ms=300)
        sipp.agent(n, "answer", ring_ms=200, talk_ms=1500)
        await _login(plateau, n, "sales")
    _, leads = await add_campaign(plateau.db, ["+33611000801", "+33611000802"])

    async def attempts() -> list[LeadAttempt]:
        async with plateau.db.session() as s:
            return list(await s.scalars(select(LeadAttempt).where(LeadAttempt.lead_id.in_(leads))))

    await wait_for(lambda: _count(attempts(), 2), 30, what="both attempts")
    done = await attempts()
    # each customer was answered on one server and put through to that server's agent
    assert sorted(a.agent_id for a in done) == sorted([plateau.users["agent1"], plateau.users["agent2"]])
    assert {a.result for a in done} == {"contact"}


async def _count(rows: object, n: int) -> bool:
    return len(await rows) >= n  # type: ignore[misc]


async def test_given_a_server_with_another_servers_systemname_when_it_logs_in_then_it_is_refused(
    two_pbxs: tuple[PrivateAsterisk, PrivateAsterisk], tmp_path: Path
) -> None:
    """Both entries reach server A: whichever identifies second is refused (and keeps being), the other
    runs."""
    a, _ = two_pbxs
    settings = plateau_settings(a, tmp_path, pbx_servers=[_server("a", a), _server("a-again", a)])
    async with serve_plateau(settings) as p:
        units = p.cti.units
        await wait_for(
            lambda: any(u.ready for u in units) and any(u.link.stats.last_error for u in units),
            20,
            what="one server up, the other refused",
        )
        async with p.client("boss") as c:
            r = await c.get("/healthz")
        assert r.status_code == 503
        servers = r.json()["ami"]["servers"]
        assert sorted(s["ok"] for s in servers) == [False, True]
        (refused,) = [s for s in servers if not s["ok"]]
        assert "systemname 'pbx-a' is another server's" in refused["error"]
        assert sum(u.ready for u in units) == 1
