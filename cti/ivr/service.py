"""Start-up glue: validate the flows and start the FastAGI server when `PLATEAU_IVR_ENABLED` is set."""

from __future__ import annotations

from core.db import Database
from core.model_errors import ContentError
from core.settings import ConfigError, Settings
from cti.ivr.agi import IvrServer
from cti.ivr.flows import load_flows
from cti.ivr.model import SOUNDS_DIR
from cti.ivr.ports import IvrData


async def start_ivr(settings: Settings, db: Database, data: IvrData) -> IvrServer | None:
    """The running IVR server, or None when the IVR is disabled. Invalid flows stop the start-up with
    one line per problem (file and path inside it), like `plateau ivr check`. `data`: the application's
    customers, surveys and callbacks (cti/ivr/ports.py)."""
    if not settings.ivr_enabled:
        return None
    try:
        flows = load_flows(settings.ivr_flows_dir, SOUNDS_DIR if settings.ivr_check_sounds else None)
    except ContentError as exc:
        raise ConfigError("invalid IVR flows:\n  " + "\n  ".join(exc.errors)) from None
    if settings.ivr_default_flow and settings.ivr_default_flow not in flows:
        raise ConfigError(
            f"PLATEAU_IVR_DEFAULT_FLOW: no flow {settings.ivr_default_flow!r} in {settings.ivr_flows_dir}"
        )
    server = IvrServer(
        flows=flows,
        db=db,
        data=data,
        host=settings.agi_host,
        port=settings.agi_port,
        region=settings.default_region,
        default_zone=settings.timezone,
        default_flow=settings.ivr_default_flow,
        survey_flow=settings.survey_flow,
    )
    await server.start()
    return server
