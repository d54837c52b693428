"""What a call-list import keeps between batches is out of the collector's sight.

The batches queued in the write chain and the normaliser's cache outlive many young collections; whatever
of theirs stays tracked reaches the oldest generation, and every full collection during a million-line
import (the event loop stopped, /healthz waiting) walks it. Rows are flat tuples of text and numbers,
which the collector stops tracking the first time a young collection sees them.
"""

from __future__ import annotations

import gc

import pytest

from dialer.bulk_numbers import Normaliser, NumberInfo
from dialer.list_import.rows import ColumnPlan, parse_row

HEADER = ["Nom", "Portable", "Fixe", "Fuseau", "Code client", "Consentement", "Remarque", "Priorité"]


@pytest.mark.parametrize(
    "cells",
    [
        ["Lefèvre", "06 12 34 56 78", "", "", "", "", "", ""],
        ["Benali", "+33 6 12 34 56 79", "01 42 68 53 00", "", "C0001", "oui", "rappeler après 18 h", "3"],
        ["Martin", "0612345680", "0612345680", "Europe/Paris", "C0002", "non", '=HYPERLINK("x")', "-2"],
    ],
    ids=["one number", "two numbers and every field", "same number twice, explicit zone"],
)
def test_given_a_parsed_line_when_a_young_collection_has_seen_it_then_the_collector_no_longer_tracks_it(
    cells: list[str],
) -> None:
    plan, normalise = ColumnPlan.build(HEADER, None, keep_unmapped=True), Normaliser("FR")
    rejects: list[tuple[object, ...]] = []
    parse_row(normalise, plan.columns, 2, cells, rejects)  # type: ignore[arg-type]
    gc.collect()  # as in a running import: the zones the numbers share have been seen already
    row = parse_row(normalise, plan.columns, 3, cells, rejects)  # type: ignore[arg-type]
    assert row is not None and rejects == []
    gc.collect(0)
    assert not gc.is_tracked(row)  # nor anything in it: a tuple is untracked only when its contents are


@pytest.mark.parametrize("raw", ["06 12 34 56 78", "+44 20 7946 0958", "0590 27 88 00"])
def test_given_a_normalised_number_when_cached_then_the_collector_no_longer_tracks_the_cached_answer(
    raw: str,
) -> None:
    Normaliser("FR").plain(raw)
    gc.collect()  # as in a running import: the zones the numbers share have been seen already
    normalise = Normaliser("FR")
    cached = normalise.plain(raw)
    gc.collect(0)
    assert normalise.plain(raw) is cached and not gc.is_tracked(cached)
    assert normalise(raw) == cached and isinstance(normalise(raw), NumberInfo)  # callers' view unchanged
