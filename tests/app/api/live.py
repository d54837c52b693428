"""The API's app served over real sockets by uvicorn in the test's own loop (the lifespan is off: no PBX,
the fixture's database)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from fastapi import FastAPI

from tests.conftest import wait_for


@contextlib.asynccontextmanager
async def serving(app: FastAPI, **options: Any) -> AsyncIterator[str]:
    """Yields http://127.0.0.1:PORT; `options` are uvicorn's (e.g. `app.commands.server.proxy_options`)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning", **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started, what="uvicorn start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
