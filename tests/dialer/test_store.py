"""From an uploaded list to the hopper's choice: rows → core records → `select_leads`, both engines."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.db import Database
from core.dialer_tables import CallList, Lead
from dialer.callbacks import schedule_callback
from dialer.compliance import builtin_rule_sets
from dialer.leads import select_leads
from dialer.leads_model import Attempt, AttemptResult, LeadStatus
from dialer.list_import import ImportOptions, import_file
from dialer.store import load_history, load_leads, record_attempt
from tests.dialer.files import french_csv

pytestmark = pytest.mark.db
FR = builtin_rule_sets()["FR-2023"]
NOW = datetime.fromisoformat("2026-07-15T11:00:00+02:00")  # a Wednesday inside the French windows


async def test_given_an_imported_list_when_attempts_and_a_callback_are_stored_then_the_hopper_follows(
    db: Database, tmp_path: Path
) -> None:
    async with db.session() as s:
        cl = CallList(name="Prospects")
        s.add(cl)
        await s.flush()
        await import_file(s, french_csv(tmp_path), ImportOptions(list_id=cl.id))
        list_id = cl.id
        ids = list(await s.scalars(select(Lead.id).order_by(Lead.source_line)))
    async with db.session() as s:
        leads = await load_leads(s, [list_id])
        assert [lead.id for lead in leads] == ids
        first = leads[0]
        assert [n.e164 for n in first.numbers] == ["+33612345678", "+33142685300"]
        assert first.numbers[0].zones == ("Europe/Paris",) and first.fields["last_name"] == "Lefèvre"
        assert [s_.lead.id for s_ in select_leads(leads, [], FR, NOW, 10)] == ids
        for day in (1, 2, 3, 6):  # four attempts in 30 days on the first lead: the FR cap
            started = datetime.fromisoformat(f"2026-07-0{day}T11:00:00+02:00")
            await record_attempt(s, Attempt(first.id, "+33612345678", started, AttemptResult.NO_ANSWER))
        await schedule_callback(
            s,
            number_e164="+33781223344",
            contact_id=None,
            lead_id=ids[2],
            due_at=NOW - timedelta(minutes=5),
            tz="Europe/Paris",
            source="agent",
            note=None,
        )
        await s.commit()
    async with db.session() as s:
        leads = await load_leads(s, [list_id])
        history = await load_history(s, leads, since=NOW - timedelta(days=31))
    by_id = {lead.id: lead for lead in leads}
    assert len(history) == 4 and by_id[ids[0]].attempts == 4
    assert [lead.id for lead in leads][-1] == ids[0]  # most attempts last
    assert by_id[ids[2]].status is LeadStatus.CALLBACK and by_id[ids[2]].callback is not None
    chosen = select_leads(leads, history, FR, NOW, 10)
    assert [c.lead.id for c in chosen] == [ids[2], ids[1], ids[3]]  # callback first, capped lead left out
    assert chosen[0].source == "callback"
