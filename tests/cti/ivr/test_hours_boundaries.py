"""Opening-hour ranges at their limits: the last valid minute and hour, and one past them."""

from __future__ import annotations

from datetime import datetime, time

import pytest

from cti.ivr.hours import Schedule, parse_range


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("00:00-00:01", (time(0, 0), time(0, 1))),
        ("23:59-24:00", (time(23, 59), None)),
        ("08:30-23:59", (time(8, 30), time(23, 59))),
        (" 09:05-09:06 ", (time(9, 5), time(9, 6))),
    ],
)
def test_given_a_range_at_the_edges_of_a_day_when_parsed_then_it_is_kept(text: str, parsed: tuple) -> None:
    assert parse_range(text) == parsed


@pytest.mark.parametrize(
    "text",
    ["24:00-24:00", "23:60-24:00", "08:00-08:60", "08:00-25:00", "08:00-24:01", "08:00-24:59"],
)
def test_given_an_impossible_time_when_parsed_then_it_is_named_impossible(text: str) -> None:
    with pytest.raises(ValueError, match="has an impossible time"):
        parse_range(text)


@pytest.mark.parametrize("text", ["08:00-08:00", "08:01-08:00"])
def test_given_a_range_ending_at_or_before_its_start_when_parsed_then_refused(text: str) -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        parse_range(text)


def test_given_a_naive_instant_when_judged_then_the_error_says_it_must_be_aware() -> None:
    with pytest.raises(ValueError, match=r"^opening hours need an aware datetime$"):
        Schedule(weekly={"mon": ["08:00-18:00"]}).status(datetime(2026, 7, 13, 9))
