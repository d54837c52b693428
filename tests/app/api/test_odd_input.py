"""Odd input answers 4xx naming the problem, never a server error: dates at the edge of the calendar,
forged history cursors, a CSRF header outside ASCII."""

from __future__ import annotations

import base64

import pytest

from tests.app.api.conftest import Api

YEAR_ONE_WEST = "0001-01-01T00:00:00-12:00"
YEAR_ONE_EAST = "0001-01-01T00:00:00+12:00"
LAST_DAY_WEST = "9999-12-31T23:59:59-12:00"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/reports/queues",
        "/api/v1/reports/intervals",
        "/api/v1/reports/agent-states",
        "/api/v1/campaign-reports",
        "/api/v1/calls",
    ],
)
@pytest.mark.parametrize(
    "params",
    [
        {"until": YEAR_ONE_WEST},
        {"until": YEAR_ONE_EAST},
        {"since": YEAR_ONE_EAST, "until": "0001-01-02T00:00:00+00:00"},
        {"since": "9999-12-30T00:00:00+00:00", "until": LAST_DAY_WEST},
    ],
)
async def test_given_a_period_at_the_edge_of_the_calendar_when_reported_then_422_naming_it(
    api: Api, path: str, params: dict[str, str]
) -> None:
    c = await api.bearer("admin")
    r = await c.get(path, params=params)
    await c.aclose()
    assert r.status_code == 422, r.text
    assert "since" in r.text or "until" in r.text


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor("2026-01-01T00:00:00+00:00|99999999999999999999999"),
        _cursor("2026-01-01T00:00:00+00:00|-99999999999999999999999"),
        _cursor("0001-01-01T00:00:00+12:00|5"),
        _cursor("0001-01-01T00:00:00-12:00|5"),
        _cursor("9999-12-31T23:59:59-12:00|5"),
    ],
)
@pytest.mark.parametrize("what", ["calls", "contact", "account"])
async def test_given_a_forged_history_cursor_when_paging_then_422_naming_the_cursor(
    api: Api, cursor: str, what: str
) -> None:
    c = await api.bearer("admin")
    if what == "calls":
        path = "/api/v1/calls"
    else:
        account = (await c.post("/api/v1/accounts", json={"name": "ACME"})).json()
        contact = (
            await c.post("/api/v1/contacts", json={"last_name": "Durand", "account_id": account["id"]})
        ).json()
        path = f"/api/v1/{what}s/{(contact if what == 'contact' else account)['id']}/timeline"
    r = await c.get(path, params={"cursor": cursor})
    await c.aclose()
    assert r.status_code == 422, r.text
    assert "cursor" in r.text


async def test_given_a_csrf_header_outside_ascii_when_writing_then_403_not_a_crash(api: Api) -> None:
    c = await api.login("agent")
    c.headers["X-CSRF-Token"] = "jeton-é".encode().decode("latin-1")
    r = await c.post("/api/v1/accounts", json={"name": "ACME"})
    await c.aclose()
    assert r.status_code == 403 and "CSRF" in r.text
