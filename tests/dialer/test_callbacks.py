"""Callbacks: the pure fallback rule (tables), `schedule_callback` for the IVR, and the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.dialer_tables import CallbackSource, CallbackStatus
from dialer.callbacks import Audience, CallbackError, callback_audience, schedule_callback
from tests.dialer.conftest import Api

DUE = datetime(2026, 7, 15, 9, 0, tzinfo=UTC)
P = CallbackStatus.pending


@pytest.mark.parametrize(
    ("now", "agent_id", "status", "fallback_min", "expected"),
    [
        (DUE - timedelta(seconds=1), 7, P, 30, Audience.NOT_DUE),
        (DUE - timedelta(seconds=1), None, P, 30, Audience.NOT_DUE),
        (DUE, None, P, 30, Audience.ANYONE),  # for anyone: as soon as due
        (DUE, 7, P, 30, Audience.AGENT),  # agent-only: its agent first
        (DUE + timedelta(minutes=29, seconds=59), 7, P, 30, Audience.AGENT),
        (DUE + timedelta(minutes=30), 7, P, 30, Audience.ANYONE),  # missed: falls back to anyone
        (DUE + timedelta(minutes=5), 7, P, 5, Audience.ANYONE),  # a shorter configured delay
        (DUE, 7, P, 0, Audience.ANYONE),  # no delay: anyone at once
        (DUE + timedelta(days=3), 7, CallbackStatus.done, 30, Audience.CLOSED),
        (DUE + timedelta(days=3), None, CallbackStatus.cancelled, 30, Audience.CLOSED),
    ],
)
def test_given_a_callback_when_asking_who_may_take_it_then_agent_only_falls_back_after_the_delay(
    now: datetime, agent_id: int | None, status: CallbackStatus, fallback_min: int, expected: Audience
) -> None:
    got = callback_audience(
        due_at=DUE, agent_id=agent_id, status=status, fallback_after=timedelta(minutes=fallback_min), now=now
    )
    assert got is expected


def test_given_a_naive_instant_when_asking_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        callback_audience(
            due_at=DUE.replace(tzinfo=None), agent_id=None, status=P, fallback_after=timedelta(0), now=DUE
        )


@pytest.mark.db
async def test_given_the_ivr_when_it_schedules_a_callback_then_it_is_stored_in_utc_with_the_zone(
    api: Api,
) -> None:
    due = datetime(2026, 7, 15, 14, 30, tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    async with api.db.session() as s:
        cb = await schedule_callback(
            s,
            number_e164="06 12 34 56 78",
            contact_id=None,
            due_at=due,
            tz="Europe/Paris",
            source="ivr",
            note="rappel demandé au SVI",
        )
        await s.commit()
        assert (cb.number_e164, cb.due_at, cb.source, cb.status) == (
            "+33612345678",
            datetime(2026, 7, 15, 14, 30, tzinfo=UTC),
            CallbackSource.ivr,
            CallbackStatus.pending,
        )
        for field, kwargs in [
            ("tz", {"tz": "Mars/Olympus"}),
            ("number_e164", {"number_e164": "12"}),
            ("source", {"source": "fax"}),
            ("due_at", {"due_at": datetime(2026, 7, 15, 14)}),
        ]:
            args = {
                "number_e164": "0612345678",
                "due_at": due,
                "tz": "Europe/Paris",
                "source": "ivr",
            } | kwargs
            with pytest.raises(CallbackError) as err:
                await schedule_callback(s, contact_id=None, note=None, **args)
            assert err.value.field == field


@pytest.mark.db
async def test_given_an_agent_when_scheduling_callbacks_then_ownership_windows_and_cancel_are_enforced(
    api: Api,
) -> None:
    manager = await api.bearer("manager")
    camp = await manager.post("/api/v1/campaigns", json={"name": "Rappels", "rule_set": "FR-2023"})
    camp_id = camp.json()["id"]
    agent = await api.bearer("agent")
    me = api.users["agent"].id
    # 11:00 in Paris on a Wednesday: inside the FR window
    r = await agent.post(
        "/api/v1/callbacks",
        json={
            "number": "06 12 34 56 78",
            "due_at": "2026-07-15T11:00:00+02:00",
            "for_me": True,
            "campaign_id": camp_id,
        },
    )
    assert r.status_code == 201, r.text
    cb = r.json()
    assert (cb["agent_id"], cb["tz"], cb["due_local"], cb["fallback_after_minutes"]) == (
        me,
        "Europe/Paris",
        "2026-07-15T11:00:00+02:00",
        30,
    )
    # 13:30 Paris is the lunch break of FR-2023: refused, with the next allowed time
    r = await agent.post(
        "/api/v1/callbacks",
        json={"number": "06 12 34 56 78", "due_at": "2026-07-15T13:30:00+02:00", "campaign_id": camp_id},
    )
    assert r.status_code == 422 and "2026-07-15T14:00:00+02:00" in r.text
    # an agent cannot assign a callback to a colleague; a manager can
    other = api.users["agent2"].id
    body = {"number": "+44 20 7946 0000", "due_at": "2026-07-15T10:00:00+01:00", "agent_id": other}
    assert (await agent.post("/api/v1/callbacks", json=body)).status_code == 403
    assert (await manager.post("/api/v1/callbacks", json=body)).status_code == 201
    bad = await agent.post(
        "/api/v1/callbacks", json={"number": "0612345678", "due_at": "2026-07-15T10:00:00"}
    )
    assert bad.status_code == 422 and "due_at" in bad.text
    # the agent sees their own and anyone's, not a colleague's
    mine = (await agent.get("/api/v1/callbacks")).json()
    assert [c["id"] for c in mine] == [cb["id"]]
    assert (
        await (await api.bearer("agent2")).post(f"/api/v1/callbacks/{cb['id']}/cancel")
    ).status_code == 403
    r = await agent.post(f"/api/v1/callbacks/{cb['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled" and r.json()["audience"] == "closed"
    assert (await agent.post(f"/api/v1/callbacks/{cb['id']}/cancel")).status_code == 409
