"""The service's garbage-collector settings: start-up state frozen and full collections made rare while it
runs (a full one stops the loop for 100-200 ms with 500 desks connected), CPython's own restored after."""

from __future__ import annotations

import gc
from pathlib import Path

from fastapi.testclient import TestClient

from app import migrate
from app.collector import GC_THRESHOLDS
from app.main import create_app
from core.settings import Settings


def test_given_the_service_when_it_runs_then_full_collections_are_rare_and_after_it_stops_defaults_return(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    migrate.upgrade(url)
    before = gc.get_threshold()
    assert before != GC_THRESHOLDS
    with TestClient(create_app(Settings(database_url=url, ami_enabled=False))) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[0] == before[0] and GC_THRESHOLDS[2] > before[2]  # young ones as by default
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
