"""A TCP proxy in front of the real AMI port, to produce on demand what Asterisk does only by accident:
a link that stops answering (half-open), and a cut in the middle of an action."""

from __future__ import annotations

import asyncio
import contextlib
import re


class AmiProxy:
    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.target_port, self.host = target_port, host
        self.port = 0
        self.flowing = asyncio.Event()  # cleared: hold back what Asterisk sends, as a hung PBX would
        self.flowing.set()
        self.sent_to_pbx = bytearray()
        self._server: asyncio.Server | None = None
        self._conns: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            pbx_r, pbx_w = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            client_w.close()
            return
        self._conns.append((client_w, pbx_w))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, upstream: bool) -> None:
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                while data := await src.read(65536):
                    if upstream:
                        self.sent_to_pbx.extend(data)
                    if not upstream:
                        await self.flowing.wait()
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(client_r, pbx_w, True), pump(pbx_r, client_w, False))

    def originates(self) -> list[dict[str, str]]:
        """Every Originate sent through the proxy, as {channel_id, number, channel}."""
        out = []
        for block in bytes(self.sent_to_pbx).split(b"\r\n\r\n"):
            if re.search(rb"(?im)^Action: Originate\s*$", block):
                cid = re.search(rb"(?im)^ChannelId: (\S+)", block)
                num = re.search(rb"(?im)^Variable: PLATEAU_NUMBER=(\S+)", block)
                channel = re.search(rb"(?im)^Channel: (\S+)", block)
                out.append(
                    {
                        "channel_id": cid.group(1).decode() if cid else "",
                        "number": num.group(1).decode() if num else "",
                        "channel": channel.group(1).decode() if channel else "",
                    }
                )
        return out

    def freeze(self, frozen: bool) -> None:
        if frozen:
            self.flowing.clear()
        else:
            self.flowing.set()

    def cut(self) -> None:
        for client_w, pbx_w in self._conns:
            client_w.transport.abort()
            pbx_w.transport.abort()
        self._conns.clear()

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
