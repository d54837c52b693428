"""Opening hours over the API and at /admin/hours (both engines): one schema whose errors name their field,
the page's text fields read as the API's lists, every write audited, admins only."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from core.models import AuditLog
from cti.ivr import hours_store
from tests.app.api.conftest import Api

pytestmark = pytest.mark.db
HTML = {"accept": "text/html"}

ACCUEIL: dict[str, Any] = {
    "name": "accueil",
    "timezone": "Europe/Paris",
    "weekly": {"mon": ["08:30-12:00", "14:00-18:00"], "sat": ["09:00-12:00"]},
    "holidays_country": "FR",
    "exceptions": [{"date": "2026-12-26", "hours": [], "reason": "inventaire"}],
}


async def test_given_an_admin_when_creating_editing_deleting_a_schedule_then_flows_read_it_and_it_is_audited(
    api: Api,
) -> None:
    c = await api.login("admin")
    r = await c.post("/api/v1/hours", json=ACCUEIL)
    assert r.status_code == 201, r.text
    hours_id = r.json()["id"]
    assert r.json()["weekly"] == ACCUEIL["weekly"] and r.json()["holidays_country"] == "FR"
    changed = ACCUEIL | {"weekly": {"mon": ["09:00-17:00"]}}
    r = await c.put(f"/api/v1/hours/{hours_id}", json=changed)
    assert r.status_code == 200, r.text
    async with api.db.session() as s:
        stored = await hours_store.load(s, ["accueil"])
    assert stored["accueil"].weekly == {"mon": ["09:00-17:00"]}
    assert (await c.get("/api/v1/hours")).json()[0]["name"] == "accueil"
    assert (await c.delete(f"/api/v1/hours/{hours_id}")).status_code == 204
    assert (await c.get("/api/v1/hours")).json() == []
    async with api.db.session() as s:
        actions = list(
            await s.scalars(select(AuditLog.action).where(AuditLog.target_type == "business_hours"))
        )
    assert actions == ["hours_created", "hours_updated", "hours_deleted"]


async def test_given_the_page_fields_when_posted_then_day_texts_and_exception_lines_become_the_schedule(
    api: Api,
) -> None:
    c = await api.login("admin")
    body = {
        "name": "fermeture",
        "timezone": "Europe/Paris",
        "holidays_country": None,
        "mon": "08:30-12:00, 14:00-18:00",
        "tue": "08:30-18:00",
        "exceptions": "2026-12-24; 08:30-12:00; Réveillon\n\n2026-12-26;; inventaire",
    }
    r = await c.post("/api/v1/hours", json=body)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["weekly"] == {"mon": ["08:30-12:00", "14:00-18:00"], "tue": ["08:30-18:00"]}
    assert out["exceptions"] == [
        {"date": "2026-12-24", "hours": ["08:30-12:00"], "reason": "Réveillon"},
        {"date": "2026-12-26", "hours": [], "reason": "inventaire"},
    ]
    page = await c.get("/admin/hours", headers=HTML)
    assert page.status_code == 200
    assert 'value="08:30-12:00, 14:00-18:00"' in page.text
    assert "2026-12-26; ; inventaire" in page.text


BAD = [  # (what changes in ACCUEIL, the field the 422 names)
    ({"name": "Accueil principal"}, "name"),
    ({"name": ""}, "name"),
    ({"timezone": "Europe/Lutece"}, "timezone"),
    ({"weekly": {"mon": ["08:00-12:00", "11:00-14:00"]}}, "weekly"),  # overlapping
    ({"weekly": {"lun": ["08:00-12:00"]}}, "weekly"),  # not a day
    ({"weekly": {"mon": ["18:00-08:00"]}}, "weekly"),  # a night range
    ({"mon": "8h-12h"}, "weekly"),  # the page's day field
    ({"holidays_country": "XX"}, "holidays_country"),
    ({"holidays_subdivision": "99"}, "holidays_subdivision"),
    ({"exceptions": "2026-13-01;;"}, "exceptions"),
    ({"exceptions": "2026-12-24; 08:00-12:00; a; b"}, "exceptions"),
    ({"color": "blue"}, "color"),
]


@pytest.mark.parametrize(("change", "field"), BAD)
async def test_given_bad_input_when_saving_a_schedule_then_a_422_names_the_field_and_nothing_is_written(
    api: Api, change: dict[str, Any], field: str
) -> None:
    c = await api.login("admin")
    r = await c.post("/api/v1/hours", json=ACCUEIL | change)
    assert r.status_code == 422, r.text
    assert [d["loc"][1] for d in r.json()["detail"]] == [field]
    assert (await c.get("/api/v1/hours")).json() == []


async def test_given_a_name_taken_when_another_schedule_takes_it_then_422_on_the_name(api: Api) -> None:
    c = await api.login("admin")
    assert (await c.post("/api/v1/hours", json=ACCUEIL)).status_code == 201
    other = (await c.post("/api/v1/hours", json=ACCUEIL | {"name": "autre"})).json()
    r = await c.put(f"/api/v1/hours/{other['id']}", json=ACCUEIL)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "name"]
    assert (await c.put("/api/v1/hours/999999", json=ACCUEIL)).status_code == 404


@pytest.mark.parametrize("role", ["agent", "supervisor", "manager"])
async def test_given_a_role_below_admin_when_touching_opening_hours_then_403_on_api_and_page(
    api: Api, role: str
) -> None:
    c = await api.login(role)
    assert (await c.get("/api/v1/hours")).status_code == 403
    assert (await c.post("/api/v1/hours", json=ACCUEIL)).status_code == 403
    assert (await c.get("/admin/hours", headers=HTML)).status_code == 403
