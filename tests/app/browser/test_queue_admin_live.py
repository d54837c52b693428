"""Queues and skills provisioned from the browser into the real Asterisk, with SIPp phones and customers:
a queue made on the admin page takes calls at once (no Asterisk restart), skills decide who rings first
and a skill changed while the agent is logged in decides the next call, a queue with a caller waiting
cannot be deleted or renamed, and changes made while calls are up drop none of them."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from app.security import hash_password
from core.db import Database
from core.models import Role, User
from cti.pbx_process import PrivateAsterisk
from tests.app.browser.cti_live import (
    PASSWORD,
    CtiServer,
    run_in_own_thread,
    screenshot,
    serve_with_pbx,
    wait_until,
)
from tests.cti.pbx.conftest import pbx, sipp  # noqa: F401  (fixtures)
from tests.cti.pbx.sipp import Caller, Sipp

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]
DID = "5554000"


@pytest.fixture(scope="module")
def cti(pbx: PrivateAsterisk, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CtiServer]:  # noqa: F811
    work = tmp_path_factory.mktemp("queues-live")
    env = {
        "PLATEAU_PBX_CONF_DIR": str(pbx.cfg.runtime / "etc"),  # Plateau provisions this Asterisk's queues
        "PLATEAU_WRAPUP_ENABLED": "false",  # agents are free again as soon as a call ends
    }
    url = f"sqlite+aiosqlite:///{work / 'plateau.db'}"  # serve_with_pbx's database
    for live in serve_with_pbx(pbx, work, env):
        run_in_own_thread(lambda: asyncio.run(_add_admin(url)))
        yield live


async def _add_admin(url: str) -> None:
    db = Database(url)
    try:
        async with db.session() as s:
            s.add(User(username="admin", display_name="Admin", password_hash=hash_password(PASSWORD),
                       role=Role.admin))  # fmt: skip
            await s.commit()
    finally:
        await db.dispose()


@pytest.fixture
def admin(open_page: Callable[..., Page], cti: CtiServer, pbx: PrivateAsterisk) -> Iterator[Page]:  # noqa: F811
    yield open_page(cti.url, "admin", PASSWORD)
    pbx.rx("channel request hangup all")
    cti.reset_agents()


def _uptime(pbx: PrivateAsterisk) -> int:  # noqa: F811
    """Seconds since Asterisk started (a restart would set it back)."""
    m = re.search(r"System uptime:\s*(\d+)", pbx.rx("core show uptime seconds"))
    assert m, "no uptime from Asterisk"
    return int(m.group(1))


def _penalties(pbx: PrivateAsterisk, queue: str) -> dict[str, int]:  # noqa: F811
    """Each member's penalty as Asterisk has it (`queue show` leaves out a penalty of 0)."""
    text = pbx.rx(f"queue show {queue}")
    found = re.finditer(r"\(PJSIP/(\w+)\)(?: with penalty (\d+))?", text)
    return {m.group(1): int(m.group(2) or 0) for m in found}


def _create_queue(page: Page, name: str, did: str) -> None:
    page.goto("/admin/queues")
    page.locator("#new-name").fill(name)
    page.locator("#new-display_name").fill("Réclamations clients")
    page.locator("#new-did").fill(did)
    page.get_by_role("button", name="Créer la file").click()
    expect(page.get_by_role("status")).to_have_text("File créée ; Asterisk l’a déjà.")


def _add_member(page: Page, username: str, skill: int) -> None:
    page.locator("#member-user_id").select_option(label=f"{username.title()} ({username})")
    page.locator("#member-skill").select_option(str(skill))
    page.get_by_role("button", name="Ajouter à la file").click()
    expect(page.get_by_role("status")).to_have_text("Compétence enregistrée.")


def _set_skill(page: Page, username: str, skill: int) -> None:
    row = page.locator(f'tr[data-member="{username}"]')
    row.get_by_role("combobox").select_option(str(skill))
    row.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_role("status")).to_have_text("Compétence enregistrée.")


def _state(cti: CtiServer, username: str) -> str:
    return str(cti.agent(username).get("state", "logged_out"))


