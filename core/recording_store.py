"""Where recordings live. The rest of Plateau names a recording by its key and asks the store for its size,
its bytes or its deletion; only the store turns a key into a place. A local folder today
(`PLATEAU_RECORDINGS_DIR`, shared with Asterisk, which writes into it); an S3-compatible store later keeps
the same interface (Asterisk would still write to a local spool the store uploads from).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from core.settings import Settings

KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,190}\.wav")
CHUNK = 64 * 1024


class RecordingStore(Protocol):
    def key_for(self, linkedid: str) -> str:
        """The key of a call's recording (what Asterisk names its file)."""
        ...

    def spool(self) -> str:
        """The folder, on the PBX's host, where Asterisk writes the files (the dialplan's PLATEAU_REC_DIR)."""
        ...

    def key_of(self, reference: str) -> str | None:
        """The key of a file Asterisk wrote into the spool, from the full name it gave it there (a survey's
        spoken comment); None when the file lies elsewhere (the store cannot reach it)."""
        ...

    async def size(self, key: str) -> int | None:
        """Bytes stored, None when there is no such recording."""
        ...

    async def head(self, key: str, n: int) -> bytes:
        """The first n bytes (the WAV header)."""
        ...

    def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes start..end (inclusive), in chunks."""
        ...

    def open(self, key: str) -> AsyncIterator[bytes]:
        """The whole recording, in chunks (an export)."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove a recording; False when it was not there."""
        ...


def checked_key(key: str) -> str:
    """A key is a plain file name: never a path, never climbing out of the store."""
    if not KEY.fullmatch(key) or ".." in key:
        raise ValueError(f"not a recording key: {key!r}")
    return key


def spoken_key(purpose: str, linkedid: str, now: float) -> str:
    """The key of what a caller said to the IVR (`plateau-comment-<linkedid>.wav`): beside the calls'
    recordings, never one of them (a call's key is its bare Linkedid)."""
    name = re.sub(r"\.{2,}", ".", "".join(ch for ch in linkedid if ch.isalnum() or ch in "-.")[:64])
    return checked_key(f"plateau-{purpose}-{name.strip('.') or int(now)}.wav")


class LocalFolderStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def key_for(self, linkedid: str) -> str:
        return checked_key(f"{linkedid}.wav")

    def spool(self) -> str:
        return str(self.root)

    def key_of(self, reference: str) -> str | None:
        folder, _, name = reference.rpartition("/")
        if os.path.normpath(folder or ".") != str(self.root):
            return None
        try:
            return checked_key(name)
        except ValueError:
            return None

    def _path(self, key: str) -> Path:
        return self.root / checked_key(key)

    async def size(self, key: str) -> int | None:
        path = self._path(key)
        try:
            return (await asyncio.to_thread(path.stat)).st_size
        except FileNotFoundError:
            return None

    async def head(self, key: str, n: int) -> bytes:
        path = self._path(key)

        def first() -> bytes:
            with path.open("rb") as f:
                return f.read(n)

        return await asyncio.to_thread(first)

    async def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        f = await asyncio.to_thread(self._path(key).open, "rb")
        try:
            await asyncio.to_thread(f.seek, start)
            left = end - start + 1
            while left > 0:
                chunk = await asyncio.to_thread(f.read, min(CHUNK, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk
        finally:
            f.close()

    async def open(self, key: str) -> AsyncIterator[bytes]:
        size = await self.size(key)
        if size is None:
            raise FileNotFoundError(key)
        async for chunk in self.read(key, 0, size - 1):
            yield chunk

    async def delete(self, key: str) -> bool:
        path = self._path(key)
        try:
            await asyncio.to_thread(path.unlink)
            return True
        except FileNotFoundError:
            return False


def store_for(settings: Settings) -> RecordingStore:
    """The store the settings name (the local folder, for now)."""
    return LocalFolderStore(settings.recordings_dir)
