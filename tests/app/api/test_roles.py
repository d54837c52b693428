"""Each role against each route family: allowed (2xx, or 404 on a missing id) or 403; 401 anonymously."""

from __future__ import annotations

import pytest

from tests.app.api.conftest import Api

ROLES = ("agent", "supervisor", "manager", "admin")
OK, NO = "ok", "forbidden"

# (method, path, body, expected per role in ROLES order)
MATRIX = [
    ("GET", "/api/v1/contacts", None, (OK, OK, OK, OK)),
    ("POST", "/api/v1/contacts", {"last_name": "Durand"}, (OK, OK, OK, OK)),
    ("DELETE", "/api/v1/contacts/999999", None, (NO, NO, OK, OK)),
    ("GET", "/api/v1/accounts", None, (OK, OK, OK, OK)),
    ("DELETE", "/api/v1/accounts/999999", None, (NO, NO, OK, OK)),
    ("GET", "/api/v1/lookup?number=0612345678", None, (OK, OK, OK, OK)),
    ("GET", "/api/v1/calls", None, (OK, OK, OK, OK)),
    ("GET", "/api/v1/complaints", None, (OK, OK, OK, OK)),
    ("GET", "/api/v1/users", None, (NO, OK, NO, OK)),  # a team lead: their agents (test_team_lead.py)
    ("GET", "/api/v1/hours", None, (NO, NO, NO, OK)),
    (
        "POST",
        "/api/v1/users",
        {"username": "zed", "display_name": "Zed", "password": "0123456789ab", "role": "agent"},
        (NO, NO, NO, OK),
    ),
    ("POST", "/api/v1/teams", {"name": "Nouvelle"}, (NO, NO, NO, OK)),
    ("GET", "/api/v1/queues", None, (OK, OK, OK, OK)),
    ("POST", "/api/v1/queues", {"name": "vip", "display_name": "VIP"}, (NO, NO, NO, OK)),
    ("GET", "/api/v1/dispositions", None, (OK, OK, OK, OK)),
    ("POST", "/api/v1/dispositions", {"code": "sale", "label": "Vente"}, (NO, NO, NO, OK)),
    ("POST", "/api/v1/pause-reasons", {"code": "lunch", "label": "Déjeuner"}, (NO, NO, NO, OK)),
    ("GET", "/api/v1/audit", None, (NO, NO, NO, OK)),
    ("GET", "/api/v1/reports/queues", None, (NO, OK, OK, OK)),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX]
)
async def test_given_each_role_when_calling_a_route_family_then_allowed_or_403(
    api: Api, method: str, path: str, body: dict | None, expected: tuple[str, ...]
) -> None:
    async with api.client() as anonymous:
        assert (await anonymous.request(method, path, json=body)).status_code == 401
    for role, want in zip(ROLES, expected, strict=True):
        c = await api.bearer(role)
        r = await c.request(method, path, json=body)
        await c.aclose()
        if want == NO:
            assert r.status_code == 403, (role, r.status_code, r.text)
        else:
            assert r.status_code in (200, 201, 204, 404, 409), (role, r.status_code, r.text)