def _login_api(cti: CtiServer, username: str) -> None:
    with cti.api(username) as c:
        r = c.post("/api/v1/agent/login", json={})
        assert r.status_code == 204, r.text
    wait_until(lambda: _state(cti, username) == "ready", 10, f"{username} ready")


def test_given_an_admin_in_the_browser_when_a_queue_and_skills_are_made_then_calls_reach_the_best_skill_first_without_restarting_asterisk(  # noqa: E501
    admin: Page,
    open_page: Callable[..., Page],
    cti: CtiServer,
    pbx: PrivateAsterisk,  # noqa: F811
    sipp: Sipp,  # noqa: F811
) -> None:
    started = _uptime(pbx)
    pid = pbx.proc.pid if pbx.proc else None
    # the admin makes the queue and puts two agents in it, entirely in the browser
    _create_queue(admin, "reclamations", DID)
    assert "reclamations has 0 calls" in pbx.rx("queue show reclamations")  # Asterisk has it, live
    _add_member(admin, "agent1", 1)
    _add_member(admin, "agent2", 5)
    expect(admin.locator('tr[data-member="agent1"] select')).to_have_value("1")

    # agent1 logs in at the desk, agent2 through the API; both SIPp phones answer
    desk = open_page(cti.url, "agent1", PASSWORD)
    expect(desk.locator("#phone-state")).to_contain_text("Téléphone enregistré")
    desk.get_by_role("button", name="Me connecter à mes files").click()
    expect(desk.locator("#agent-state")).to_have_text("Disponible", timeout=10_000)
    _login_api(cti, "agent2")
    shown = pbx.rx("queue show reclamations")
    assert _penalties(pbx, "reclamations") == {"agent1": 0, "agent2": 4}, shown  # skill 1 and 5
    sipp.agent(1, "answer", ring_ms=500)
    sipp.agent(2, "answer", ring_ms=500)
    admin.reload()
    expect(admin.locator('tr[data-member="agent2"]')).to_contain_text("Oui")  # logged in, live
    screenshot(admin, "queues-and-skills")

    # both free: the customer reaches agent1 (skill 1); agent2 (skill 5) is not rung
    sipp.call([Caller("0611223344", DID, "Client Un")], hold_ms=60_000)
    wait_until(lambda: _state(cti, "agent1") == "on_call", 20, "agent1 answering the first call")
    expect(desk.locator("#pop")).to_contain_text("reclamations")
    assert _state(cti, "agent2") == "ready"
    # agent1 busy: the next customer reaches agent2
    sipp.call([Caller("0611223355", DID, "Client Deux")], hold_ms=60_000)
    wait_until(lambda: _state(cti, "agent2") == "on_call", 20, "agent2 answering while agent1 is busy")

    pbx.rx("channel request hangup all")
    wait_until(lambda: {_state(cti, a) for a in ("agent1", "agent2")} == {"ready"}, 15, "both agents free")

    # the skills swap while both are logged in: the next call rings agent2 first
    admin.reload()
    _set_skill(admin, "agent1", 5)
    _set_skill(admin, "agent2", 1)
    wait_until(lambda: _penalties(pbx, "reclamations") == {"agent1": 4, "agent2": 0}, 5, "penalties swapped")
    sipp.call([Caller("0611223366", DID, "Client Trois")], hold_ms=60_000)
    wait_until(lambda: _state(cti, "agent2") == "on_call", 20, "agent2, now skill 1, answering")
    assert _state(cti, "agent1") == "ready"

    assert _uptime(pbx) >= started and (pbx.proc.pid if pbx.proc else None) == pid  # never restarted


