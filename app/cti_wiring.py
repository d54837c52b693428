"""The composition root of the CTI: the application's features plugged into cti's shell (cti/ports.py).

cti imports no feature; the screen pop (caller lookup, complaints, surveys, the unhappy-customers badge), the
call history and the agent-state log are built here around the running service.
"""

from __future__ import annotations

from typing import Any

from app.agent_state_log import AgentStateLogWriter
from app.call_history import CallHistoryWriter
from app.screenpop import ScreenPop
from app.unhappy_segment import SegmentCache
from core.db import Database
from core.leases import LeaseKeeper
from core.settings import Settings
from cti.ports import CtiFeatures, CtiShell, FeaturesFactory, Publisher
from cti.service import CtiService


def _ivr_summary() -> Any:
    try:
        from cti.ivr.history import ivr_summary
    except ImportError:  # the IVR is optional
        return None
    return ivr_summary


def cti_features(unhappy: SegmentCache) -> FeaturesFactory:
    """The features of one service; `unhappy` (the unhappy-customers file, for the pop's badge) is shared
    with the unhappy routes and refreshed while the service runs."""

    def build(shell: CtiShell) -> CtiFeatures:
        settings = shell.settings
        # the IVR's part of a call is only read (one more query per pop and per call) when it runs here
        summary = _ivr_summary() if settings.ivr_enabled else None
        screenpop = ScreenPop(
            shell.db,
            shell.hub.publish,
            settings.default_region,
            lookup_timeout_s=settings.pop_lookup_timeout_s,
            ivr_summary=summary,
            unhappy=unhappy.reasons,
        )
        history = CallHistoryWriter(
            shell.db,
            shell.directory,
            settings.default_region,
            matches=screenpop.matches,
            ivr_summary=summary,
            dead_letter=settings.history_dead_letter,
            direction_of=shell.direction_of,
        )
        state_log = AgentStateLogWriter(shell.db, shell.directory)
        return CtiFeatures(screenpop, history, state_log, background=[lambda: unhappy.run(shell.db)])

    return build


def build_cti(
    settings: Settings,
    db: Database,
    hub: Publisher,
    unhappy: SegmentCache | None = None,
    leases: LeaseKeeper | None = None,
) -> CtiService:
    """The CTI service with the application's features (a fresh unhappy-customers cache unless given);
    `leases`: which PBX links this node runs (None: all of them, a lone node)."""
    features = cti_features(unhappy if unhappy is not None else SegmentCache())
    return CtiService(settings, db, hub, features, leases)
