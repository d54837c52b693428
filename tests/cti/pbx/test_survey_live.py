"""The post-call survey end to end: the real Asterisk, Plateau with its IVR over FastAGI, SIPp as the caller
(RFC 2833 keys in the media) and as the agent's phone.

The caller agrees to the survey in the IVR (key 1), the agent answers and hangs up first, the dialplan sends
the caller to the survey, and the caller presses 2 (CSAT) then 9 (NPS). The call's history row, the
per-agent satisfaction report and the caller's next pop then carry CSAT 2 / NPS 9."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from core.ivr_tables import IvrSession
from core.models import Call, Interaction, InteractionKind, Queue, SurveyAnswer
from cti.ivr.model import FLOWS_DIR
from cti.pbx_process import PbxConfig, PrivateAsterisk
from tests.conftest import wait_for
from tests.cti.ivr.sipp import Key, start_caller, stop
from tests.cti.pbx.conftest import KNOWN_NUMBER, Plateau, plateau_settings, serve_plateau
from tests.cti.pbx.sipp import Sipp, register_test_phones
from tests.cti.pbx.test_cti_calls import _login

pytestmark = pytest.mark.asterisk
DID = "5551000"
# The inbound flow of this test: agreeing to the survey is key 1, anything else goes straight to the queue.
OPT_IN_FLOW = f"""
title: Accueil avec enquête
language: fr
dids: ["{DID}"]
start: accord
nodes:
  accord:
    type: menu
    label: accord pour l'enquête
    prompt: [vm-press, digits/1]
    timeout_s: 3
    retries: 1
    choices:
      "1": {{next: accepte, label: enquête acceptée}}
    on_failure: file
  accepte:
    type: set
    values: {{survey_optin: true}}
    next: file
  file:
    type: queue
    queue: support
    max_wait_s: 60
