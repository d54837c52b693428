"""Page routes over HTTP (both engines): sign-in redirects, open-redirect guard, CSRF on form posts,
roles, not-found pages, language switch, and the page chrome (lang attribute, security headers)."""

from __future__ import annotations

import re

import httpx
import pytest

from core.models import Contact, User
from tests.app.api.conftest import Api

pytestmark = pytest.mark.db
HTML = {"accept": "text/html"}


async def _csrf(client: httpx.AsyncClient) -> str:
    return client.headers["X-CSRF-Token"]


@pytest.mark.parametrize("path", ["/", "/desk", "/customers?q=dupont", "/reports"])
async def test_given_no_session_when_a_page_is_asked_then_it_redirects_to_login_with_next(
    api: Api, path: str
) -> None:
    async with api.client() as c:
        r = await c.get(path, headers=HTML)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=/")


NEXT_TARGETS = [
    ("/customers?q=a", "/customers?q=a"),
    ("//evil.example/x", "/"),
    ("https://evil.example", "/"),
    ("/\\evil", "/"),
]


async def test_given_a_signed_in_user_when_login_has_a_next_then_only_local_paths_are_followed(
    api: Api,
) -> None:
    c = await api.login("agent")
    for next_, expected in NEXT_TARGETS:
        r = await c.get("/login", params={"next": next_})
        assert (r.status_code, r.headers["location"]) == (303, expected), next_


ACCESS = {
    "agent": {"/desk": 200, "/wallboard": 403, "/reports": 403, "/admin": 403, "/customers": 200},
    "supervisor": {"/wallboard": 200, "/desk": 403, "/reports": 200, "/admin": 403},
    "manager": {"/reports": 200, "/wallboard": 200, "/desk": 403, "/admin": 403},
    "admin": {"/admin": 200, "/desk": 200, "/wallboard": 200, "/reports": 200},
}


async def test_given_each_role_when_opening_pages_then_access_follows_the_role(api: Api) -> None:
    for user, pages in ACCESS.items():
        c = await api.login(user)
        got = {path: (await c.get(path, headers=HTML)).status_code for path in pages}
        assert got == pages, user


async def test_given_a_bad_or_unknown_id_when_opening_a_record_then_a_not_found_page_shows(api: Api) -> None:
    c = await api.login("agent")
    for path in ["/contacts/abc", "/contacts/0", "/contacts/99999999999999999999", "/accounts/123456"]:
        r = await c.get(path, headers=HTML)
        assert r.status_code == 404 and "Introuvable" in r.text, path


async def test_given_a_mangled_cursor_when_opening_a_timeline_then_the_newest_page_shows(api: Api) -> None:
    async with api.db.session() as s:
        contact = Contact(last_name="Durand")
        s.add(contact)
        await s.commit()
        cid = contact.id
    c = await api.login("agent")
    r = await c.get(f"/contacts/{cid}", params={"cursor": "not-a-cursor"}, headers=HTML)
    assert r.status_code == 200 and "Durand" in r.text


@pytest.mark.parametrize(
    ("role", "shown"),
    [("decision_maker", "Décideur"), ("gatekeeper", "Filtre (secrétariat)"), ("Acheteur", "Acheteur")],
)
async def test_given_a_contact_role_code_when_the_contact_page_shows_then_it_reads_in_the_users_language(
    api: Api, role: str, shown: str
) -> None:
    async with api.db.session() as s:
        contact = Contact(last_name="Durand", role=role)
        s.add(contact)
        await s.commit()
        cid = contact.id
    c = await api.login("agent")
    r = await c.get(f"/contacts/{cid}", headers=HTML)
    assert r.status_code == 200
    assert re.search(rf"<dd>{re.escape(shown)}</dd>", r.text), r.text
    if role != shown:
        assert role not in r.text


async def test_given_a_form_post_without_the_csrf_token_when_signed_in_then_it_is_refused(api: Api) -> None:
    c = await api.login("agent")
    r = await c.post("/language", data={"lang": "en", "next": "/desk"}, headers={"X-CSRF-Token": ""})
    assert r.status_code == 403
    r = await c.post("/logout", data={"csrf_token": "wrong"})
    assert r.status_code == 403


async def test_given_a_signed_in_user_when_switching_language_then_it_is_saved_and_pages_follow(
    api: Api,
) -> None:
    c = await api.login("agent")
    r = await c.post("/language", data={"lang": "en", "next": "/desk", "csrf_token": await _csrf(c)})
    assert r.status_code == 303 and r.headers["location"] == "/desk"
    async with api.db.session() as s:
        assert (await s.get(User, api.users["agent"].id)).language == "en"  # type: ignore[union-attr]
    page = await c.get("/desk", headers=HTML)
    assert '<html lang="en">' in page.text and "Agent desk" in page.text


@pytest.mark.parametrize("lang", ["de", "", "en<script>"])
async def test_given_an_unsupported_language_when_switching_then_a_422_names_the_field(
    api: Api, lang: str
) -> None:
    async with api.client() as c:
        r = await c.post("/language", data={"lang": lang, "next": "/"})
    assert r.status_code == 422 and "lang" in r.text


async def test_given_the_logout_form_when_posted_with_its_token_then_the_session_ends(api: Api) -> None:
    c = await api.login("agent")
    r = await c.post("/logout", data={"csrf_token": await _csrf(c)})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert (await c.get("/desk", headers=HTML)).status_code == 303


async def test_given_any_page_when_served_then_it_is_french_by_default_with_security_headers(
    api: Api,
) -> None:
    async with api.client() as c:
        r = await c.get("/login")
    assert re.search(r'<html lang="fr">', r.text) and "Aller au contenu principal" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"


async def test_given_an_api_client_when_an_api_route_fails_then_errors_stay_json(api: Api) -> None:
    c = await api.bearer("agent")
    r = await c.get("/api/v1/contacts/123456", headers=HTML)
    assert r.status_code == 404 and r.json() == {"detail": "no such contact"}
