"""GET /campaigns/{id}/monitor on SQLite and PostgreSQL: counts, abandons, penetration, roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.dialer_tables import CallList, Campaign, CampaignList, CampaignState, Lead, LeadAttempt
from tests.app.api.conftest import Api, api  # noqa: F401

pytestmark = pytest.mark.db


async def _campaign(api: Api) -> int:  # noqa: F811
    now = datetime.now(UTC)
    async with api.db.session() as s:
        cl = CallList(name="monitor list", lead_count=4)
        s.add(cl)
        await s.flush()
        leads = [Lead(list_id=cl.id, attempts=1 if i < 3 else 0, status="retry") for i in range(4)]
        s.add_all(leads)
        c = Campaign(name="monitor", rule_set="FR-2023", state=CampaignState.running)
        s.add(c)
        await s.flush()
        s.add(CampaignList(campaign_id=c.id, list_id=cl.id))
        answered = now - timedelta(seconds=2)  # today, whatever the hour
        s.add_all(
            [
                LeadAttempt(
                    lead_id=leads[0].id,
                    campaign_id=c.id,
                    e164="+33611000001",
                    started_at=answered - timedelta(seconds=1),
                    answered_at=answered,
                    agent_connected_at=answered + timedelta(seconds=1),
                    result="contact",
                ),
                LeadAttempt(
                    lead_id=leads[1].id,
                    campaign_id=c.id,
                    e164="+33611000002",
                    started_at=answered - timedelta(seconds=1),
                    answered_at=answered,
                    result="dropped",
                ),
                LeadAttempt(
                    lead_id=leads[2].id,
                    campaign_id=c.id,
                    e164="+33611000003",
                    started_at=answered - timedelta(seconds=1),
                    result="busy",
                ),
            ]
        )
        await s.commit()
        return c.id


async def test_given_a_campaigns_attempts_when_the_monitor_is_read_then_it_counts_them_by_the_rule_set(
    api: Api,  # noqa: F811
) -> None:
    cid = await _campaign(api)
    async with await api.bearer("supervisor") as http:
        r = await http.get(f"/api/v1/campaigns/{cid}/monitor")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["campaign"]["state"] == "running"
    assert body["results_today"] == {"contact": 1, "dropped": 1, "busy": 1}
    assert (body["attempts_today"], body["contacts_today"], body["connected_today"]) == (3, 2, 1)
    assert body["list_penetration"] == {"leads": 4, "dialled": 3, "percent": 75.0}
    for key in ("abandon_today", "abandon_period"):
        assert (body[key]["abandoned"], body[key]["live"], body[key]["rate_percent"]) == (1.0, 2.0, 50.0)
    assert body["abandon_limit_percent"] == 3.0
    assert body["running"] is False and body["decisions"] == []  # no dialer in this app


@pytest.mark.parametrize(("who", "status"), [("agent", 403), ("manager", 200), ("admin", 200)])
async def test_given_a_role_when_it_reads_the_monitor_then_only_supervision_may(
    api: Api,  # noqa: F811
    who: str,
    status: int,
) -> None:
    cid = await _campaign(api)
    async with await api.bearer(who) as http:
        assert (await http.get(f"/api/v1/campaigns/{cid}/monitor")).status_code == status


async def test_given_no_such_campaign_when_its_monitor_is_read_then_404(api: Api) -> None:  # noqa: F811
    async with await api.bearer("manager") as http:
        r = await http.get("/api/v1/campaigns/999999/monitor")
    assert r.status_code == 404
