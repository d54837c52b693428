"""A pytest plugin for mutmut's runs only (`[tool.mutmut] pytest_add_cli_args`): every test of a mutant
starts with the pure modules' memo caches empty.

mutmut forks each mutant's worker from a process that already ran the tests unmutated, so a memoised
answer (a snapshot shape the AMI reader judged, an event class's wire name, a region's number patterns)
would be served from the cache and the mutated function never run: the mutant would "survive" untested.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

MODULES = (
    "app.complaints",
    "app.kpi",
    "cti.ami_wire",
    "cti.events",
    "cti.ivr.hours",
    "cti.ivr.interpreter",
    "cti.numbers",
    "cti.tracker",
    "dialer.compliance",
    "dialer.croc",
    "dialer.leads",
)
MEMO_DICTS = {"cti.ami_wire": ("_SHAPES", "_JOINED", "_EXPECTED"), "cti.events": ("_KINDS",)}


def clear_caches() -> None:
    for name in MODULES:
        module = sys.modules.get(name)
        if module is None:
            continue
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear) and getattr(value, "__module__", None) == name:
                clear()
        for attr in MEMO_DICTS.get(name, ()):
            getattr(module, attr).clear()


@pytest.fixture(autouse=True)
def _cold_caches_under_a_mutant() -> Iterator[None]:
    if "__mutmut_" in os.environ.get("MUTANT_UNDER_TEST", ""):
        clear_caches()
    yield
