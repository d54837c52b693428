"""The garbage collector's settings while the service runs (and while a bench runs its pipeline).

What start-up built (modules, ORM mappers, settings, compiled caches) lives as long as the process: frozen
out of the collector, a full collection no longer walks it. A full collection walks every object made
since then: with 500 desks and wallboards connected that is ~100k objects and 100-200 ms with the loop
stopped, every few seconds under call traffic, each one holding up the screen-pops of that moment. Young
collections stay as they are (cycles mostly die young); the full one waits for 100 times as many young
collections as by default (CPython's (700, 10, 10)).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

GC_THRESHOLDS = (700, 10, 1000)


@contextmanager
def service_collector() -> Iterator[None]:
    """Freeze what exists now and make full collections rare; CPython's own settings come back after
    (tests start many apps in one process: each one's objects must be collectable once it stops)."""
    defaults = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*defaults)
        gc.unfreeze()
