"""Request bodies refused past a size, before they are read: an ASGI middleware.

A body announced larger than its route's limit (`Content-Length`) gets a 413 at once, unread; a body sent
without a length (chunked) is counted as it arrives and refused as soon as it passes the limit, so nothing
larger is ever buffered, parsed or spooled. Uploads (call lists, DNC files) have their own, larger limit;
every other route has `PLATEAU_MAX_BODY_BYTES`. The upload routes also authenticate before they read
their body (app/routes/lists.py), so an anonymous upload is a 401 with nothing written to disk.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import Settings

UPLOAD_PATHS = re.compile(r"^/api/v1/(lists/\d+/imports|dnc-lists/\d+/import|campaigns/\d+/recording)$")
PREVIEW_PATH = "/api/v1/lists/preview"


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a body passes its limit; FastAPI turns it into the 413."""

    def __init__(self, limit: int, setting: str) -> None:
        super().__init__(413, f"the request body is larger than {_size(limit)} ({setting})")


def _size(n: int) -> str:
    return f"{n / 2**20:g} MiB" if n >= 2**20 else f"{n / 1024:g} KiB"


def limit_for(path: str, settings: Settings) -> tuple[int, str]:
    """(the body limit of a route, the setting that sets it)."""
    if path == PREVIEW_PATH:
        return settings.max_preview_bytes, "PLATEAU_MAX_PREVIEW_BYTES"
    if UPLOAD_PATHS.match(path):
        return settings.max_upload_bytes, "PLATEAU_MAX_UPLOAD_BYTES"
    return settings.max_body_bytes, "PLATEAU_MAX_BODY_BYTES"


class BodyLimits:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = limit_for(scope["path"], self.settings)
        declared = _content_length(scope)
        if declared == -1:
            await _answer(send, 400, "the Content-Length header is not a number")
            return
        if declared is not None and declared > limit:
            await _answer(send, 413, str(BodyTooLarge(limit, setting).detail))
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, setting)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as exc:  # read outside FastAPI's handlers (none today): answered here
            if started:
                raise
            await _answer(send, 413, str(exc.detail))


def _content_length(scope: Scope) -> int | None:
    """The announced length, None without one, -1 when it is not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() and len(value) < 19 else -1
    return None


async def _answer(send: Send, status: int, detail: str) -> None:
    body: Any = orjson.dumps({"detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
