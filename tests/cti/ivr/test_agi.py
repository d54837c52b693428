"""The FastAGI wrapper without Asterisk: header reading at EOF, and the service's start-up."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app import migrate
from app.main import create_app
from core.settings import ConfigError, Settings
from cti.ivr.agi import AgiChannel, ChannelGone, read_headers
from cti.pbx_process import free_port


def reader_with(data: bytes, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", None),  # connect and close: panoramisk 1.4 spins forever here
        (b"agi_network_script: ivr\n", None),  # closed before the blank line
        (b"\n", None),  # a blank line alone is no request
        (
            b"agi_network_script: ivr\nagi_arg_1: 5551000\n\n",
            {"agi_network_script": "ivr", "agi_arg_1": "5551000"},
        ),
        (
            b"agi_callerid: 06\xff12\nagi_network_script: ivr\n\n",
            {"agi_callerid": "06\ufffd12", "agi_network_script": "ivr"},
        ),
    ],
)
async def test_given_bytes_on_the_fastagi_port_when_headers_are_read_then_eof_gives_none(
    data: bytes, expected: dict[str, str] | None
) -> None:
    headers = await asyncio.wait_for(read_headers(reader_with(data)), 1)
    assert (dict(headers) if headers is not None else None) == expected


async def test_given_endless_headers_when_read_then_the_request_is_refused() -> None:
    with pytest.raises(ValueError, match="too many"):
        await read_headers(reader_with(b"agi_x: y\n" * 500))


def test_given_ivr_enabled_when_the_service_starts_then_the_fastagi_port_accepts_and_survives_probes(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    migrate.upgrade(url)
    settings = Settings(database_url=url, ivr_enabled=True, agi_port=port, ami_enabled=False)
    with TestClient(create_app(settings)) as client:
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                pass
        assert client.get("/healthz").status_code == 200  # the loop still turns after the probes
        assert client.app.state.ivr is not None and set(client.app.state.ivr.flows) >= {"accueil", "main-en"}


def test_given_an_invalid_flow_when_the_service_starts_then_start_up_fails_naming_file_and_node(
    tmp_path: Path,
) -> None:
    (tmp_path / "broken.yaml").write_text(
        "start: a\nnodes:\n  a: {type: play, sounds: [beep], next: nowhere}\n"
    )
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'p.db'}",
        ivr_enabled=True,
        ivr_flows_dir=tmp_path,
        agi_port=free_port(),
        ami_enabled=False,
    )
    with pytest.raises(ConfigError, match=r"broken\.yaml: nodes\.a\.next: unknown node 'nowhere'"):
        with TestClient(create_app(settings)):
            pass


PEERS: list[socket.socket] = []


async def channel_replying(replies: bytes) -> AgiChannel:
    """An AgiChannel whose peer sends `replies` (lines as Asterisk 16 writes them) and then closes."""
    ours, theirs = socket.socketpair()
    theirs.sendall(replies)
    theirs.shutdown(socket.SHUT_WR)  # then EOF, as when Asterisk ends the AGI; our writes stay unread
    PEERS.append(theirs)
    reader, writer = await asyncio.open_connection(sock=ours)

    class _Request:
        pass

    request = _Request()
    request.reader, request.writer = reader, writer  # type: ignore[attr-defined]
    return AgiChannel(request)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("replies", "expected"),
    [
        (b"200 result=1 (plateau-1795415509.0)\n", (1, "plateau-1795415509.0")),
        (b"200 result=0 endpos=8000\n", (0, "")),
        (b"100 result=0 Trying...\n200 result=50\n", (50, "")),  # EXEC's interim line
        (
            b"HANGUP\n200 result=0\n",
            (0, ""),
        ),  # AGISIGHUP left on: the notice is skipped, not taken as the reply
        (b"200 result=-1\n", ChannelGone),  # the caller hung up during the command
        (b"511 Command Not Permitted on a dead channel or intercept routine\n", ChannelGone),
        (b"", ChannelGone),  # Asterisk closed the socket
        (b"200 result=0 (hangup)\n", ChannelGone),
        (b"510 Invalid or unknown command\n", RuntimeError),
        (
            b"520-Invalid command syntax.  Proper usage follows:\nUsage: ...\n520 End of proper usage.\n",
            RuntimeError,
        ),
    ],
)
async def test_given_an_asterisk_reply_when_a_command_completes_then_hangups_end_the_flow(
    replies: bytes, expected: tuple[int, str] | type[Exception]
) -> None:
    chan = await channel_replying(replies)
    try:
        if isinstance(expected, tuple):
            assert await chan.command('STREAM FILE beep ""', timeout=2) == expected
        else:
            with pytest.raises(expected):
                await chan.command('STREAM FILE beep ""', timeout=2)
    finally:
        chan.writer.close()
        while PEERS:
            PEERS.pop().close()
