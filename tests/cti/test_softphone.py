"""The browser phone's pure parts: where the desk finds the SIP WebSocket, what it registers with, and the
WebRTC endpoint Asterisk gets for it."""

from __future__ import annotations

import pytest

from cti.phones import PhoneAccount, ha1, render_phones
from cti.softphone import NoBrowserPhone, softphone_config, ws_url

HA1 = ha1("agent1", "secret")


@pytest.mark.parametrize(
    ("configured", "scheme", "host", "expected"),
    [
        (None, "http", "127.0.0.1", "ws://127.0.0.1:8088/ws"),  # a desk on the PBX's own machine
        (None, "http", "localhost", "ws://127.0.0.1:8088/ws"),
        (None, "http", "::1", "ws://127.0.0.1:8088/ws"),
        (None, "https", "plateau.example", "wss://plateau.example:8089/ws"),  # behind HTTPS
        (None, "http", "192.168.1.10", "wss://192.168.1.10:8089/ws"),  # a LAN desk needs a secure page
        (None, "https", "2001:db8::7", "wss://[2001:db8::7]:8089/ws"),
        ("wss://pbx.example/ws", "http", "127.0.0.1", "wss://pbx.example/ws"),  # PLATEAU_PBX_WS_URL wins
    ],
)
def test_given_the_desks_address_when_asking_where_the_pbx_is_then_the_websocket_url_follows(
    configured: str | None, scheme: str, host: str, expected: str
) -> None:
    assert ws_url(configured, scheme, host, 8088, 8089) == expected


def test_given_a_browser_phone_when_its_config_is_built_then_it_registers_with_the_hash() -> None:
    c = softphone_config("agent1", "webrtc", HA1, "Agent 1", "wss://[2001:db8::7]:8089/ws")
    assert (c.endpoint, c.uri, c.ha1, c.realm) == ("agent1", "sip:agent1@[2001:db8::7]", HA1, "plateau")
    assert "password" not in c.as_dict()


@pytest.mark.parametrize(
    ("endpoint", "kind", "digest", "why"),
    [
        (None, "webrtc", HA1, "no phone"),
        ("agent1", "sip", HA1, "SIP phone"),
        ("agent1", None, HA1, "SIP phone"),
        ("agent1", "webrtc", None, "no credentials"),
    ],
)
def test_given_no_usable_browser_phone_when_its_config_is_asked_then_the_refusal_says_why(
    endpoint: str | None, kind: str | None, digest: str | None, why: str
) -> None:
    with pytest.raises(NoBrowserPhone, match=why):
        softphone_config(endpoint, kind, digest, "Agent 1", "ws://127.0.0.1:8088/ws")


def test_given_a_browser_phone_and_a_sip_phone_when_rendered_then_each_gets_its_own_templates() -> None:
    text = render_phones(
        [PhoneAccount("agent1", HA1, kind="webrtc"), PhoneAccount("agent2", ha1("agent2", "x"), kind="sip")]
    )
    assert "[agent1](webrtc-endpoint)" in text and "[agent1](webrtc-aor)" in text
    assert "[agent2](phone-endpoint)" in text and "[agent2](phone-aor)" in text
    assert "[agent1-auth](phone-auth)" in text  # the same md5 digest auth for both
