"""A real SIP phone that is not SIPp: Debian's baresip, registered with the password Plateau generated for
that user (the admin API, the rendered include, PJSIP reloaded), answers a customer's call from the trunk
while the pop reaches the agent's desk; a wrong password is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from app.security import hash_password, token_digest
from core.models import ApiToken, Role, User
from cti.pbx_process import PbxConfig, PrivateAsterisk, phone_address
from cti.phones import Provisioner
from tests.conftest import wait_for
from tests.cti.pbx.baresip import Baresip, baresip_binary
from tests.cti.pbx.conftest import KNOWN_NUMBER, Plateau, plateau_settings, serve_plateau
from tests.cti.pbx.sipp import Caller, Sipp
from tests.cti.pbx.test_cti_calls import _login

pytestmark = pytest.mark.asterisk
ADMIN_TOKEN = "token-admin-0123456789"


@pytest.fixture(scope="module")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateAsterisk]:
    """Phones only from Plateau's database (none until an admin gives one a password): no test phones."""
    if baresip_binary() is None:
        pytest.fail("baresip is not installed: run `make setup` (apt-get install baresip)")
    cfg = PbxConfig.for_tests(tmp_path_factory.mktemp("pbx-real"), phones=[], queue_ring_timeout=5)
    asterisk = PrivateAsterisk(cfg)
    asterisk.start()
    yield asterisk
    asterisk.stop()


@pytest_asyncio.fixture
async def plateau(pbx: PrivateAsterisk, tmp_path: Path) -> AsyncIterator[Plateau]:
    async with serve_plateau(plateau_settings(pbx, tmp_path)) as p:
        assert await p.cti.link.wait_ready(15), p.cti.health()
        p.app.state.phones = Provisioner(pbx.cfg.runtime / "etc", pbx.rx)  # as `plateau serve --with-pbx`
        async with p.db.session() as s:
            admin = User(
                username="admin", display_name="Admin", password_hash=hash_password("x" * 12), role=Role.admin
            )
            s.add(admin)
            await s.flush()
            s.add(ApiToken(user_id=admin.id, name="test", token_hash=token_digest(ADMIN_TOKEN)))
            await s.commit()
        p.tokens["admin"] = ADMIN_TOKEN
        yield p


async def _new_password(p: Plateau, username: str) -> str:
    async with p.client("admin") as c:
        r = await c.post(f"/api/v1/users/{p.users[username]}/phone-password", json={"kind": "sip"})
        assert r.status_code == 201, r.text
        assert r.json()["applied"] is True  # the private Asterisk took it
        return str(r.json()["password"])


def _registered(p: Plateau, endpoint: str) -> bool:
    agent = p.cti.tracker.agents.get(f"PJSIP/{endpoint}")
    return bool(agent and agent.registered)


async def test_given_baresip_with_its_own_password_when_a_customer_calls_the_did_then_it_answers_and_the_pop_reaches_the_desk(  # noqa: E501
    plateau: Plateau, pbx: PrivateAsterisk, tmp_path: Path
) -> None:
    password = await _new_password(plateau, "agent1")
    ws = await plateau.ws("agent1")
    async with plateau.client("agent1") as c:  # no phone yet: the agent cannot take calls
        r = await c.post("/api/v1/agent/login", json={"queues": ["support"]})
        assert r.status_code == 409 and "not registered" in r.text, r.text
    server = f"{pbx.cfg.sip_bind}:{pbx.cfg.sip_port}"
    phone = Baresip(tmp_path / "baresip", "agent1", password, server, phone_address("agent", 1)).start()
    sipp = Sipp(pbx.cfg, tmp_path / "sipp", register=False)
    try:
        await wait_for(lambda: _registered(plateau, "agent1"), 15, what=f"baresip registered: {phone.said()}")
        await wait_for(lambda: "200 OK" in phone.said(), 10, what=f"baresip told: {phone.said()}")
        # the desk shows it (the tracker knew first: the message is on its way to the socket)
        await wait_for(
            lambda: [m for m in ws.of_type("phone_registration") if m["registered"]], 10, what="the desk told"
        )
        await _login(plateau, "agent1", "support")
        sipp.call([Caller(KNOWN_NUMBER, "5551000", "Jose")], hold_ms=4000)
        await wait_for(lambda: ws.pops(phase="ringing"), 20, what="the pop while baresip rings")
        ringing = ws.pops(phase="ringing")[-1]
        assert [m["last_name"] for m in ringing["matches"]] == ["Müller"] or ringing.get("partial")
        await wait_for(lambda: ws.pops(phase="answered"), 20, what=f"baresip answers: {phone.said()[-800:]}")
        answered = ws.pops(phase="answered")[-1]
        assert answered["matches"][0]["last_name"] == "Müller" and answered["queue"] == "support"
        await wait_for(lambda: ws.pops(phase="wrap_up"), 20, what="the caller hangs up")
    finally:
        sipp.stop()
        phone.stop()
    await wait_for(lambda: not _registered(plateau, "agent1"), 10, what="baresip unregistered on exit")


async def test_given_baresip_with_a_wrong_password_when_it_registers_then_asterisk_refuses_it(
    plateau: Plateau, pbx: PrivateAsterisk, tmp_path: Path
) -> None:
    await _new_password(plateau, "agent2")
    server = f"{pbx.cfg.sip_bind}:{pbx.cfg.sip_port}"
    phone = Baresip(
        tmp_path / "wrong", "agent2", "not-the-password", server, phone_address("agent", 2)
    ).start()
    try:
        await wait_for(
            lambda: any(code in phone.said() for code in ("401 Unauthorized", "403 Forbidden")),
            15,
            what="the registration refused",
        )
        assert not _registered(plateau, "agent2")
        assert "agent2/" not in pbx.rx("pjsip show contacts")
    finally:
        phone.stop()