"""


@pytest.fixture(scope="module")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateAsterisk]:
    """This module's own PBX: the IVR on (the DID goes through Plateau's FastAGI server)."""
    if not shutil.which("sipp"):
        pytest.fail("SIPp is not installed: run `bash asterisk-conf/install.sh` (make does it)")
    cfg = PbxConfig.for_tests(
        tmp_path_factory.mktemp("survey-pbx"), agents=2, supervisors=1, queue_ring_timeout=3, ivr_enabled=True
    )
    asterisk = PrivateAsterisk(cfg)
    asterisk.start()
    register_test_phones(cfg, cfg.runtime / "register")
    yield asterisk
    asterisk.stop()


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "accord.yaml").write_text(OPT_IN_FLOW, encoding="utf-8")
    shutil.copy(FLOWS_DIR / "satisfaction.yaml", folder / "satisfaction.yaml")  # the shipped survey
    return folder


@pytest_asyncio.fixture
async def plateau(pbx: PrivateAsterisk, tmp_path: Path, flows: Path) -> AsyncIterator[Plateau]:
    settings = plateau_settings(
        pbx, tmp_path, ivr_enabled=True, ivr_flows_dir=flows, agi_port=pbx.cfg.agi_port, wrapup_timeout_s=1.0
    )
    async with serve_plateau(settings) as p:
        assert await p.cti.link.wait_ready(15), p.cti.health()
        yield p
        with contextlib.suppress(Exception):
            await p.cti.logout("PJSIP/agent1")


async def _answer(p: Plateau) -> SurveyAnswer | None:
    async with p.db.session() as s:
        return await s.scalar(select(SurveyAnswer).where(SurveyAnswer.csat == 2, SurveyAnswer.nps == 9))


async def _call(p: Plateau, linkedid: str) -> Call | None:
    async with p.db.session() as s:
        return await s.scalar(select(Call).where(Call.linkedid == linkedid))


async def test_given_an_agreeing_caller_when_the_agent_hangs_up_and_the_caller_keys_2_then_9_then_all_say_so(
    plateau: Plateau, sipp: Sipp, pbx: PrivateAsterisk, tmp_path: Path
) -> None:
    sipp.agent(1, "answer", ring_ms=300, talk_ms=2000)  # the agent hangs up first, 2 s into the call
    await _login(plateau, "agent1", "support")
    ws = await plateau.ws("agent1")
    workdir = tmp_path / "callers"
    workdir.mkdir()
    # 1 in the IVR's menu; 2 some 15 s after the answer, within the survey's CSAT question whenever the queue
    # rang the agent (it listens for some 20 s from the survey's start); 9 for the NPS question after it
    keys = [Key("1", 1500, "rfc2833"), Key("2", 13500, "rfc2833"), Key("9", 4000, "rfc2833")]
    caller = start_caller(pbx.cfg, workdir, "survey", DID, KNOWN_NUMBER, keys, hold_ms=40000)
    try:
        await wait_for(lambda: _answer(plateau), 45, interval=0.2, what="the survey's answers CSAT 2, NPS 9")
        await wait_for(lambda: caller.poll() is not None, 30, what="the survey hanging up on the caller")
    finally:
        stop(caller)
    answer = await _answer(plateau)
    assert answer is not None and answer.flow == "satisfaction"
    assert (answer.queue, answer.contact_id) == ("support", plateau.users["contact"])

    # the call's history row: one call (the survey kept its Linkedid), the agent's, with CSAT 2 / NPS 9
    await wait_for(lambda: _call(plateau, answer.linkedid), 20, what="the call's history row")
    async with plateau.client("boss") as c:
        calls = (await c.get("/api/v1/calls")).json()["items"]
        row = next(x for x in calls if x["linkedid"] == answer.linkedid)
        assert (row["agent_id"], row["queue"], row["csat"], row["nps"]) == (
            plateau.users["agent1"],
            "support",
            2,
            9,
        )
        # the agent's report
        report = (await c.get("/api/v1/reports/satisfaction", params={"by": "agent"})).json()
        mine = next(x for x in report if x["key"] == str(plateau.users["agent1"]))
        assert (mine["answered"], mine["csat_mean"], mine["csat_counts"]["2"], mine["nps_counts"]["9"]) == (
            1,
            2.0,
            1,
            1,
        )
        assert mine["nps"] == 100.0  # a 9 is a promoter
    async with plateau.db.session() as s:
        entry = await s.scalar(select(Interaction).where(Interaction.kind == InteractionKind.survey))
    assert entry is not None and entry.contact_id == plateau.users["contact"]
    assert (entry.data["csat"], entry.data["nps"]) == (2, 9)

    # the caller's next call: no key (no survey this time), the pop says "last CSAT 2/5", NPS 9
    again = start_caller(pbx.cfg, workdir, "again", DID, KNOWN_NUMBER, [], hold_ms=12000)
    try:
        await wait_for(
            lambda: any(not p["partial"] and p.get("last_survey") for p in ws.pops()),
            30,
            what="the next pop with the last survey",
        )
        # the caller hangs up on their own: no call is left on the PBX for the module's next test
        await wait_for(lambda: again.poll() is not None, 30, what="the second caller hanging up")
    finally:
        stop(again)
    pop = next(p for p in ws.pops() if not p["partial"] and p.get("last_survey"))
    assert pop["linkedid"] != answer.linkedid
    assert (pop["last_survey"]["csat"], pop["last_survey"]["nps"]) == (2, 9)


async def _survey_of(p: Plateau, linkedid: str) -> SurveyAnswer | None:
    async with p.db.session() as s:
        return await s.scalar(select(SurveyAnswer).where(SurveyAnswer.linkedid == linkedid))


async def test_given_a_call_when_the_agent_sends_the_caller_to_the_survey_then_the_keys_are_its_answers(
    plateau: Plateau, sipp: Sipp, pbx: PrivateAsterisk, tmp_path: Path
) -> None:
    sipp.agent(1, "answer", ring_ms=300)  # the agent never hangs up: the desk's button ends their part
    await _login(plateau, "agent1", "support")
    workdir = tmp_path / "callers"
    workdir.mkdir()
    # no key in the IVR (no opt-in: the queue after 3 s); the survey's keys come well after the agent's click:
    # its CSAT question (asked twice) listens for some 20 s from the moment the survey starts
    keys = [Key("4", 22000, "rfc2833"), Key("7", 4000, "rfc2833")]
    earlier = set(plateau.cti.tracker.calls)  # a call an earlier test left on the PBX is not this one
    caller = start_caller(pbx.cfg, workdir, "button", DID, KNOWN_NUMBER, keys, hold_ms=60000)
    try:
        await wait_for(
            lambda: plateau.cti.tracker.call_of_agent("PJSIP/agent1") not in (None, *earlier),
            20,
            what="the agent's call",
        )
        linkedid = plateau.cti.tracker.call_of_agent("PJSIP/agent1")
        async with plateau.client("agent1") as c:
            refused = await c.post(f"/api/v1/agent/calls/{linkedid}/survey")
            assert refused.status_code == 409 and "survey" in refused.text  # support offers none yet
            async with plateau.db.session() as s:
                await s.execute(Queue.__table__.update().where(Queue.name == "support").values(survey=True))
                await s.commit()
            sent = await c.post(f"/api/v1/agent/calls/{linkedid}/survey")
            assert sent.status_code == 204, sent.text
        try:
            await wait_for(lambda: _answered(plateau, linkedid, 4, 7), 50, interval=0.2, what="CSAT 4, NPS 7")
        except AssertionError:
            raise AssertionError(
                f"no CSAT 4 / NPS 7; the IVR passes: {await _passes(plateau, linkedid)}"
            ) from None
    finally:
        stop(caller)
    answer = await _survey_of(plateau, linkedid)
    assert answer is not None and (answer.agent_id, answer.queue) == (plateau.users["agent1"], "support")


async def _passes(p: Plateau, linkedid: str) -> list[tuple[str, Any, Any]]:
    async with p.db.session() as s:
        rows = await s.scalars(
            select(IvrSession).where(IvrSession.linkedid == linkedid).order_by(IvrSession.id)
        )
        return [(r.flow, r.started_at, r.path) for r in rows]


async def _answered(p: Plateau, linkedid: str, csat: int, nps: int) -> bool:
    answer = await _survey_of(p, linkedid)
    return answer is not None and (answer.csat, answer.nps) == (csat, nps)
