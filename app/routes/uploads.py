"""Files uploaded to the API (call lists, do-not-call lists, campaign recordings): the OpenAPI body of a
route that reads its form itself, and the file spooled to disk within a size limit."""

from __future__ import annotations

import os
import tempfile
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile as FormFile
from starlette.formparsers import MultiPartException

from app.errors import unprocessable
from dialer.list_import import SPOOL_PREFIX

F = TypeVar("F", bound=BaseModel)


def multipart(form: type[BaseModel], file_description: str) -> dict[str, Any]:
    """The OpenAPI request body of an upload route, which reads its form itself (after authentication)."""
    schema = form.model_json_schema()
    schema["properties"] = {
        "file": {"type": "string", "format": "binary", "description": file_description},
        **schema.get("properties", {}),
    }
    schema["required"] = ["file"]
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


async def receive_file(request: Request, fields: type[F], limit: int) -> tuple[str, int, str, F]:
    """The upload's file spooled to a temporary file (at most `limit` bytes) and its other fields checked:
    (path, size, file name, fields). Called once the caller is authenticated, so an anonymous upload is
    refused before a byte of it is read."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise HTTPException(415, "send the file as multipart/form-data, in a field named 'file'")
    try:
        form = await request.form(max_files=1, max_fields=20, max_part_size=64 * 1024)
    except MultiPartException as exc:
        raise HTTPException(400, f"the multipart body cannot be read: {exc.message}") from None
    try:
        file = form.get("file")
        if not isinstance(file, FormFile):
            raise unprocessable("file", "a file is required (multipart field 'file')", "form")
        values = {k: v for k, v in form.multi_items() if k != "file" and isinstance(v, str)}
        try:
            parsed = fields.model_validate(values)
        except ValidationError as exc:
            raise HTTPException(
                422,
                [
                    {"loc": ["form", *map(str, e["loc"])], "msg": e["msg"], "type": e["type"]}
                    for e in exc.errors(include_url=False, include_input=False)
                ],
            ) from None
        path, size = await spool(file, limit)
        return path, size, file.filename or "upload", parsed
    finally:
        await form.close()


async def spool(file: FormFile, limit: int) -> tuple[str, int]:
    fd, path = tempfile.mkstemp(prefix=SPOOL_PREFIX, suffix=".upload")
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await file.read(1024 * 1024):
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"the file is larger than {limit / 2**20:g} MiB")
                out.write(chunk)
    except BaseException:
        os.unlink(path)
        raise
    if size == 0:
        os.unlink(path)
        raise unprocessable("file", "the file is empty", "form")
    return path, size
