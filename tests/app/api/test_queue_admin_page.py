"""The queues page's forms over HTTP (both engines): the API's schema refuses the same input, the error
shows beside its field in the reader's language with what was typed kept, CSRF, admins only, and the
phone password shown once."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from app.cti_wiring import build_cti
from app.ws_hub import Hub
from core.models import User
from core.settings import Settings
from cti.phones import ha1
from cti.queue_provision import QueueProvisioner
from tests.app.api.conftest import Api
from tests.cti.transcripts import raw, replay

pytestmark = pytest.mark.db
HTML = {"accept": "text/html"}


async def _post(c: httpx.AsyncClient, path: str, data: dict[str, str]) -> httpx.Response:
    return await c.post(path, data={"csrf_token": c.headers["X-CSRF-Token"], **data}, headers=HTML)


NEW = {"name": "reclamations", "display_name": "Réclamations", "strategy": "rrmemory", "wrapup_s": "0",
       "service_level_s": "20", "sl_target_pct": "80", "short_abandon_s": "5", "max_wait_s": "", "did": "",
       "overflow": "", "team_id": ""}  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("name", "service client", "Lettres minuscules a-z"),
        ("name", "réclamations", "Lettres minuscules a-z"),
        ("name", "general", "Lettres minuscules a-z"),
        ("did", "01 23", "Chiffres seulement"),
        ("wrapup_s", "-5", "De 0 à 3600 secondes"),
        ("display_name", "", "Obligatoire"),
        ("overflow", "nulle_part", "Aucune file ne s’appelle nulle_part"),
    ],
)
async def test_given_the_new_queue_form_when_a_field_is_invalid_then_422_shows_the_error_beside_it_and_keeps_the_input(  # noqa: E501
    api: Api, field: str, value: str, says: str
) -> None:
    c = await api.login("admin")
    r = await _post(c, "/admin/queues", NEW | {field: value})
    assert r.status_code == 422, r.text[:300]
    err = re.search(
        rf'<p class="field-error" id="new-{field}-err" data-field-error="{field}">([^<]*)</p>', r.text
    )
    assert err and says in err.group(1), r.text
    assert f'id="new-{field}"' in r.text and 'aria-invalid="true"' in r.text
    assert f'value="{NEW["display_name"]}"' in r.text or field == "display_name"  # the input is kept
    assert (await c.get("/api/v1/queues")).json() == []


async def test_given_valid_forms_when_posted_then_the_queue_and_a_member_with_a_skill_exist(api: Api) -> None:
    c = await api.login("admin")
    r = await _post(c, "/admin/queues", NEW | {"did": "5554000"})
    assert r.status_code == 303, r.text[:500]
    queue = (await c.get("/api/v1/queues")).json()[0]
    assert r.headers["location"] == f"/admin/queues?q={queue['id']}&done=created"
    agent = api.users["agent"].id
    r = await _post(c, f"/admin/queues/{queue['id']}/members", {"user_id": str(agent), "skill": "12"})
    assert r.status_code == 422 and 'data-field-error="skill"' in r.text
    r = await _post(c, f"/admin/queues/{queue['id']}/members", {"user_id": str(agent), "skill": "1"})
    assert r.status_code == 303
    page = (await c.get(f"/admin/queues?q={queue['id']}&done=skill", headers=HTML)).text
    assert "Compétence enregistrée." in page and 'data-member="agent"' in page
    members = (await c.get(f"/api/v1/queues/{queue['id']}/members")).json()
    assert [(m["username"], m["skill"]) for m in members] == [("agent", 1)]
    r = await c.post(f"/admin/queues/{queue['id']}/members", data={"user_id": str(agent), "skill": "2"})
    assert r.status_code == 403  # no CSRF token


async def test_given_a_phone_when_its_password_is_reset_on_the_page_then_it_is_shown_once(api: Api) -> None:
    c = await api.login("admin")
    agent = api.users["agent"]
    r = await _post(c, f"/admin/queues/phones/{agent.id}/password", {})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    password = re.search(r'data-cred="password">([^<]+)<', r.text).group(1)  # type: ignore[union-attr]
    async with api.db.session() as s:
        user = await s.get(User, agent.id)
        assert user is not None and user.sip_ha1 == ha1("ep-agent", password)
    assert password not in (await c.get("/admin/queues", headers=HTML)).text


@pytest.mark.parametrize("who", ["agent", "supervisor", "manager"])
async def test_given_a_non_admin_when_opening_the_queues_page_then_403(api: Api, who: str) -> None:
    c = await api.login(who)
    assert (await c.get("/admin/queues", headers=HTML)).status_code == 403


async def test_given_a_caller_waiting_when_the_queue_is_deleted_on_the_page_then_409_says_why_beside_the_name(
    api: Api, tmp_path: Path
) -> None:
    cti = build_cti(Settings(database_url=api.db.url, secret_key="t", ami_enabled=False), api.db, Hub())
    api.app.state.cti = cti
    api.app.state.queues = QueueProvisioner(tmp_path, cti)
    c = await api.login("admin")
    assert (await _post(c, "/admin/queues", NEW | {"name": "support"})).status_code == 303
    queue = (await c.get("/api/v1/queues")).json()[0]["id"]
    data = raw("abandoned_in_queue")  # a caller waiting in `support`, cut before they give up
    replay(data[: data.index(b"Event: QueueCallerAbandon")], cti.tracker)
    r = await _post(c, f"/admin/queues/{queue}/delete", {})
    assert r.status_code == 409, r.text[-3000:]
    assert "La file support a 1 appel(s) en attente" in r.text
    r = await _post(c, f"/admin/queues/{queue}", NEW | {"name": "support2"})
    assert r.status_code == 409 and 'data-field-error="name"' in r.text
    assert [q["name"] for q in (await c.get("/api/v1/queues")).json()] == ["support"]
