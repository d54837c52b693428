"""Opening hours kept in the database: an hours node naming a stored schedule judges by it, the schedule
written in the flow is the fallback; the store reads only valid rows; the FastAGI shell never lets a
database fault keep a caller waiting."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from app.ivr_data import AppIvrData
from core.db import Database
from core.ivr_tables import BusinessHoursRow
from core.model_errors import ContentError
from cti.ivr import hours_store
from cti.ivr import interpreter as it
from cti.ivr.agi import IvrServer
from cti.ivr.flows import parse_flow
from cti.ivr.hours import Schedule

MONDAY_10H = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # 10:00 in Paris
ALWAYS = Schedule(weekly={d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})
NEVER = Schedule(weekly={})


def _flow(hours: str) -> Any:
    return parse_flow(
        "t",
        f"""
start: hours
nodes:
  hours:
    type: hours
{hours}
    open: open
    closed: closed
  open: {{type: hangup, sounds: [hello]}}
  closed: {{type: hangup, sounds: [goodbye]}}
""",
        "t.yaml",
    )


WRITTEN_OPEN = '    schedule: {weekly: {mon: ["08:00-18:00"]}}\n'
NAMED = "    schedule_name: accueil\n"


@pytest.mark.parametrize(
    ("hours", "stored", "expected", "reason"),
    [
        (WRITTEN_OPEN, {}, "open", None),  # no name: the flow's own schedule, as before
        (WRITTEN_OPEN + NAMED, {"accueil": NEVER}, "closed", None),  # the stored one wins
        (WRITTEN_OPEN + NAMED, {}, "open", None),  # not stored: the written one is the fallback
        (WRITTEN_OPEN + NAMED, {"other": NEVER}, "open", None),  # another name changes nothing
        (NAMED, {"accueil": ALWAYS}, "open", None),  # a name alone
        (NAMED, {}, "closed", "no schedule 'accueil'"),  # neither: closed, and the history says why
    ],
)
def test_given_stored_schedules_when_an_hours_node_runs_then_the_named_one_decides_else_the_written_one(
    hours: str, stored: dict[str, Schedule], expected: str, reason: str | None
) -> None:
    session = it.Session(_flow(hours), it.CallContext("0612345678", "5551000", MONDAY_10H, schedules=stored))
    session.start()
    assert session.variables["hours_status"] == expected
    assert session.path[0].get("reason") == reason


def test_given_an_hours_node_without_any_schedule_when_parsed_then_it_is_refused() -> None:
    with pytest.raises(ContentError, match="schedule"):
        _flow("    holiday: closed\n")


@pytest.mark.parametrize("name", ["Accueil", "a b", "é", "x" * 41, "-x"])
def test_given_a_bad_schedule_name_when_a_flow_is_parsed_then_it_is_refused(name: str) -> None:
    with pytest.raises(ContentError):
        _flow(f"    schedule_name: '{name}'\n")


def test_given_a_flow_when_asked_then_it_lists_the_schedules_it_names() -> None:
    assert _flow(WRITTEN_OPEN + NAMED).schedule_names() == {"accueil"}
    assert _flow(WRITTEN_OPEN).schedule_names() == frozenset()


@pytest.mark.db
async def test_given_rows_when_loaded_then_valid_named_ones_come_back_and_a_broken_one_is_left_out(
    db: Database,
) -> None:
    async with db.session() as s:
        s.add_all(
            [
                BusinessHoursRow(name="accueil", schedule=NEVER.model_dump(mode="json")),
                BusinessHoursRow(name="broken", schedule={"weekly": {"mon": ["18:00-08:00"]}}),
                BusinessHoursRow(name="unused", schedule=ALWAYS.model_dump(mode="json")),
            ]
        )
        await s.commit()
    async with db.session() as s:
        assert await hours_store.load(s, ["accueil", "broken", "missing"]) == {"accueil": NEVER}
        assert await hours_store.load(s, []) == {}


class _FailingDb:
    def session(self) -> Any:
        raise RuntimeError("database down")


async def test_given_a_database_fault_when_a_call_starts_then_the_flow_decides_alone() -> None:
    server = IvrServer(flows={}, db=_FailingDb(), data=AppIvrData())  # type: ignore[arg-type]
    assert await server._schedules(_flow(WRITTEN_OPEN + NAMED)) == {}
