"""The pure core of queue provisioning: names, skill ↔ penalty, the rendered include and the globals a
change needs (tables)."""

from __future__ import annotations

import pytest

from cti.queues_conf import (
    BUILT_IN,
    QueueConf,
    globals_changes,
    name_problem,
    parse_globals,
    penalty_of,
    queue_globals,
    render_globals,
    render_queues,
    skill_of,
)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("reclamations", True),
        ("a", True),
        ("sav_2-nord", True),
        ("a" * 40, True),
        ("a" * 41, False),
        ("", False),
        ("2nd", False),  # must start with a letter
        ("-x", False),
        ("Support", False),
        ("file client", False),
        ("réclamations", False),
        ("x]\n[general", False),
        ("x;y", False),
        ("general", False),
        ("queue-defaults", False),
        ("default", False),
    ],
)
def test_given_a_name_when_checked_then_only_safe_unreserved_names_pass(name: str, ok: bool) -> None:
    assert (name_problem(name) is None) is ok


@pytest.mark.parametrize(("skill", "penalty"), [(1, 0), (2, 1), (5, 4), (9, 8)])
def test_given_a_skill_when_converted_then_penalty_is_one_less_and_back(skill: int, penalty: int) -> None:
    assert penalty_of(skill) == penalty and skill_of(penalty) == skill


@pytest.mark.parametrize("skill", [0, 10, -1])
def test_given_a_skill_out_of_range_when_converted_then_refused(skill: int) -> None:
    with pytest.raises(ValueError, match="1-9"):
        penalty_of(skill)


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"name": "general"}, "reserved"),
        ({"name": "q", "strategy": "roundrobin"}, "strategy"),
        ({"name": "q", "overflow": "q"}, "overflow"),
        ({"name": "q", "overflow": "bad name"}, "overflow"),
        ({"name": "q", "did": "12;3"}, "did"),
    ],
)
def test_given_a_bad_queue_record_when_built_then_refused(kwargs: dict[str, str], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        QueueConf(**kwargs)  # type: ignore[arg-type]


def test_given_queues_when_rendered_then_one_section_each_with_its_strategy_in_name_order() -> None:
    text = render_queues([QueueConf("zeta", wrapup_s=5), QueueConf("alpha", strategy="linear")])
    assert text.index("[alpha]") < text.index("[zeta]")
    assert "[alpha](queue-defaults)\nstrategy = linear\nwrapuptime = 0\nservicelevel = 20\n" in text
    assert "[zeta](queue-defaults)\nstrategy = rrmemory\nwrapuptime = 5\n" in text
    assert render_queues([]).count("[") == 0


def test_given_built_in_queues_when_rendered_then_hotline_is_a_linear_hunt_group_with_its_did() -> None:
    assert "[hotline](queue-defaults)\nstrategy = linear" in render_queues(BUILT_IN)
    assert queue_globals(BUILT_IN)["DID_5553000"] == "hotline"


def test_given_globals_when_rendered_and_parsed_then_they_round_trip() -> None:
    values = queue_globals([QueueConf("r", did="+3312", max_wait_s=60, overflow="s"), QueueConf("s")])
    assert values == {"DID_+3312": "r", "QMAXWAIT_r": "60", "QOVERFLOW_r": "s"}
    assert parse_globals(render_globals(values)) == values


@pytest.mark.parametrize(
    ("before", "after", "setvars"),
    [
        ({}, {}, {}),
        ({}, {"DID_1": "a"}, {"DID_1": "a"}),
        ({"DID_1": "a"}, {"DID_1": "a"}, {}),
        ({"DID_1": "a"}, {"DID_1": "b"}, {"DID_1": "b"}),
        ({"DID_1": "a"}, {"DID_2": "a"}, {"DID_2": "a", "DID_1": ""}),  # the old number stops routing
        ({"QMAXWAIT_a": "60"}, {}, {"QMAXWAIT_a": ""}),
    ],
)
def test_given_globals_before_and_after_when_compared_then_only_the_needed_setvars(
    before: dict[str, str], after: dict[str, str], setvars: dict[str, str]
) -> None:
    assert globals_changes(before, after) == setvars
