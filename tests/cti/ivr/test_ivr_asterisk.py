"""IVR flows over FastAGI against the real Asterisk: SIPp callers press keys with SIP INFO.

One Asterisk for the module; the FastAGI server runs in each test's event loop on the port the
dialplan calls. Outcomes are read from Asterisk (queue show, AMI events, its verbose log) and from
the IVR history and callbacks tables.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from core.db import Database
from core.dialer_tables import Callback
from core.ivr_tables import IvrSession
from core.models import Account, Contact, PhoneNumber, Tier
from cti.ivr.agi import IvrServer
from cti.ivr.history import ivr_summary
from cti.numbers import parse
from cti.pbx_process import PrivateAsterisk
from tests.conftest import wait_for
from tests.cti.ivr.conftest import AmiEvents
from tests.cti.ivr.sipp import Key, start_agent_phone, start_caller, start_carrier, stop

pytestmark = pytest.mark.asterisk

MENU_DID, CLOSED_DID, VIP_DID, CALLBACK_DID = "6100", "6200", "6300", "6400"
TIMEOUT_DID, VOICEMAIL_DID, TRANSFER_DID = "6500", "6600", "6700"

FLOWS = {
    "menu": f"""
title: test menu
language: fr
dids: ["{MENU_DID}"]
start: menu
nodes:
  menu:
    type: menu
    label: menu principal
    prompt: [silence/1]
    timeout_s: 8
    retries: 3
    choices:
      "1": {{next: ventes, label: ventes}}
      "2": {{next: facturation, label: facturation}}
    on_failure: secours
  ventes: {{type: queue, queue: sales, label: ventes}}
  facturation: {{type: queue, queue: support, label: facturation}}
  secours: {{type: queue, queue: hotline, label: secours}}
""",
    "closed": f"""
language: fr
dids: ["{CLOSED_DID}"]
start: hours
nodes:
  hours:
    type: hours
    schedule:
      timezone: Europe/Paris
      weekly: {{}}
    open: queue
    closed: message
  message:
    type: hangup
    label: fermé
    sounds: [goodbye]
  queue: {{type: queue, queue: support}}
""",
    "vip": f"""
language: fr
dids: ["{VIP_DID}"]
start: lookup
nodes:
  lookup: {{type: lookup, next: tier}}
  tier:
    type: branch
    cases:
      - when: {{var: tier, equals: vip}}
        next: vip
    default: standard
  vip: {{type: queue, queue: support, priority: 10, label: VIP}}
  standard: {{type: queue, queue: support, label: standard}}
""",
    "callback": f"""
language: fr
dids: ["{CALLBACK_DID}"]
start: menu
nodes:
  menu:
    type: menu
    prompt: [silence/1]
    timeout_s: 8
    choices:
      "3": {{next: rappel, label: être rappelé}}
    on_failure: bye
  rappel:
    type: callback
    queue: support
    confirm_prompt: [silence/1]
    confirm_keys_prompt: [silence/1]
    timeout_s: 8
    next: merci
    on_failure: bye
  merci: {{type: hangup, label: rappel programmé, sounds: [auth-thankyou]}}
  bye: {{type: hangup}}
""",
    "timeout": f"""
language: fr
dids: ["{TIMEOUT_DID}"]
start: attente
nodes:
  attente: {{type: queue, queue: outbound, max_wait_s: 5, on_timeout: desole}}
  desole: {{type: hangup, sounds: [please-try-call-later]}}
""",
    "voicemail": f"""
language: fr
dids: ["{VOICEMAIL_DID}"]
start: message
nodes:
  message: {{type: voicemail, prompt: [silence/1], max_s: 30}}
""",
    "transfer": f"""
language: fr
dids: ["{TRANSFER_DID}"]
start: partner
nodes:
  partner: {{type: transfer, number: "+33140000000", label: partenaire}}
