"""Record the raw AMI byte stream of a real Asterisk, as the tracker's unit-test transcripts.

`AmiRecorder` logs in with its own AMI session (independent of the code under test) and writes every byte
Asterisk sends, unmodified, to a file. The integration tests record each scenario they run into
`var/ami-captures/`; `make capture` copies them over the fixtures in `tests/fixtures/ami/`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from pathlib import Path

_TIMESTAMP = re.compile(rb"^Timestamp: ([0-9.]+)\r$", re.M)


class AmiRecorder:
    def __init__(self, port: int, user: str, secret: str, host: str = "127.0.0.1") -> None:
        self.host, self.port, self.user, self.secret = host, port, user, secret
        self.chunks: list[bytes] = []
        self.arrivals: list[float] = []  # when each chunk arrived (epoch seconds)
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ready = asyncio.Event()

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)

    async def start(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        self._writer = writer
        writer.write(
            f"Action: Login\r\nUsername: {self.user}\r\nSecret: {self.secret}\r\nEvents: on\r\n\r\n".encode()
        )
        self._task = asyncio.create_task(self._read(reader))
        await asyncio.wait_for(self._ready.wait(), 10)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while chunk := await reader.read(65536):
            self.chunks.append(chunk)
            self.arrivals.append(time.time())
            if not self._ready.is_set() and b"Authentication accepted" in self.data:
                self._ready.set()

    def delivery(self, event: bytes) -> list[float]:
        """For each `event` (say b"AgentCalled") recorded, seconds from its `Timestamp` to the arrival of its
        last byte here: Asterisk's own delivery delay to a client, the floor under any AMI consumer's."""
        out: list[float] = []
        ends, at = [], 0
        for chunk in self.chunks:
            at += len(chunk)
            ends.append(at)
        buf = self.data
        marker = b"Event: " + event + b"\r\n"
        i, k = buf.find(marker), 0
        while i >= 0:
            end = buf.find(b"\r\n\r\n", i)
            stamp = _TIMESTAMP.search(buf, i, end) if end >= 0 else None
            if stamp is not None:
                while ends[k] < end + 4:
                    k += 1
                out.append(self.arrivals[k] - float(stamp.group(1)))
            i = buf.find(marker, i + 1)
        return out

    def send(self, action: str, **fields: str) -> None:
        """Write one action on the recorder's own session (scenarios use it to transfer, originate...)."""
        assert self._writer is not None
        lines = [f"Action: {action}", *(f"{k}: {v}" for k, v in fields.items())]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    async def stop(self) -> bytes:
        if self._writer is not None:
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await self._task
        return self.data

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.data)
        return path
