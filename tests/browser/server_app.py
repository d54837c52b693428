"""The application the browser tests run under uvicorn: the real `create_app`, configured from PLATEAU_*
(the fixture turns the AMI link and the IVR off: these tests need no PBX)."""

from __future__ import annotations

from fastapi import FastAPI

from app.main import create_app
from app.settings import load_settings


def build() -> FastAPI:
    return create_app(load_settings())