""",
}

CALLER = "0612345678"
VIP_CALLER = "0698765432"


@pytest.fixture(scope="module")
def flows_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("flows")
    for name, text in FLOWS.items():
        (folder / f"{name}.yaml").write_text(text)
    return folder


@pytest.fixture
def workdir(tmp_path: Path, pbx: PrivateAsterisk) -> Iterator[Path]:
    yield tmp_path
    # Isolation between tests on the shared Asterisk: no call survives its test.
    pbx.rx("channel request hangup all")
    deadline = time.monotonic() + 10
    while "0 active channels" not in pbx.rx("core show channels count") and time.monotonic() < deadline:
        time.sleep(0.1)


async def rx(pbx: PrivateAsterisk, command: str) -> str:
    return await asyncio.to_thread(pbx.rx, command)


async def callers_in(pbx: PrivateAsterisk, queue: str) -> list[str]:
    """The caller lines of `queue show` ("1. PJSIP/trunk-00000003 (wait: 0:02, prio: 10)")."""
    out = await rx(pbx, f"queue show {queue}")
    return [line.strip() for line in out.splitlines() if "PJSIP/trunk-" in line]


async def rows(db: Database, linkedid: str | None = None) -> list[IvrSession]:
    async with db.session() as s:
        stmt = select(IvrSession).order_by(IvrSession.id)
        if linkedid:
            stmt = stmt.where(IvrSession.linkedid == linkedid)
        return list((await s.scalars(stmt)).all())


async def last_finished_row(db: Database, flow: str, after_id: int) -> IvrSession | None:
    for row in reversed(await rows(db)):
        if row.flow == flow and row.id > after_id and row.exit_kind is not None:
            return row
    return None


async def max_row_id(db: Database) -> int:
    found = await rows(db)
    return found[-1].id if found else 0


async def finished(proc: object, timeout: float = 30) -> int:
    await wait_for(lambda: proc.poll() is not None, timeout=timeout, what="SIPp to finish")  # type: ignore[attr-defined]
    return proc.returncode  # type: ignore[attr-defined]


async def test_given_menu_when_caller_presses_2_then_call_waits_in_the_billing_queue(
    pbx: PrivateAsterisk, ivr_server: IvrServer, ivr_db: Database, workdir: Path
) -> None:
    before = await max_row_id(ivr_db)
    caller = start_caller(pbx.cfg, workdir, "menu2", MENU_DID, CALLER, [Key("2")], hold_ms=3000)
    try:
        await wait_for(lambda: _nonempty(callers_in(pbx, "support")), timeout=15, what="a caller in support")
        assert await callers_in(pbx, "sales") == []
        assert await finished(caller) == 0
    finally:
        stop(caller)
    row = await last_finished_row(ivr_db, "menu", before)
    assert row is not None and row.exit_kind == "queue" and row.exit_node == "facturation"
    async with ivr_db.session() as s:
        summary = await ivr_summary(s, row.linkedid)
    assert summary is not None and summary["summary"].startswith("a choisi 2 — facturation")
    assert summary["digits"] == "2"


async def test_given_known_vip_when_both_wait_then_the_agent_gets_the_vip_before_the_earlier_caller(
    pbx: PrivateAsterisk, ivr_server: IvrServer, ivr_db: Database, ami: AmiEvents, workdir: Path
) -> None:
    async with ivr_db.session() as s:
        account = Account(name="Atlas Télécom", tier=Tier.vip)
        contact = Contact(first_name="Youssef", last_name="El Amrani", tier=Tier.standard, account=account)
        vip = parse(VIP_CALLER, "FR")
        contact.numbers.append(PhoneNumber(e164=vip.e164, suffix_key=vip.suffix_key, raw=VIP_CALLER))
        s.add(contact)
        await s.commit()
    phone = start_agent_phone(pbx.cfg, workdir, 1)
    standard = start_caller(pbx.cfg, workdir, "standard", VIP_DID, CALLER, [], hold_ms=20000)
    vip_caller = None
    try:
        await wait_for(
            lambda: _count(callers_in(pbx, "support"), 1), timeout=15, what="the first caller queued"
        )
        vip_caller = start_caller(pbx.cfg, workdir, "vip", VIP_DID, VIP_CALLER, [], hold_ms=8000)
        await wait_for(lambda: _count(callers_in(pbx, "support"), 2), timeout=15, what="both callers queued")
        waiting = await callers_in(pbx, "support")
        assert "prio: 10" in waiting[0], waiting  # the VIP is first although they came second

        await rx(pbx, "queue add member PJSIP/agent1 to support")
        await wait_for(lambda: bool(ami.named("AgentConnect")), timeout=15, what="an agent connected")
        assert ami.named("AgentConnect")[0]["CallerIDNum"] == VIP_CALLER
        assert await finished(vip_caller) == 0
    finally:
        await rx(pbx, "queue remove member PJSIP/agent1 from support")
        for proc in (standard, vip_caller, phone):
            if proc is not None:
                stop(proc)


async def test_given_closed_hours_when_caller_calls_then_the_closed_message_plays_and_asterisk_hangs_up(
    pbx: PrivateAsterisk, ivr_server: IvrServer, ivr_db: Database, workdir: Path
) -> None:
    before = await max_row_id(ivr_db)
    caller = start_caller(pbx.cfg, workdir, "closed", CLOSED_DID, CALLER, [], hold_ms=15000)
    try:
        await wait_for(
            lambda: _finished_row(ivr_db, "closed", before), timeout=15, what="the closed flow to end"
        )
        assert await finished(caller) == 0
    finally:
        stop(caller)
    row = await last_finished_row(ivr_db, "closed", before)
    assert row is not None and row.exit_kind == "hangup" and row.exit_node == "message"
    assert row.path[0] == {"node": "hours", "type": "hours", "result": "closed"}
    log = (pbx.cfg.runtime / "log" / "ivr-verbose.log").read_text(errors="replace")
    assert re.search(r"Playing 'goodbye\.gsm' .*\(language 'fr'\)", log), log[-2000:]
    assert await callers_in(pbx, "support") == []


async def test_given_menu_when_caller_presses_three_invalid_keys_then_the_fallback_queue_takes_the_call(
    pbx: PrivateAsterisk, ivr_server: IvrServer, ivr_db: Database, workdir: Path
) -> None:
    before = await max_row_id(ivr_db)
    keys = [Key("9"), Key("7"), Key("9")]
    caller = start_caller(pbx.cfg, workdir, "invalid", MENU_DID, CALLER, keys, hold_ms=3000)
    try:
        await wait_for(lambda: _nonempty(callers_in(pbx, "hotline")), timeout=20, what="a caller in hotline")
        assert await finished(caller) == 0
    finally:
        stop(caller)
    row = await last_finished_row(ivr_db, "menu", before)
    assert row is not None and (row.exit_kind, row.exit_node) == ("queue", "secours")
    assert row.digits == "979"
    assert [p.get("result") for p in row.path if p["node"] == "menu"] == [
        "invalid",
        "invalid",
        "invalid",
        "failed",
    ]


async def test_given_menu_when_caller_hangs_up_before_choosing_then_history_ends_cleanly(
    pbx: PrivateAsterisk, ivr_server: IvrServer, ivr_db: Database, workdir: Path
) -> None:
    before = await max_row_id(ivr_db)
    caller = start_caller(pbx.cfg, workdir, "hangup", MENU_DID, CALLER, [], hold_ms=1500)
    try:
        assert await finished(caller) == 0
        await wait_for(
            lambda: _finished_row(ivr_db, "menu", before), timeout=10, what="the history row closed"
        )
    finally:
        stop(caller)
    row = await last_finished_row(ivr_db, "menu", before)
    assert row is not None
    assert (row.exit_kind, row.exit_node) == ("caller_hangup", "menu")
    assert row.ended_at is not None and row.duration_s is not None and 1.0 <= row.duration_s < 10
    async with ivr_db.session() as s:
        summary = await ivr_summary(s, row.linkedid)
    assert summary is not None and summary["summary"] == "a raccroché dans le SVI (menu principal)"
    assert ivr_server.active == 0


async def test_given_callback_offer_when_caller_confirms_the_number_then_a_callback_is_scheduled(
    pbx: PrivateAsterisk, ivr_server: IvrServer, ivr_db: Database, workdir: Path
) -> None:
    before = await max_row_id(ivr_db)
    caller = start_caller(
        pbx.cfg, workdir, "callback", CALLBACK_DID, CALLER, [Key("3"), Key("1")], hold_ms=15000
    )
    try:
        await wait_for(
            lambda: _finished_row(ivr_db, "callback", before), timeout=20, what="the callback flow"
        )
        assert await finished(caller) == 0
    finally:
        stop(caller)
    row = await last_finished_row(ivr_db, "callback", before)
    assert row is not None and (row.exit_kind, row.exit_node) == ("hangup", "merci")
    async with ivr_db.session() as s:
        callbacks = (await s.scalars(select(Callback).where(Callback.number_e164 == "+33612345678"))).all()
    assert len(callbacks) == 1
    assert (callbacks[0].source, callbacks[0].tz, callbacks[0].agent_id) == ("ivr", "Europe/Paris", None)


async def test_given_bare_tcp_connect_and_close_when_a_call_follows_then_the_ivr_still_answers(
    pbx: PrivateAsterisk, ivr_server: IvrServer, ivr_db: Database, workdir: Path
) -> None:
    port = pbx.cfg.agi_port
    for payload in (b"", b"agi_network_script: ivr\n", b"\x00\xff garbage without end"):
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(payload)
    await asyncio.sleep(0)  # the loop still turns: panoramisk 1.4 would spin here forever
    before = await max_row_id(ivr_db)
    caller = start_caller(pbx.cfg, workdir, "after-probe", MENU_DID, CALLER, [Key("1")], hold_ms=4000)
    try:
        await wait_for(lambda: _nonempty(callers_in(pbx, "sales")), timeout=15, what="a caller in sales")
        assert await finished(caller) == 0
    finally:
        stop(caller)
    row = await last_finished_row(ivr_db, "menu", before)
    assert row is not None and row.exit_node == "ventes"


async def _nonempty(coro: object) -> bool:
    return bool(await coro)  # type: ignore[misc]


async def _count(coro: object, n: int) -> bool:
    return len(await coro) == n  # type: ignore[misc]


async def _finished_row(db: Database, flow: str, after_id: int) -> bool:
    return await last_finished_row(db, flow, after_id) is not None


async def test_given_plateau_unreachable_when_a_caller_dials_a_did_then_the_dids_queue_takes_the_call(
    pbx: PrivateAsterisk, workdir: Path
) -> None:
    # No FastAGI server in this test: AGI() fails to connect and the dialplan falls back.
    caller = start_caller(pbx.cfg, workdir, "no-plateau", "5552000", CALLER, [], hold_ms=3000)
    try:
        await wait_for(lambda: _nonempty(callers_in(pbx, "sales")), timeout=15, what="a caller in sales")
        assert await finished(caller) == 0
    finally:
        stop(caller)


async def test_given_a_queue_with_max_wait_when_nobody_answers_then_the_flow_resumes_at_on_timeout(
    pbx: PrivateAsterisk, ivr_server: IvrServer, ivr_db: Database, workdir: Path
) -> None:
    before = await max_row_id(ivr_db)
    caller = start_caller(pbx.cfg, workdir, "timeout", TIMEOUT_DID, CALLER, [], hold_ms=20000)
    try:
        await wait_for(
            lambda: _finished_row(ivr_db, "timeout", before + 1), timeout=20, what="the second pass"
        )
        assert await finished(caller) == 0  # Asterisk hung up after the on_timeout node
    finally:
        stop(caller)
    passes = [r for r in await rows(ivr_db) if r.flow == "timeout" and r.id > before]
    assert [(r.exit_kind, r.exit_node) for r in passes] == [("queue", "attente"), ("hangup", "desole")]
    assert passes[0].linkedid == passes[1].linkedid
    async with ivr_db.session() as s:
        summary = await ivr_summary(s, passes[0].linkedid)
    assert summary is not None and [p["node"] for p in summary["path"]] == ["attente", "desole"]


async def test_given_a_voicemail_node_when_the_caller_speaks_and_hangs_up_then_the_message_is_kept(
    pbx: PrivateAsterisk, ivr_server: IvrServer, ivr_db: Database, workdir: Path
) -> None:
    before = await max_row_id(ivr_db)
    caller = start_caller(pbx.cfg, workdir, "voicemail", VOICEMAIL_DID, CALLER, [], hold_ms=3000)
    try:
        assert await finished(caller) == 0
        await wait_for(
            lambda: _finished_row(ivr_db, "voicemail", before), timeout=10, what="the voicemail pass"
        )
    finally:
        stop(caller)
    row = await last_finished_row(ivr_db, "voicemail", before)
    assert row is not None and (row.exit_kind, row.exit_node) == ("voicemail", "message")
    recording = Path(row.exit_detail["reason"])
    assert recording.parent == pbx.cfg.runtime / "spool" and await asyncio.to_thread(recording.exists)


async def test_given_a_transfer_node_when_reached_then_asterisk_dials_the_number_through_the_trunk(
    pbx: PrivateAsterisk, ivr_server: IvrServer, ivr_db: Database, workdir: Path
) -> None:
    carrier = start_carrier(pbx.cfg, workdir)
    before = await max_row_id(ivr_db)
    caller = start_caller(pbx.cfg, workdir, "transfer", TRANSFER_DID, CALLER, [], hold_ms=3000)
    messages = workdir / "carrier_messages.log"
    try:
        await wait_for(
            lambda: messages.exists() and "INVITE sip:+33140000000@" in messages.read_text(errors="replace"),
            timeout=15,
            what="the carrier to receive the transferred call",
        )
        assert await finished(caller) == 0
    finally:
        stop(caller)
        stop(carrier)
    row = await last_finished_row(ivr_db, "transfer", before)
    assert row is not None and (row.exit_kind, row.exit_node) == ("transfer", "partner")


async def test_given_rfc2833_keys_in_the_media_when_the_caller_presses_1_then_the_call_reaches_sales(
    pbx: PrivateAsterisk, ivr_server: IvrServer, ivr_db: Database, workdir: Path
) -> None:
    before = await max_row_id(ivr_db)
    caller = start_caller(
        pbx.cfg, workdir, "rfc2833", MENU_DID, CALLER, [Key("1", via="rfc2833")], hold_ms=3000
    )
    try:
        await wait_for(lambda: _nonempty(callers_in(pbx, "sales")), timeout=15, what="a caller in sales")
        assert await finished(caller) == 0
    finally:
        stop(caller)
    row = await last_finished_row(ivr_db, "menu", before)
    assert row is not None and (row.exit_node, row.digits) == ("ventes", "1")
