"""CSAT, NPS and response rate (app/satisfaction.py) as tables; empty cases are None (shown "—")."""

from __future__ import annotations

import pytest

from app.satisfaction import By, SurveyedCall, net_promoter_score, satisfaction, satisfaction_rows

S = SurveyedCall
# The README's worked example: 10 calls handled, 8 answered (one hung up before the NPS question).
WORKED = [
    S(5, 10), S(5, 9), S(4, 9), S(4, 8), S(3, 7), S(2, 6), S(1, 2), S(4, None), S(), S(),
]  # fmt: skip


@pytest.mark.parametrize(
    ("calls", "handled", "answered", "response", "csat", "satisfied", "nps"),
    [
        ([], 0, 0, None, None, None, None),  # nothing handled: every figure "—"
        ([S(), S()], 2, 0, 0.0, None, None, None),  # handled, nobody answered: 0 %, scores "—"
        (WORKED, 10, 8, 0.8, 3.5, 0.625, 100 * (3 - 2) / 7),
        ([S(2, 9)], 1, 1, 1.0, 2.0, 0.0, 100.0),  # the integration test's caller: CSAT 2, NPS 9 (a promoter)
        ([S(None, 9), S(None, 10)], 2, 2, 1.0, None, None, 100.0),  # all promoters
        ([S(None, 0), S(None, 6)], 2, 2, 1.0, None, None, -100.0),  # all detractors
        ([S(None, 7), S(None, 8)], 2, 2, 1.0, None, None, 0.0),  # passives only
        ([S(4), S(5), S(3)], 3, 3, 1.0, 4.0, 2 / 3, None),  # CSAT only: NPS "—"
    ],
)
def test_given_answers_then_csat_nps_and_response_rate(
    calls: list[SurveyedCall],
    handled: int,
    answered: int,
    response: float | None,
    csat: float | None,
    satisfied: float | None,
    nps: float | None,
) -> None:
    got = satisfaction(calls)
    assert (got.handled, got.answered) == (handled, answered)
    for value, want in (
        (got.response_rate, response),
        (got.csat_mean, csat),
        (got.csat_satisfied, satisfied),
        (got.nps, nps),
    ):
        assert (value is None) if want is None else value == pytest.approx(want)


@pytest.mark.parametrize(
    ("score", "kind"),
    [(0, "detractor"), (6, "detractor"), (7, "passive"), (8, "passive"), (9, "promoter"), (10, "promoter")],
)
def test_given_one_nps_answer_on_a_boundary_then_it_is_counted_in_its_group(score: int, kind: str) -> None:
    got = satisfaction([S(None, score)])
    assert (got.promoters, got.passives, got.detractors) == (
        int(kind == "promoter"), int(kind == "passive"), int(kind == "detractor")
    )  # fmt: skip


def test_given_the_worked_example_then_the_distributions_count_every_score() -> None:
    got = satisfaction(WORKED)
    assert got.csat_counts == (1, 1, 1, 3, 2)
    assert got.nps_counts == (0, 0, 1, 0, 0, 0, 1, 1, 1, 2, 1)
    assert (got.promoters, got.passives, got.detractors, got.nps_answers) == (3, 2, 2, 7)


@pytest.mark.parametrize(("csat", "nps"), [(0, None), (6, None), (None, -1), (None, 11)])
def test_given_an_out_of_range_score_then_it_is_refused(csat: int | None, nps: int | None) -> None:
    with pytest.raises(ValueError, match="csat" if csat is not None else "nps"):
        S(csat, nps)


def test_given_no_answer_then_nps_is_none_not_zero() -> None:
    assert net_promoter_score(0, 0, 0) is None
    assert net_promoter_score(1, 1, 2) == 0.0


def test_given_calls_of_two_agents_and_one_without_then_one_row_each_in_key_order() -> None:
    calls = [S(2, 9, agent_id=7), S(5, 10, agent_id=3), S(agent_id=3), S(4, None, agent_id=None)]
    rows = satisfaction_rows(calls, By.agent)
    assert [(r.key, r.handled, r.answered, r.csat_mean, r.nps) for r in rows] == [
        ("3", 2, 1, 5.0, 100.0),
        ("7", 1, 1, 2.0, 100.0),
        ("—", 1, 1, 4.0, None),
    ]


@pytest.mark.parametrize("by", list(By))
def test_given_no_call_then_only_the_total_has_a_row_and_it_is_empty(by: By) -> None:
    rows = satisfaction_rows([], by)
    if by is By.total:
        assert [(r.key, r.handled, r.response_rate, r.csat_mean, r.nps) for r in rows] == [
            ("total", 0, None, None, None)
        ]
    else:
        assert rows == []


def test_given_calls_by_queue_campaign_and_reason_then_each_dimension_groups_them() -> None:
    calls = [S(1, 0, queue="support", campaign_id=4, reason_id=12), S(5, 10, queue="sales", reason_id=12)]
    assert [r.key for r in satisfaction_rows(calls, "queue")] == ["sales", "support"]
    assert [r.key for r in satisfaction_rows(calls, "campaign")] == ["4", "—"]
    reason = satisfaction_rows(calls, "reason")
    assert [(r.key, r.handled, r.csat_mean, r.nps) for r in reason] == [("12", 2, 3.0, 0.0)]
