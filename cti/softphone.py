"""What the desk's browser phone (web/static/js/softphone.js) needs to register: pure.

The desk registers with the digest hash Plateau keeps (`users.sip_ha1`, JsSIP's `ha1` + `realm`): the
cleartext password is never stored, and the hash is handed only to the session of the phone's own user.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass
from typing import Any

from cti.phones import REALM


class NoBrowserPhone(ValueError):
    """The user's phone is not a browser phone, or has no credentials yet; the message says what to do."""


@dataclass(frozen=True)
class SoftphoneConfig:
    endpoint: str
    uri: str
    ha1: str
    realm: str
    ws_url: str
    display_name: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ws_url(configured: str | None, scheme: str, host: str, http_port: int, https_port: int) -> str:
    """Where the desk finds Asterisk's SIP WebSocket. A desk opened on the PBX's own machine over plain
    HTTP uses the loopback ws:// (no certificate to accept); any other desk needs a secure page for its
    microphone, hence wss:// on the host it reached Plateau by."""
    if configured:
        return configured
    if scheme == "http" and _loopback(host):
        return f"ws://127.0.0.1:{http_port}/ws"
    return f"wss://{_bracketed(host)}:{https_port}/ws"


def softphone_config(
    endpoint: str | None, kind: str | None, ha1: str | None, display_name: str, url: str
) -> SoftphoneConfig:
    if not endpoint:
        raise NoBrowserPhone("your account has no phone (SIP endpoint): ask an administrator")
    if kind != "webrtc":
        raise NoBrowserPhone("your phone is a SIP phone, not the browser phone: ask an administrator")
    if not ha1:
        raise NoBrowserPhone("your browser phone has no credentials yet: ask an administrator to set them")
    host = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    return SoftphoneConfig(endpoint, f"sip:{endpoint}@{_bracketed(host)}", ha1, REALM, url, display_name)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bracketed(host: str) -> str:
    host = host.strip("[]")
    return f"[{host}]" if ":" in host else host
