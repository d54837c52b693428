"""Inline SVG charts (app/web/charts.py): hostile labels escaped, gaps drawn as gaps, sizes from data."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from app.web.charts import Series, horizontal_stacks, stacked_bars

SVG = "{http://www.w3.org/2000/svg}"


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(markup.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def test_given_hostile_labels_when_drawn_then_they_are_text_not_markup() -> None:
    evil = '<script>alert(1)</script>"&'
    svg = str(stacked_bars(evil, [evil], [Series(evil, [3])]))
    assert "<script>" not in svg
    root = _parse(svg)  # well-formed XML despite the label
    assert root.find(f"{SVG}title").text == evil  # type: ignore[union-attr]


@pytest.mark.parametrize(("values", "bars"), [([1, 0, 2], 2), ([0, 0, 0], 0), ([5], 1)])
def test_given_counts_when_drawn_then_one_bar_per_non_zero_value(values: list[int], bars: int) -> None:
    root = _parse(str(stacked_bars("t", [str(i) for i in range(len(values))], [Series("a", values)])))
    assert len(root.findall(f"{SVG}rect")) == bars


def test_given_a_line_with_missing_values_when_drawn_then_it_breaks_at_the_gap() -> None:
    svg = str(
        stacked_bars(
            "t",
            ["a", "b", "c", "d", "e"],
            [Series("n", [1, 1, 1, 1, 1])],
            line=Series("sl", [0.5, 0.9, None, 0.7, 0.8]),
        )
    )
    root = _parse(svg)
    assert [len(p.get("points", "").split()) for p in root.findall(f"{SVG}polyline")] == [2, 2]


def test_given_whole_counts_when_drawn_then_axis_ticks_are_whole_numbers() -> None:
    svg = str(stacked_bars("t", ["a"], [Series("n", [5])]))
    ticks = re.findall(r'text-anchor="end">([^<]+)<', svg)
    assert ticks == ["0", "2", "4", "6", "8"]


def test_given_agents_when_drawn_horizontally_then_each_state_is_a_segment_scaled_to_the_total() -> None:
    root = _parse(
        str(horizontal_stacks("t", ["A", "B"], [Series("ready", [1.0, 0.5]), Series("talk", [1.0, 0])]))
    )
    widths = [float(r.get("width", 0)) for r in root.findall(f"{SVG}rect")]
    assert len(widths) == 3 and widths[0] == pytest.approx(widths[1]) == pytest.approx(2 * widths[2])