def test_given_a_caller_waiting_when_the_admin_deletes_or_renames_the_queue_then_it_is_refused_with_the_reason(  # noqa: E501
    admin: Page,
    cti: CtiServer,
    pbx: PrivateAsterisk,  # noqa: F811
    sipp: Sipp,  # noqa: F811
) -> None:
    _create_queue(admin, "attente", "5554100")  # nobody in it: a caller waits
    sipp.call([Caller("0611223377", "5554100", "Patient")], hold_ms=60_000)
    wait_until(lambda: "attente has 1 calls" in pbx.rx("queue show attente"), 20, "the caller waiting")
    admin.reload()
    admin.get_by_role("button", name="Supprimer cette file").click()
    error = admin.locator('[data-field-error="name"]')
    expect(error).to_have_text(
        "La file attente a 1 appel(s) en attente : réessayez quand ils auront été pris ou auront raccroché."
    )
    admin.locator("#edit-name").fill("attente2")
    admin.get_by_role("button", name="Enregistrer la file").click()
    expect(error).to_contain_text("1 appel(s) en attente")
    assert "attente has 1 calls" in pbx.rx("queue show attente")  # the caller is still there
    # invalid names never reach Asterisk
    for bad in ("general", "file client", "réclamations"):
        admin.goto("/admin/queues")
        admin.locator("#new-name").fill(bad)
        admin.locator("#new-display_name").fill("X")
        admin.get_by_role("button", name="Créer la file").click()
        expect(admin.locator('#new-name[aria-invalid="true"]')).to_be_visible()
        expect(admin.locator('[data-field-error="name"]')).to_contain_text("Lettres minuscules a-z")
    assert "general" not in pbx.rx("queue show")
    # once the caller has gone, the queue goes too
    pbx.rx("channel request hangup all")
    wait_until(lambda: "attente has 0 calls" in pbx.rx("queue show attente"), 15, "the caller gone")
    admin.goto("/admin/queues")
    admin.get_by_role("link", name="attente").click()
    admin.get_by_role("button", name="Supprimer cette file").click()
    expect(admin.get_by_role("status")).to_have_text("File supprimée.")
    wait_until(lambda: "No such queue" in pbx.rx("queue show attente"), 10, "Asterisk dropping the queue")


def test_given_calls_up_and_waiting_when_queues_and_skills_change_then_no_call_is_dropped(
    admin: Page,
    cti: CtiServer,
    pbx: PrivateAsterisk,  # noqa: F811
    sipp: Sipp,  # noqa: F811
) -> None:
    _create_queue(admin, "ventes", "5554300")
    _add_member(admin, "agent3", 1)
    _add_member(admin, "agent4", 2)
    for n in (3, 4):
        sipp.agent(n, "answer", ring_ms=300)
    _login_api(cti, "agent3")
    _login_api(cti, "agent4")
    # three customers, each hanging up by themselves after 15 s: two talk to agents, one waits
    customers = [Caller(f"061122340{n}", "5554300", f"Client {n}") for n in range(3)]
    callers = sipp.call(customers, hold_ms=15_000)
    wait_until(
        lambda: {_state(cti, a) for a in ("agent3", "agent4")} == {"on_call"}, 20, "two calls answered"
    )
    wait_until(lambda: "ventes has 1 calls" in pbx.rx("queue show ventes"), 10, "one caller waiting")
    # meanwhile the admin changes the queue and a skill and makes another queue: QueueReload, Setvar and
    # QueuePenalty on the PBX carrying these calls
    admin.locator("#edit-strategy").select_option("leastrecent")
    admin.locator("#edit-wrapup_s").fill("3")
    admin.locator("#edit-max_wait_s").fill("300")
    admin.get_by_role("button", name="Enregistrer la file").click()
    expect(admin.get_by_role("status")).to_have_text("Enregistré ; Asterisk l’a déjà.")
    _set_skill(admin, "agent4", 3)
    _create_queue(admin, "facturation", "5554200")
    assert "'leastrecent' strategy" in pbx.rx("queue show ventes")
    assert _penalties(pbx, "ventes") == {"agent3": 0, "agent4": 2}
    assert "ventes has 1 calls" in pbx.rx("queue show ventes")  # the waiting caller is still waiting
    assert {_state(cti, a) for a in ("agent3", "agent4")} == {"on_call"}  # and both calls still up
    # every customer hung up by themselves, as scripted: SIPp exits 0 only when each call went to its end
    # (a call Asterisk dropped would end with its BYE, which the script does not expect)
    code = callers.wait(timeout=60)
    assert code == 0, callers.stderr.read().decode()[-2000:] if callers.stderr else code
