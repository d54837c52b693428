"""Carrier trunks as settings describe them, and their checks. Pure: the settings validate trunks with it,
and cti/phones.py renders them into Asterisk's configuration."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")
_DID = re.compile(r"^\+?[0-9]{2,20}$")


@dataclass(frozen=True)
class Trunk:
    """A carrier trunk: identified by its address (`match`, and `host` to send calls to), or registering
    to the carrier (`server`, `username`, `password`). `dids`: the numbers it brings (empty: any number is
    taken, as the dialplan's DID table routes it); `caller_id`: the number presented on calls out of it."""

    name: str
    host: str | None = None  # host[:port] calls to the carrier go to
    match: tuple[str, ...] = ()  # addresses/networks its calls come from (default: host's address)
    server: str | None = None  # host[:port] of the carrier's registrar
    username: str | None = None
    password: str | None = None
    dids: tuple[str, ...] = ()
    caller_id: str | None = None
    transport: str = "transport-udp"
    codecs: tuple[str, ...] = ("ulaw", "alaw")
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def registers(self) -> bool:
        return self.server is not None


class TrunkError(ValueError):
    """A trunk setting that cannot work; the message names the trunk and the field."""


def check_trunks(trunks: Sequence[Trunk]) -> None:
    seen: set[str] = set()
    for i, t in enumerate(trunks):
        where = f"trunk {i} ({t.name!r})"
        if not _NAME.match(t.name):
            raise TrunkError(f"{where}: name: letters, digits, _ . - only")
        if t.name in seen:
            raise TrunkError(f"{where}: name: used twice")
        seen.add(t.name)
        if t.registers:
            if not t.username or not t.password:
                raise TrunkError(f"{where}: a trunk that registers (server) needs username and password")
            host_port(t.server or "", f"{where}: server")
        else:
            if not t.host:
                raise TrunkError(f"{where}: give host (identified by address) or server (registration)")
            if t.username or t.password:
                raise TrunkError(f"{where}: username/password are for a trunk that registers (server)")
        if t.host:
            host_port(t.host, f"{where}: host")
        for m in t.match:
            try:
                ipaddress.ip_network(m, strict=False)
            except ValueError:
                raise TrunkError(f"{where}: match: {m!r} is not an address or network") from None
        for d in t.dids:
            if not _DID.match(d):
                raise TrunkError(f"{where}: dids: {d!r} is not a number (digits, optional +)")
        if t.caller_id is not None and not _DID.match(t.caller_id):
            raise TrunkError(f"{where}: caller_id: {t.caller_id!r} is not a number (digits, optional +)")
        for value in (t.host, t.server, t.username, t.password, t.caller_id, *t.match, *t.dids):
            if value is not None and re.search(r"[\s;\[\]\"\\]", value):
                raise TrunkError(f"{where}: {value!r}: no spaces, quotes, brackets or ';'")


def host_port(value: str, where: str) -> tuple[str, int | None]:
    host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    if not host or not re.fullmatch(r"[A-Za-z0-9.-]+", host):
        raise TrunkError(f"{where}: {value!r} is not host[:port]")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise TrunkError(f"{where}: port {port!r} is not 1-65535")
    return host, int(port) if port else None
