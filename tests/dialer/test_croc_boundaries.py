"""CROC answers at their edges (dialer/croc/): numbers as French agents type them, the 40-character cut
of a quoted bad answer, an unknown or text-only step before a real one, an invalid required answer, and
the errors naming what is unknown."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from dialer.croc import (
    MAX_TEXT_ANSWER,
    Blocker,
    interpret,
    load_script,
    normalise_answers,
    objection_text,
    outcome_blockers,
    parse_script,
    shipped_script_paths,
)
from tests.dialer.test_croc import DISCOVERY, LEAD, MEETING, TO_DECISION_MAKER

SHIPPED = {p.stem: p for p in shipped_script_paths()}
B2B = load_script(SHIPPED["b2b-rdv-barrage"])
SATISFACTION = load_script(SHIPPED["suivi-satisfaction"])


@pytest.mark.parametrize(
    ("typed", "score"),
    [("7,5", 7.5), ("1 0", 10.0), ("1\u202f0", 10.0), (" 9 ", 9.0), (8, 8.0), (9.5, 9.5)],
    ids=["decimal-comma", "space-in-digits", "narrow-no-break-space", "padded", "int", "float"],
)
def test_given_a_score_typed_the_french_way_when_normalised_then_it_is_the_number(
    typed: Any, score: float
) -> None:
    assert normalise_answers(SATISFACTION, {"note_recommandation": typed}) == (
        {"note_recommandation": score},
        {},
    )


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("x" * 38, repr("x" * 38)),  # its repr is 40 characters: shown whole
        ("x" * 39, repr("x" * 39)[:39] + "…"),  # 41: cut to 39 and an ellipsis
        (True, "True"),  # a boolean is not a number
    ],
    ids=["repr-40", "repr-41", "boolean"],
)
def test_given_a_bad_score_when_normalised_then_the_problem_quotes_it_cut_at_40(
    typed: Any, shown: str
) -> None:
    _clean, problems = normalise_answers(SATISFACTION, {"note_recommandation": typed})
    assert problems == {"note_recommandation": f"{shown} is not a number"}


def test_given_an_unknown_then_a_text_only_step_first_when_normalised_then_the_later_answers_are_kept() -> (
    None
):
    raw = {"nope": 1, "raison": "read out", "rdv_heure": " 10 h ", "standard": "filtre"}
    assert normalise_answers(B2B, raw) == (
        {"raison": True, "rdv_heure": "10 h", "standard": "filtre"},
        {"nope": "no such step in this script"},
    )


def test_given_an_invalid_required_answer_when_an_outcome_is_asked_then_it_blocks_like_a_missing_one() -> (
    None
):
    assert outcome_blockers(B2B, {"motif_refus": "not-an-option"}, "refus_decideur") == [
        Blocker("motif_refus", "Motif du refus")
    ]
    assert outcome_blockers(SATISFACTION, {"note_recommandation": "onze"}, "reclamation") == [
        Blocker("note_recommandation", SATISFACTION.step("note_recommandation").question.label)  # type: ignore[union-attr]
    ]


def test_given_an_unknown_outcome_or_objection_when_asked_then_the_error_names_the_script_and_the_id() -> (
    None
):
    with pytest.raises(KeyError, match="script 'b2b-rdv-barrage' has no outcome 'nope'"):
        outcome_blockers(B2B, {}, "nope")
    with pytest.raises(KeyError, match="script 'b2b-rdv-barrage' has no objection 'nope'"):
        objection_text(B2B, "nope", {})


def _edited(edit: Any) -> Any:
    data = yaml.safe_load(SHIPPED["b2b-rdv-barrage"].read_text(encoding="utf-8"))
    edit(data)
    return parse_script(data, "edited.yaml")


def _loop_back(data: dict[str, Any]) -> None:
    data["sections"][0]["steps"][1]["branches"][1]["goto"] = (
        "standard"  # "not now" asks the first question again
    )


def _recap(data: dict[str, Any]) -> None:
    for section in data["sections"]:
        for step in section["steps"]:
            if "récapitule" in step.get("text", ""):
                step["text"] = "Récap : {presentation} / {projet} / {enjeux} / {rdv_date} / {participants}."


def test_given_an_answer_that_loops_back_when_interpreted_then_it_stops_on_the_step_to_ask_it_again() -> None:
    script = _edited(_loop_back)
    view = interpret(script, LEAD, {"standard": "filtre", "barrage_objet": "moment"})
    assert [(s.id, s.answer) for s in view.path] == [("standard", "filtre"), ("barrage_objet", "moment")]
    assert view.current == interpret(script, LEAD, {}).current  # the first step, asked afresh
    assert (view.missing, dict(view.invalid), view.outcome) == ((), {}, None)


def test_given_yes_no_and_several_choices_when_quoted_later_then_they_read_oui_and_a_list() -> None:
    answers = {
        **TO_DECISION_MAKER,
        **DISCOVERY,
        "enjeux": ["couts", "delais"],
        **{k: MEETING[k] for k in ("proposition_rdv", "rdv_date", "rdv_heure", "participants")},
    }
    view = interpret(_edited(_recap), LEAD, answers)
    assert view.current is not None and view.current.id == "email_confirmation"
    # an empty answer is not a value: its variable stays visible
    assert view.current.text == "Récap : oui / oui / couts, delais / 15/09/2026 / {participants}."


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        (12, "expected text"),
        ("x" * MAX_TEXT_ANSWER, None),
        ("x" * (MAX_TEXT_ANSWER + 1), f"longer than {MAX_TEXT_ANSWER} characters"),
    ],
    ids=["not-text", "at-the-limit", "one-over"],
)
def test_given_a_text_answer_at_its_limit_when_normalised_then_only_past_it_is_refused(
    typed: Any, problem: str | None
) -> None:
    clean, problems = normalise_answers(B2B, {"rdv_heure": typed})
    assert problems == ({"rdv_heure": problem} if problem else {})
    assert clean == ({} if problem else {"rdv_heure": typed})
