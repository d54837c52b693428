"""CROC scripts: the shipped files load, broken files are reported by file and path, the interpreter
branches, fills variables safely and keeps the disposition until required answers are given."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.model_errors import ContentError
from dialer.croc import (
    SectionKind,
    check_scripts,
    disposition_blockers,
    interpret,
    load_script,
    objection_text,
    parse_script,
    render,
    shipped_script_paths,
)
from dialer.leads_model import AttemptResult

SHIPPED = {p.stem: p for p in shipped_script_paths()}
B2B = load_script(SHIPPED["b2b-rdv-barrage"])
SATISFACTION = load_script(SHIPPED["suivi-satisfaction"])
LEAD = {
    "civility": "Mme",
    "first_name": "Inès",
    "last_name": "Benali",
    "company": "Transports Durand",
    "job_title": "directrice des achats",
    "agent_first_name": "Karim",
    "agent_name": "Haddad",
    "our_company": "Plateau Conseil",
    "offer": "la gestion de vos flottes",
    "benefit": "Nos clients réduisent leurs coûts de 15 %.",
}


def test_given_the_shipped_scripts_when_checked_then_there_are_no_errors_and_both_languages() -> None:
    assert check_scripts(shipped_script_paths()) == []
    languages = sorted(load_script(p).language for p in shipped_script_paths())
    assert languages.count("fr") >= 2 and "en" in languages


@pytest.mark.parametrize("path", shipped_script_paths(), ids=lambda p: p.stem)
def test_given_a_shipped_script_when_loaded_then_it_has_the_four_croc_sections_and_outcomes(
    path: Path,
) -> None:
    script = load_script(path)
    assert [s.kind for s in script.sections] == list(SectionKind)
    actions = {o.action for o in script.outcomes}
    assert {AttemptResult.SUCCESS, AttemptResult.WRONG_NUMBER, AttemptResult.DO_NOT_CALL} <= actions


# --- broken scripts ----------------------------------------------------------------------------------


def _broken(edit) -> dict[str, Any]:
    data = copy.deepcopy(yaml.safe_load(SHIPPED["b2b-rdv-barrage"].read_text(encoding="utf-8")))
    edit(data)
    return data


def _set(path: list, value: Any):
    def edit(data: dict[str, Any]) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


def _delete(path: list):
    def edit(data: dict[str, Any]) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return edit


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_set(["sections", 2, "steps", 0, "next"], "x"), "sections[2].steps[0].next: unknown step 'x'"),
        (
            _set(["sections", 0, "steps", 0, "branches", 1, "goto"], "nulle_part"),
            "sections[0].steps[0].branches[1].goto: unknown step 'nulle_part'",
        ),
        (
            _set(["sections", 0, "steps", 0, "branches", 3, "outcome"], "inconnue"),
            "sections[0].steps[0].branches[3].outcome: unknown outcome 'inconnue'",
        ),
        (
            _set(["sections", 0, "steps", 0, "branches", 2, "when"], "absente"),
            "sections[0].steps[0].branches[2].when: 'absente' is not an option of this question",
        ),
        (
            _set(["sections", 1, "steps", 0, "text"], "Bonjour {frist_name}"),
            "sections[1].steps[0].text: unknown variable {frist_name}",
        ),
        (_set(["sections", 1, "kind"], "objectif"), "sections[1].kind: expected 'raison' (CROC order)"),
        (_delete(["sections", 3]), "sections: a CROC script has exactly four sections"),
        (
            _set(["sections", 1, "steps", 1, "question", "type"], "essay"),
            "sections[1].steps[1].question.type: Input should be 'yes_no'",
        ),
        (
            _set(["sections", 1, "steps", 1, "question", "options"], []),
            "sections[1].steps[1].question: a single_choice question needs at least two options",
        ),
        (
            _set(["sections", 2, "steps", 2, "id"], "prendre_date"),
            "sections[2].steps[2].id: duplicate step id",
        ),
        (_set(["outcomes", 0, "action"], "busy"), "outcomes[0]: action 'busy' is not a disposition action"),
        (_set(["outcomes", 0, "requires"], ["nope"]), "outcomes[0].requires[0]: unknown step 'nope'"),
        (_set(["sections", 0, "steps", 0, "colour"], "red"), "sections[0].steps[0].colour: Extra inputs"),
        # the decision maker's "not available" path made the only way to rappel_decideur: drop it
        (
            _set(["sections", 0, "steps", 5, "branches"], []),
            "sections[0].steps[6]: step 'rappel_decideur' is unreachable",
        ),
    ],
)
def test_given_a_broken_script_when_loaded_then_the_error_names_the_file_and_the_path(
    edit, expected: str
) -> None:
    with pytest.raises(ContentError) as caught:
        parse_script(_broken(edit), "scripts/b2b.yaml")
    assert any(line.startswith(f"scripts/b2b.yaml: {expected}") for line in caught.value.errors), (
        caught.value.errors
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id: x\ntitle: [unclosed\n", "bad.yaml: line 3, column 1: invalid YAML"),
        ("- just\n- a list\n", "bad.yaml: (top level): a script is a mapping"),
        (b"\xff\xfe\x00garbage", "bad.yaml: cannot read"),
    ],
)
def test_given_an_unreadable_script_file_when_checked_then_one_clear_line_names_it(
    tmp_path: Path, text: str | bytes, expected: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    errors = check_scripts([path])
    assert len(errors) == 1 and errors[0].startswith(f"{tmp_path}/{expected}"), errors


def test_given_two_files_with_the_same_id_when_checked_then_the_second_is_reported(tmp_path: Path) -> None:
    copy_path = tmp_path / "copie.yaml"
    copy_path.write_bytes(SHIPPED["b2b-rdv-barrage"].read_bytes())
    errors = check_scripts([SHIPPED["b2b-rdv-barrage"], copy_path])
    assert errors == [f"{copy_path}: id: 'b2b-rdv-barrage' is already the id of {SHIPPED['b2b-rdv-barrage']}"]


# --- rendering ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "variables", "expected"),
    [
        ("Bonjour {civility} {last_name}", {"civility": "M.", "last_name": "Martin"}, "Bonjour M. Martin"),
        ("Bonjour {first_name}", {}, "Bonjour {first_name}"),  # unknown stays visible
        ("Bonjour {first_name}", {"first_name": "  "}, "Bonjour {first_name}"),  # empty stays visible
        ("{company}", {"company": "{__class__}"}, "{__class__}"),  # a value is not re-expanded
        ("{company}", {"company": "{first_name}", "first_name": "X"}, "{first_name}"),
        ("{company}", {"company": "<script>alert(1)</script>"}, "<script>alert(1)</script>"),
        ("{company.__class__}", {"company": "ACME"}, "{company.__class__}"),  # no attribute access
        ("{company[0]}", {"company": "ACME"}, "{company[0]}"),  # no indexing
        ("{0}{}", {"0": "zero"}, "{0}{}"),  # positional fields are plain text
        ("{{company}}", {"company": "ACME"}, "{ACME}"),
        ("Prix : 100 %", {}, "Prix : 100 %"),
    ],
)
def test_given_a_template_when_rendered_then_values_are_inert_text(
    template: str, variables, expected: str
) -> None:
    assert render(template, variables) == expected


# --- interpreter -------------------------------------------------------------------------------------

TO_DECISION_MAKER = {"standard": "filtre", "barrage_objet": "transfere", "presentation": True}
DISCOVERY = {"raison": True, "organisation_actuelle": "prestataire", "enjeux": ["couts"], "projet": True}
MEETING = {
    "proposition_rdv": True,
    "rdv_date": "2026-09-15",
    "rdv_heure": "10 h, en visio",
    "participants": "",
    "email_confirmation": "ines.benali@example.fr",
    "prise_de_conge": True,
}


@pytest.mark.parametrize(
    ("answers", "current", "outcome", "path"),
    [
        ({}, "standard", None, []),
        ({"standard": "decideur"}, "presentation", None, ["standard"]),
        ({"standard": "filtre"}, "barrage_objet", None, ["standard"]),
        (
            {"standard": "filtre", "barrage_objet": "mail"},
            "barrage_mail",
            None,
            ["standard", "barrage_objet"],
        ),
        ({"standard": "mauvais_numero"}, None, "mauvais_numero", ["standard"]),
        (
            {"standard": "absent", "barrage_absent": "jeudi 9 h"},
            None,
            "rappel_barrage",
            ["standard", "barrage_absent"],
        ),
        (
            {"standard": "filtre", "barrage_objet": "refus", "barrage_repli": False},
            None,
            "barrage_ferme",
            ["standard", "barrage_objet", "barrage_repli"],
        ),
        (
            {**TO_DECISION_MAKER, "presentation": False},
            "rappel_decideur",
            None,
            ["standard", "barrage_objet", "presentation"],
        ),
        ({**TO_DECISION_MAKER}, "raison", None, ["standard", "barrage_objet", "presentation"]),
        ({**TO_DECISION_MAKER, **DISCOVERY, "projet": False}, "prendre_date", None, None),
        ({**TO_DECISION_MAKER, **DISCOVERY}, "proposition_rdv", None, None),
        (
            {**TO_DECISION_MAKER, **DISCOVERY, "proposition_rdv": False, "motif_refus": "budget"},
            None,
            "refus_decideur",
            None,
        ),
        ({**TO_DECISION_MAKER, **DISCOVERY, **MEETING}, None, "rdv_pris", None),
    ],
)
def test_given_answers_when_the_b2b_script_is_interpreted_then_it_branches_to_the_expected_step(
    answers, current: str | None, outcome: str | None, path: list[str] | None
) -> None:
    view = interpret(B2B, LEAD, answers)
    assert (view.current.id if view.current else None) == current
    assert (view.outcome.id if view.outcome else None) == outcome
    if path is not None:
        assert [s.id for s in view.path] == path


@pytest.mark.parametrize(
    ("note", "next_step"),
    [
        (0, "mecontentement"),
        (6, "mecontentement"),
        (6.5, "amelioration"),
        (8, "amelioration"),
        (9, "points_forts"),
        ("10", "points_forts"),
    ],
)
def test_given_a_recommendation_score_when_interpreted_then_the_number_branches_apply(
    note, next_step: str
) -> None:
    answers = {
        "identification": "oui",
        "disponibilite": True,
        "raison_appel": True,
        "note_recommandation": note,
    }
    assert interpret(SATISFACTION, LEAD, answers).current.id == next_step


def test_given_lead_variables_when_a_step_is_shown_then_they_are_filled_and_unknown_ones_stay_visible() -> (
    None
):
    view = interpret(B2B, {k: v for k, v in LEAD.items() if k != "job_title"}, {})
    assert view.current.text.startswith("Bonjour, Karim Haddad, de la société Plateau Conseil.")
    assert "je souhaiterais joindre Mme Benali, {job_title}." in view.current.text
    assert view.current.section == SectionKind.CONTACT


def test_given_earlier_answers_when_the_recap_is_shown_then_they_are_quoted() -> None:
    answers = {
        **TO_DECISION_MAKER,
        **DISCOVERY,
        **{k: MEETING[k] for k in ("proposition_rdv", "rdv_date", "rdv_heure", "participants")},
    }
    view = interpret(B2B, LEAD, answers)
    assert view.current.id == "email_confirmation"
    assert "rendez-vous le 15/09/2026, 10 h, en visio," in view.current.text


@pytest.mark.parametrize(
    "hostile", ["{__class__}", "{first_name.__globals__}", "<img src=x onerror=alert(1)>", "{{7*7}}"]
)
def test_given_hostile_lead_values_when_rendered_then_they_stay_inert_text(hostile: str) -> None:
    view = interpret(B2B, {**LEAD, "last_name": hostile, "company": hostile}, TO_DECISION_MAKER)
    assert view.current.id == "raison"
    assert f"chez {hostile}." in view.current.text
    assert "<class" not in view.current.text


def test_given_a_hostile_answer_when_quoted_later_then_it_stays_inert_text() -> None:
    answers = {
        **TO_DECISION_MAKER,
        **DISCOVERY,
        "proposition_rdv": True,
        "rdv_date": "2026-09-15",
        "rdv_heure": "{last_name}",
        "participants": "",
    }
    assert "rendez-vous le 15/09/2026, {last_name}," in interpret(B2B, LEAD, answers).current.text


@pytest.mark.parametrize(
    ("answers", "outcome", "blockers"),
    [
        # success needs the script finished and every required answer on the path
        ({**TO_DECISION_MAKER, **DISCOVERY, **MEETING}, "rdv_pris", []),
        (
            {**TO_DECISION_MAKER, **DISCOVERY, **MEETING, "rdv_date": None},
            "rdv_pris",
            ["answer required: Date du rendez-vous"],
        ),
        (
            {**TO_DECISION_MAKER, **DISCOVERY, **MEETING, "rdv_date": "15 septembre"},
            "rdv_pris",
            ["answer required: Date du rendez-vous"],
        ),
        (
            {**TO_DECISION_MAKER, **DISCOVERY, **MEETING, "enjeux": []},
            "rdv_pris",
            ["answer required: Enjeux prioritaires"],
        ),
        (
            {**TO_DECISION_MAKER, **DISCOVERY},
            "rdv_pris",
            [
                "answer required: Date du rendez-vous",
                "answer required: Heure et lieu (ou visio)",
                "answer required: E-mail de confirmation",
                "the script is not finished",
            ],
        ),
        # a refusal needs its reason; a wrong number or do-not-call needs nothing
        (
            {**TO_DECISION_MAKER, **DISCOVERY, "proposition_rdv": False},
            "refus_decideur",
            ["answer required: Motif du refus"],
        ),
        ({"standard": "mauvais_numero"}, "mauvais_numero", []),
        ({}, "ne_plus_appeler", []),
        ({}, "nope", ["unknown outcome 'nope'"]),
    ],
)
def test_given_answers_when_the_agent_saves_a_disposition_then_required_answers_block_it(
    answers, outcome: str, blockers: list[str]
) -> None:
    assert disposition_blockers(B2B, answers, outcome) == blockers


@pytest.mark.parametrize(
    ("step", "answer", "problem"),
    [
        ("standard", "pdg", "'pdg' is not one of the options"),
        ("projet", "oui", "expected yes or no"),
        ("enjeux", "couts", "expected a list of the options"),
        ("enjeux", ["couts", "magie"], "expected a list of the options"),
    ],
)
def test_given_an_invalid_answer_when_interpreted_then_it_is_reported_and_counts_as_missing(
    step: str, answer, problem: str
) -> None:
    answers = {**TO_DECISION_MAKER, **DISCOVERY, step: answer}
    view = interpret(B2B, LEAD, answers)
    assert view.invalid[step] == problem
    assert step in view.missing


def test_given_a_score_out_of_range_when_interpreted_then_it_is_invalid() -> None:
    answers = {
        "identification": "oui",
        "disponibilite": True,
        "raison_appel": True,
        "note_recommandation": 11,
    }
    view = interpret(SATISFACTION, LEAD, answers)
    assert view.invalid == {"note_recommandation": "must be at most 10"}


def test_given_an_objection_when_opened_then_its_text_is_filled() -> None:
    assert "une entreprise comme Transports Durand" in objection_text(B2B, "deja-un-fournisseur", LEAD)
    with pytest.raises(KeyError):
        objection_text(B2B, "inconnue", LEAD)


def test_given_a_callback_outcome_when_read_then_it_carries_the_dialer_action_and_delay() -> None:
    view = interpret(
        B2B, LEAD, {"standard": "filtre", "barrage_objet": "mail", "barrage_mail": "x@y.fr, jeudi"}
    )
    assert (view.outcome.disposition, view.outcome.action, view.outcome.callback_in_days) == (
        "MAIL",
        AttemptResult.CALLBACK,
        7,
    )


def test_given_missing_answers_when_blockers_are_asked_then_each_names_its_step_for_the_desk() -> None:
    from dialer.croc import Blocker, outcome_blockers

    answers = {**TO_DECISION_MAKER, **DISCOVERY, "proposition_rdv": True, "rdv_heure": "10 h"}
    assert outcome_blockers(B2B, answers, "rdv_pris") == [
        Blocker("rdv_date", "Date du rendez-vous"),
        Blocker("email_confirmation", "E-mail de confirmation"),
        Blocker(None, None),  # the script waits at the date
    ]
    with pytest.raises(KeyError):
        outcome_blockers(B2B, answers, "nope")


@pytest.mark.parametrize(
    ("raw", "clean", "problems"),
    [
        ({"rdv_date": "2026-09-15", "raison": "anything"}, {"rdv_date": "2026-09-15", "raison": True}, {}),
        ({"enjeux": ["couts", "couts", "delais"]}, {"enjeux": ["couts", "delais"]}, {}),
        ({"rdv_heure": "  10 h  "}, {"rdv_heure": "10 h"}, {}),
        ({"presentation": False, "standard": None}, {"presentation": False, "standard": None}, {}),
        ({"standard": {"$ne": 1}}, {}, {"standard": "{'$ne': 1} is not one of the options"}),
        ({"rdv_date": "2026-02-30"}, {}, {"rdv_date": "'2026-02-30' is not a date (YYYY-MM-DD)"}),
        ({"nope": 1}, {}, {"nope": "no such step in this script"}),
    ],
)
def test_given_raw_answers_when_normalised_then_they_are_canonical_json_or_named_problems(
    raw: dict[str, Any], clean: dict[str, Any], problems: dict[str, str]
) -> None:
    from dialer.croc import normalise_answers

    assert normalise_answers(B2B, raw) == (clean, problems)
