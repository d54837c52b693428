"""Queues and skills over the API: one schema (422 field errors), refusals while calls wait, the files
Asterisk reads, the audit trail. The live half (Asterisk taking each change) is in
tests/app/browser/test_queue_admin_live.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from app.cti_wiring import build_cti
from app.ws_hub import Hub
from core.models import AuditLog, QueueMember
from core.settings import Settings
from cti.queue_provision import QueueProvisioner
from cti.queues_conf import GLOBALS_INCLUDE, QUEUES_INCLUDE
from cti.service import CtiService
from tests.app.api.conftest import Api
from tests.cti.transcripts import raw, replay

pytestmark = pytest.mark.db


def _provisioned(api: Api, etc: Path) -> CtiService:
    """A real CTI service with no PBX link (changes are written, applied when a link comes up)."""
    cti = build_cti(Settings(database_url=api.db.url, secret_key="t", ami_enabled=False), api.db, Hub())
    api.app.state.cti = cti
    api.app.state.queues = QueueProvisioner(etc, cti)
    return cti


RECLAMATIONS = {
    "name": "reclamations",
    "display_name": "Réclamations",
    "strategy": "linear",
    "wrapup_s": 15,
    "service_level_s": 30,
    "sl_target_pct": 90,
    "short_abandon_s": 8,
    "max_wait_s": 120,
    "did": "5554000",
}


async def test_given_an_admin_when_creating_a_queue_then_asterisk_files_hold_it_and_it_is_audited(
    api: Api, tmp_path: Path
) -> None:
    _provisioned(api, tmp_path)
    c = await api.login("admin")
    r = await c.post("/api/v1/queues", json={"name": "support", "display_name": "Support"})
    assert r.status_code == 201, r.text
    r = await c.post("/api/v1/queues", json=RECLAMATIONS | {"overflow": "support"})
    assert r.status_code == 201, r.text
    assert r.headers["x-plateau-applied"] == "no"  # no PBX link: written for its next (re)connect
    out = r.json()
    assert {k: out[k] for k in RECLAMATIONS} == RECLAMATIONS and out["overflow"] == "support"
    queues = (tmp_path / QUEUES_INCLUDE).read_text()
    assert "[reclamations](queue-defaults)\nstrategy = linear\nwrapuptime = 15\nservicelevel = 30\n" in queues
    assert "[support](queue-defaults)\nstrategy = rrmemory\n" in queues
    assert (tmp_path / GLOBALS_INCLUDE).read_text().splitlines()[1:] == [
        "DID_5554000 = reclamations",
        "QMAXWAIT_reclamations = 120",
        "QOVERFLOW_reclamations = support",
    ]
    async with api.db.session() as s:
        actions = list(await s.scalars(select(AuditLog.action).where(AuditLog.target_type == "queue")))
    assert actions == ["queue_created", "queue_created"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "service client"}, "name"),  # a space
        ({"name": "réclamations"}, "name"),  # non-ASCII
        ({"name": "general"}, "name"),  # queues.conf's [general]
        ({"name": "queue-defaults"}, "name"),  # our template
        ({"name": "Support"}, "name"),  # upper case
        ({"name": "x" * 41}, "name"),
        ({"name": "a]\nstrategy=ringall"}, "name"),
        ({"strategy": "roundrobin"}, "strategy"),
        ({"wrapup_s": -1}, "wrapup_s"),
        ({"max_wait_s": 1}, "max_wait_s"),
        ({"did": "55 54"}, "did"),
        ({"did": "5554000;x"}, "did"),
        ({"overflow": "nowhere"}, "overflow"),  # no such queue
        ({"overflow": "ok_queue"}, "overflow"),  # itself
        ({"team_id": 999999}, "team_id"),
        ({"display_name": ""}, "display_name"),
        ({"sl_target_pct": 0}, "sl_target_pct"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_given_invalid_queue_settings_when_creating_then_422_names_the_field_and_nothing_is_kept(
    api: Api, tmp_path: Path, body: dict[str, object], field: str
) -> None:
    _provisioned(api, tmp_path)
    c = await api.login("admin")
    r = await c.post("/api/v1/queues", json={"name": "ok_queue", "display_name": "OK"} | body)
    assert r.status_code == 422, r.text
    assert field in [e["loc"][-1] for e in r.json()["detail"]], r.text
    assert (await c.get("/api/v1/queues")).json() == []


async def test_given_a_did_in_use_when_another_queue_takes_it_then_422_on_did(
    api: Api, tmp_path: Path
) -> None:
    _provisioned(api, tmp_path)
    c = await api.login("admin")
    assert (await c.post("/api/v1/queues", json=RECLAMATIONS)).status_code == 201
    r = await c.post("/api/v1/queues", json={"name": "autre", "display_name": "Autre", "did": "5554000"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "did"], r.text


async def test_given_members_when_skills_are_set_then_they_read_back_as_skills_stored_as_penalties(
    api: Api, tmp_path: Path
) -> None:
    _provisioned(api, tmp_path)
    c = await api.login("admin")
    q = (await c.post("/api/v1/queues", json=RECLAMATIONS)).json()["id"]
    agent, agent2 = api.users["agent"].id, api.users["agent2"].id
    for user, skill in ((agent, 1), (agent2, 5)):
        r = await c.post(f"/api/v1/queues/{q}/members", json={"user_id": user, "skill": skill})
        assert r.status_code == 201, r.text
    for skill in (0, 10, "1; DROP"):
        r = await c.put(f"/api/v1/queues/{q}/members/{agent2}", json={"skill": skill})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "skill"], r.text
    r = await c.put(f"/api/v1/queues/{q}/members/{agent2}", json={"skill": 3})
    assert r.status_code == 200 and r.json()["skill"] == 3 and r.json()["live"] is False
    members = (await c.get(f"/api/v1/queues/{q}/members")).json()
    assert [(m["username"], m["skill"]) for m in members] == [("agent", 1), ("agent2", 3)]
    async with api.db.session() as s:
        penalties = dict((await s.execute(select(QueueMember.user_id, QueueMember.penalty))).all())
    assert penalties == {agent: 0, agent2: 2}
    assert (await c.delete(f"/api/v1/queues/{q}/members/{agent2}")).status_code == 204
    assert [m["username"] for m in (await c.get(f"/api/v1/queues/{q}/members")).json()] == ["agent"]
    agent_client = await api.login("agent")
    r = await agent_client.put(f"/api/v1/queues/{q}/members/{agent}", json={"skill": 1})
    assert r.status_code == 403


async def test_given_calls_waiting_when_renaming_or_deleting_the_queue_then_409_says_why_and_nothing_changes(
    api: Api, tmp_path: Path
) -> None:
    cti = _provisioned(api, tmp_path)
    c = await api.login("admin")
    q = (await c.post("/api/v1/queues", json={"name": "support", "display_name": "Support"})).json()["id"]
    # a caller waiting in `support`, as Asterisk told it (recorded; cut before they give up)
    data = raw("abandoned_in_queue")
    replay(data[: data.index(b"Event: QueueCallerAbandon")], cti.tracker)
    assert cti.tracker.waiting["support"]
    r = await c.patch(f"/api/v1/queues/{q}", json={"name": "support2"})
    assert r.status_code == 409 and "1 call waiting" in r.json()["detail"], r.text
    r = await c.delete(f"/api/v1/queues/{q}")
    assert r.status_code == 409 and "waiting: delete it once" in r.json()["detail"], r.text
    assert [x["name"] for x in (await c.get("/api/v1/queues")).json()] == ["support"]
    r = await c.patch(f"/api/v1/queues/{q}", json={"wrapup_s": 20})  # its other settings still change
    assert r.status_code == 200 and r.json()["wrapup_s"] == 20


async def test_given_a_queue_others_overflow_into_when_renamed_then_they_follow_and_delete_is_refused(
    api: Api, tmp_path: Path
) -> None:
    _provisioned(api, tmp_path)
    c = await api.login("admin")
    target = (await c.post("/api/v1/queues", json={"name": "support", "display_name": "S"})).json()["id"]
    await c.post("/api/v1/queues", json=RECLAMATIONS | {"overflow": "support"})
    r = await c.patch(f"/api/v1/queues/{target}", json={"name": "assistance"})
    assert r.status_code == 200, r.text
    assert "QOVERFLOW_reclamations = assistance" in (tmp_path / GLOBALS_INCLUDE).read_text()
    r = await c.delete(f"/api/v1/queues/{target}")
    assert r.status_code == 409 and "reclamations" in r.json()["detail"]
    r = await c.patch(f"/api/v1/queues/{target}", json={"name": None})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "name"], r.text
