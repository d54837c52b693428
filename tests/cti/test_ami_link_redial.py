"""The AMI link keeps dialling a PBX that hangs up at once (as Asterisk does while it goes down).

On uvloop, which the service runs on, the hang-up can reach panoramisk's protocol before panoramisk attaches
it to its manager (a callback one loop turn after the connect); 1.4 then raised inside `connection_lost` and
never dialled again. That ordering is a race no real peer produces on demand, so the test widens the window:
the manager's attach callback runs 50 ms late, against a real server that closes every connection at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvloop

from cti import ami
from cti.ami import AmiLink
from tests.conftest import wait_for


def test_given_a_pbx_that_hangs_up_before_the_link_attaches_when_it_dials_then_it_keeps_dialling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attach = ami._Manager.connection_made

    def attach_late(self: Any, f: asyncio.Future[Any]) -> None:
        self.loop.call_later(0.05, attach, self, f)

    monkeypatch.setattr(ami._Manager, "connection_made", attach_late)

    async def scenario() -> None:
        accepted: list[int] = []

        async def hang_up(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            accepted.append(1)
            w.transport.abort()  # no banner: closed the moment it is accepted

        server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        link = AmiLink("127.0.0.1", port, "plateau", "s", lambda _i: None, backoff_min=0.01, backoff_max=0.05)
        await link.start()
        try:
            await wait_for(lambda: len(accepted) >= 5, 10, what="five dials, each hung up")
            status = link.status()
            assert (status["ok"], status["error"]) == (False, "the PBX closed the connection at once")
        finally:
            await link.stop()
            server.close()

    uvloop.run(scenario())
