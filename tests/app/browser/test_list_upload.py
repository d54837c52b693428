"""Call-list import in the browser: a campaign manager uploads a call list, maps its columns, follows the
progress and downloads the report."""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.app.browser.conftest import login

pytestmark = pytest.mark.browser


def test_given_a_manager_when_uploading_a_french_list_then_columns_map_progress_ends_and_the_report_downloads(
    page: Page, tmp_path: Path
) -> None:
    path = tmp_path / "salon.csv"
    path.write_bytes(
        (
            "Nom;Prénom;GSM perso;Ville;Remarque\r\n"
            'Lefèvre;Hélène;06 12 34 56 78;Paris;=HYPERLINK("x")\r\n'
            "Benali;Karim;06 98 76 54 32;Lyon;\r\n"
            "Martin;Chloé;12;Nantes;\r\n"
            "Dupont;Jean;06 12 34 56 78;Lille;\r\n"
        ).encode("cp1252")
    )
    login(page, "demo-manager")
    page.get_by_role("navigation", name="Navigation principale").get_by_role("link", name="Campagnes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Campagnes")
    page.get_by_label("Fichier (CSV ou XLSX)").set_input_files(str(path))
    page.get_by_label("Nom de la nouvelle liste").fill("Salon de l'auto 2026")
    page.get_by_role("button", name="Aperçu et correspondance des colonnes").click()
    gsm = page.get_by_role("combobox", name="GSM perso")  # an unknown header: the manager maps it
    expect(gsm).to_have_value("custom")
    expect(page.get_by_role("row", name="GSM perso").get_by_role("cell").first).to_contain_text(
        "06 12 34 56 78"
    )
    gsm.select_option("number:mobile")
    page.get_by_role("button", name="Importer", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Import terminé.", timeout=15_000)
    expect(page.locator("#progress")).to_have_attribute("value", "100")
    counters = page.locator("#counters")
    expect(counters.locator('[data-k="accepted"]')).to_have_text("2")
    expect(counters.locator('[data-k="duplicates"]')).to_have_text("1")
    expect(counters.locator('[data-k="invalid"]')).to_have_text("1")
    with page.expect_download() as info:
        page.get_by_role("link", name="Télécharger le rapport d’import (CSV)").click()
    text = Path(info.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    start = rows.index(["line", "kind", "reason"])
    assert [r[:2] for r in rows[start + 1 :]] == [["4", "invalid"], ["5", "duplicate"]]


def test_given_campaigns_when_the_manager_uses_the_state_buttons_then_legal_moves_apply_and_refusals_show(
    page: Page,
) -> None:
    login(page, "demo-manager")
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "plateau_csrf")
    headers = {"X-CSRF-Token": csrf}
    queue_id = page.request.get("/api/v1/queues").json()[0]["id"]
    list_id = page.request.post("/api/v1/lists", data={"name": "Relance 2026"}, headers=headers).json()["id"]
    body = "Nom;Téléphone\r\nDurand;06 11 22 33 44\r\n".encode("cp1252")
    job = page.request.post(
        f"/api/v1/lists/{list_id}/imports",
        multipart={"file": {"name": "l.csv", "mimeType": "text/csv", "buffer": body}},
        headers=headers,
    ).json()
    deadline = time.monotonic() + 15  # poll the import job with a deadline
    while page.request.get(f"/api/v1/imports/{job['id']}").json()["status"] == "running":
        assert time.monotonic() < deadline, "the import did not end"
        page.wait_for_timeout(100)
    for name, lists in (("Relance printemps", [list_id]), ("Sans liste", [])):
        r = page.request.post(
            "/api/v1/campaigns", data={"name": name, "list_ids": lists, "queue_id": queue_id}, headers=headers
        )
        assert r.status == 201, r.text()
    page.goto("/campaigns")
    row = page.get_by_role("row", name=re.compile("Relance printemps"))
    expect(row).to_contain_text("Brouillon")
    row.get_by_role("button", name="Démarrer / reprendre").click()
    expect(page.get_by_role("row", name=re.compile("Relance printemps"))).to_contain_text("En cours")
    page.get_by_role("row", name=re.compile("Relance printemps")).get_by_role("button", name="Pause").click()
    expect(page.get_by_role("row", name=re.compile("Relance printemps"))).to_contain_text("En pause")
    page.get_by_role("row", name=re.compile("Sans liste")).get_by_role(
        "button", name="Démarrer / reprendre"
    ).click()
    expect(page.locator("#campaign-error")).to_contain_text("attach at least one call list")
