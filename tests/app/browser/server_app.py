"""The application the browser tests run under uvicorn: the real `create_app`, configured from PLATEAU_*
(the fixture turns the AMI link and the IVR off: these tests need no PBX). With PLATEAU_TEST_PBX_RUNTIME,
the users' phones are provisioned into that private Asterisk, as `plateau serve --with-pbx` does."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

from app.main import create_app
from core.settings import load_settings
from cti.pbx_process import private_provisioner


def build() -> FastAPI:
    app = create_app(load_settings())
    runtime = os.environ.get("PLATEAU_TEST_PBX_RUNTIME")
    if runtime:
        app.state.phones = private_provisioner(Path(runtime))
    return app
