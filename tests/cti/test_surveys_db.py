"""Post-call survey answers on a real database (SQLite and PostgreSQL): stored with the call's agent, queue
and contact, completed by later saves, on the timeline, in the next pop and in the unhappy-customers file."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from app import surveys
from app.call_history import CallHistoryWriter
from app.screenpop import ScreenPop
from app.unhappy_segment import members
from core.bus import Message
from core.db import Database
from core.directory import AgentDirectory
from core.models import Interaction, InteractionKind, OpenCall, SurveyAnswer, utcnow
from tests.cti.test_history_and_pop_db import _full_pop, _record, _ring, _seed

pytestmark = pytest.mark.db


async def _save(db: Database, linkedid: str, now: datetime, **answers: object) -> SurveyAnswer:
    values: dict[str, object] = {"csat": None, "nps": None, "comment": None} | answers
    async with db.session() as s:
        row = await surveys.save_answers(
            s, linkedid=linkedid, flow="satisfaction", caller="0612345678", now=now, region="FR", **values
        )
        await s.commit()
        return row


async def test_given_a_written_call_when_the_caller_answers_2_then_9_then_one_row_and_one_timeline_entry(db):
    ids = await _seed(db)
    await CallHistoryWriter(db, AgentDirectory(db), "FR").write([_record("sv-1")])
    now = utcnow()
    await _save(db, "sv-1", now, csat=2)
    await _save(db, "sv-1", now, nps=9)  # the second save completes the first, erasing nothing
    async with db.session() as s:
        rows = (await s.scalars(select(SurveyAnswer))).all()
        entries = (
            await s.scalars(select(Interaction).where(Interaction.kind == InteractionKind.survey))
        ).all()
    assert [(r.linkedid, r.csat, r.nps, r.agent_id, r.queue, r.contact_id) for r in rows] == [
        ("sv-1", 2, 9, ids["agent"], "support", ids["contact"])
    ]
    assert [(e.contact_id, e.agent_id, e.data["csat"], e.data["nps"]) for e in entries] == [
        (ids["contact"], ids["agent"], 2, 9)
    ]


async def test_given_a_call_still_in_progress_when_answered_then_agent_and_queue_come_from_its_note(db):
    ids = await _seed(db)
    async with db.session() as s:
        s.add(
            OpenCall(
                linkedid="sv-open",
                data={"agent": "PJSIP/agent1", "queue": "support", "offered_at": 1.0},
                noted_at=utcnow(),
            )
        )
        await s.commit()
    row = await _save(db, "sv-open", utcnow(), csat=5, comment="/spool/plateau-comment-sv-open.wav")
    assert (row.agent_id, row.queue, row.contact_id, row.csat, row.nps) == (
        ids["agent"],
        "support",
        ids["contact"],
        5,
        None,
    )
    assert row.comment_path == "/spool/plateau-comment-sv-open.wav"


@pytest.mark.parametrize(
    ("answers", "field"), [({"csat": 0}, "csat"), ({"csat": 6}, "csat"), ({"nps": 11}, "nps")]
)
async def test_given_an_out_of_range_score_when_saved_then_it_is_refused_and_nothing_is_stored(
    db, answers, field
):
    await _seed(db)
    with pytest.raises(ValueError, match=field):
        await _save(db, "sv-bad", utcnow(), **answers)
    async with db.session() as s:
        assert (await s.scalars(select(SurveyAnswer))).all() == []


async def test_given_a_caller_who_answered_csat_2_when_calling_again_then_the_pop_says_last_csat_2_and_nps_9(
    db,
):
    await _seed(db)
    await _save(db, "sv-old", utcnow() - timedelta(days=3), csat=5, nps=10)
    await _save(db, "sv-new", utcnow() - timedelta(hours=1), csat=2, nps=9)
    sent: list[Message] = []
    pop = ScreenPop(db, sent.append, "FR")
    try:
        got = await _full_pop(pop, sent, _ring("sv-next", "0612345678"))
    finally:
        await pop.close()
    assert (got["last_survey"]["csat"], got["last_survey"]["nps"]) == (2, 9)
    assert any(h["kind"] == "survey" and h["data"]["csat"] == 2 for h in got["history"])


@pytest.mark.parametrize(
    ("csat", "days_ago", "in_file"),
    [(2, 1, True), (1, 29, True), (3, 1, False), (2, 31, False)],
)
async def test_given_a_survey_answer_when_the_file_is_read_then_a_csat_of_2_or_less_in_30_days_counts(
    db, csat: int, days_ago: int, in_file: bool
):
    await _seed(db)
    now = utcnow()
    await _save(db, "sv-file", now - timedelta(days=days_ago), csat=csat)
    found = await members_of(db, now)
    assert (("low_csat", 1) in found) is in_file, found


async def members_of(db: Database, now: datetime) -> list[tuple[str, int]]:
    async with db.session() as s:
        return [(r.code.value, r.count) for m in await members(s, now) for r in m.reasons]


async def test_given_answers_before_anything_is_known_when_the_call_row_lands_then_the_answer_takes_its_agent(
    db,
):
    ids = await _seed(db)
    async with db.session() as s:
        row = await surveys.save_answers(
            s, linkedid="sv-late", flow="satisfaction", caller=None, csat=3, nps=None, comment=None,
            now=utcnow(), region="FR",
        )  # fmt: skip
        await s.commit()
        assert (row.agent_id, row.queue, row.contact_id) == (None, None, None)
    await CallHistoryWriter(db, AgentDirectory(db), "FR").write([_record("sv-late")])
    async with db.session() as s:
        row = await s.scalar(select(SurveyAnswer).where(SurveyAnswer.linkedid == "sv-late"))
    assert (row.agent_id, row.queue, row.contact_id, row.csat) == (ids["agent"], "support", ids["contact"], 3)


async def test_given_a_survey_sent_from_the_desk_when_answered_then_the_sender_stays_and_the_caller_is_found(
    db,
):
    ids = await _seed(db)
    async with db.session() as s:
        await surveys.sent_from_desk(
            s, linkedid="sv-desk", flow="satisfaction", agent_id=ids["agent"], queue="support", now=utcnow()
        )
        await s.commit()
    row = await _save(db, "sv-desk", utcnow(), csat=4, nps=7)
    assert (row.agent_id, row.queue, row.contact_id, row.csat, row.nps) == (
        ids["agent"], "support", ids["contact"], 4, 7
    )  # fmt: skip
