"""The campaign pages and the readiness route (both engines): why a campaign cannot dial, said on its page
and by the API; who may open the pages; a script that does not load shows its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.web.campaigns_view import load_preview
from tests.api.conftest import Api

pytestmark = pytest.mark.db
HTML = {"accept": "text/html"}


async def test_given_a_campaign_without_lists_when_its_readiness_is_asked_then_page_and_api_say_why(
    api: Api,
) -> None:
    manager = await api.login("manager")
    r = await manager.post("/api/v1/campaigns", json={"name": "Sans rien", "script": "suivi-satisfaction"})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    codes = [b["code"] for b in (await manager.get(f"/api/v1/campaigns/{cid}/readiness")).json()]
    assert codes[:2] == ["no_list", "no_queue_or_team"]
    page = await manager.get(f"/campaigns/{cid}", headers=HTML)
    assert page.status_code == 200
    assert "Aucune liste d’appels n’y est rattachée." in page.text
    assert "Elle n’a ni file d’attente ni équipe d’agents." in page.text
    assert 'id="script-preview"' in page.text and "Suivi de satisfaction client" in page.text
    refused = await manager.post(f"/api/v1/campaigns/{cid}/transition", json={"to": "running"})
    assert refused.status_code == 409 and "attach at least one call list" in refused.text


PAGE_ACCESS = {  # user → {path: status}
    "agent": {"/campaigns/new": 403, "/campaigns/scripts/suivi-satisfaction": 403},
    "manager": {"/campaigns/new": 200, "/campaigns/scripts/suivi-satisfaction": 200,
                "/campaigns/scripts/absent": 404, "/campaigns/x1": 404, "/campaigns/999999": 404},
}  # fmt: skip


async def test_given_each_role_when_opening_the_campaign_pages_then_access_follows_the_role(api: Api) -> None:
    for user, pages in PAGE_ACCESS.items():
        c = await api.login(user)
        got = {path: (await c.get(path, headers=HTML)).status_code for path in pages}
        assert got == pages, user


def test_given_a_script_with_broken_yaml_when_previewed_then_its_errors_come_back_not_a_script(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "casse.yaml"
    bad.write_text("id: casse\nsections: [unclosed\n", encoding="utf-8")
    script, errors = load_preview(bad)
    assert script is None and errors and "invalid YAML" in errors[0]
    incomplete = tmp_path / "incomplet.yaml"
    incomplete.write_text("id: incomplet\ntitle: X\nlanguage: fr\nsections: []\n", encoding="utf-8")
    script, errors = load_preview(incomplete)
    assert script is None and any("outcomes" in e for e in errors)
