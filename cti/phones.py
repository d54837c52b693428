"""Phones and carrier trunks as Asterisk sees them: the one place that turns users' phones and the trunk
settings into PJSIP configuration.

Each user with a phone (`users.sip_endpoint`) gets a SIP password of their own, generated and shown once.
Asterisk must check the digest a phone sends, so it needs the cleartext or MD5(user:realm:password); we store
only that hash (`users.sip_ha1`), rendered as PJSIP `auth_type = md5` / `md5_cred`: not reversible, but as
good as a password *for this realm* to whoever reads it, so the database and the rendered include are kept
private (0600). A phone reaches Asterisk only where it registered: its AOR has no static contact.

`render_phones` is pure; `phone_accounts`, `reset_password` and `Provisioner` are the I/O edges (database,
the rendered include, `module reload res_pjsip.so` through Asterisk's console). Admin pages are meant to call
these, as the CLI (`plateau phone reset-password USER`) and the API (`POST /api/v1/users/{id}/phone-password`)
do.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import select

from core.models import User
from core.trunks import Trunk, check_trunks, host_port

REALM = "plateau"
PHONES_INCLUDE = "pjsip_phones.conf"
TRUNKS_INCLUDE = "pjsip_trunks.conf"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")
_DID = re.compile(r"^\+?[0-9]{2,20}$")


def ha1(username: str, password: str, realm: str = REALM) -> str:
    """What PJSIP's `md5_cred` holds: MD5 of user:realm:password (RFC 2617's HA1)."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()  # SIP digest's own hash


def new_password() -> str:
    """20 characters of [A-Za-z0-9_-], fit for any softphone's password field."""
    return secrets.token_urlsafe(15)


@dataclass(frozen=True)
class PhoneAccount:
    endpoint: str  # the PJSIP endpoint, its AOR and the SIP user name: users.sip_endpoint
    ha1: str
    display_name: str = ""
    number: str = ""  # the caller ID number it presents to other phones (agentN → 700N)
    kind: Literal["sip", "webrtc"] = "sip"

    def __post_init__(self) -> None:
        if not _NAME.match(self.endpoint):
            raise ValueError(f"phone endpoint {self.endpoint!r}: letters, digits, _ . - only")
        if not re.fullmatch(r"[0-9a-f]{32}", self.ha1):
            raise ValueError(f"phone {self.endpoint}: ha1 must be 32 hex digits")


def _quoted(text: str) -> str:
    return re.sub(r'["\\\r\n;]', "", text)[:60]


def render_phones(accounts: Iterable[PhoneAccount]) -> str:
    """One endpoint, AOR (contacts only from REGISTER) and md5 auth per phone, on the templates of
    asterisk-conf/pjsip.conf: `phone-*` for SIP phones, `webrtc-*` for the desk's browser phone."""
    blocks = ["; Rendered by Plateau (cti/phones.py) from its users' phones; edits are overwritten.\n"]
    for a in accounts:
        cid = f'"{_quoted(a.display_name or a.endpoint)}" <{a.number or a.endpoint}>'
        kind = "webrtc" if a.kind == "webrtc" else "phone"  # a browser phone: over WebSocket, DTLS-SRTP
        blocks.append(
            f"[{a.endpoint}]({kind}-endpoint)\naors = {a.endpoint}\nauth = {a.endpoint}-auth\n"
            f"callerid = {cid}\n"
            f"[{a.endpoint}]({kind}-aor)\n"
            f"[{a.endpoint}-auth](phone-auth)\nusername = {a.endpoint}\nmd5_cred = {a.ha1}\n"
        )
    return "\n".join(blocks)


# -- carrier trunks -------------------------------------------------------------------------------------
def render_trunks(trunks: Sequence[Trunk]) -> str:
    """PJSIP sections of each trunk, and a dialplan context per trunk that takes only its DIDs."""
    check_trunks(trunks)
    out = ["; Rendered by Plateau (cti/phones.py) from PLATEAU_PBX_TRUNKS; edits are overwritten.\n"]
    for t in trunks:
        context = f"plateau-from-{t.name}" if t.dids else "plateau-inbound"
        lines = [
            f"[{t.name}]",
            "type = endpoint",
            f"transport = {t.transport}",
            f"context = {context}",
            "disallow = all",
            f"allow = {','.join(t.codecs)}",
            f"aors = {t.name}",
            "direct_media = no",
            "rtp_symmetric = yes",
            "rewrite_contact = yes",
            "force_rport = yes",
            "dtmf_mode = rfc4733",
        ]
        if t.caller_id:
            lines += [f"from_user = {t.caller_id}", f"callerid = <{t.caller_id}>"]
        if t.registers:
            lines += [f"outbound_auth = {t.name}-auth"]
            server, _ = host_port(t.server or "", "server")
            lines += [
                "",
                f"[{t.name}-auth]",
                "type = auth",
                "auth_type = userpass",
                f"username = {t.username}",
                f"password = {t.password}",
                "",
                f"[{t.name}-reg]",
                "type = registration",
                f"transport = {t.transport}",
                f"outbound_auth = {t.name}-auth",
                f"server_uri = sip:{t.server}",
                f"client_uri = sip:{t.username}@{server}",
                f"contact_user = {t.username}",
                "retry_interval = 60",
                "forbidden_retry_interval = 300",
                "expiration = 3600",
            ]
        lines += [k + " = " + v for k, v in t.extra.items()]
        lines += ["", f"[{t.name}]", "type = aor", f"contact = sip:{t.host or t.server}"]
        if t.registers:
            lines += ["qualify_frequency = 60"]
        matches = t.match or ((host_port(t.host, "host")[0],) if t.host else (server,))
        lines += ["", f"[{t.name}]", "type = identify", f"endpoint = {t.name}"]
        lines += [f"match = {m}" for m in matches]
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)


def render_trunk_dialplan(trunks: Sequence[Trunk]) -> str:
    out = ["; Rendered by Plateau (cti/phones.py): each trunk's DIDs; other numbers are refused."]
    for t in trunks:
        if not t.dids:
            continue
        out.append(f"[plateau-from-{t.name}]")
        for did in t.dids:
            out.append(f"exten => {did},1,Goto(plateau-inbound,{did},1)")
        out.append(f"exten => _[+0-9*#].,1,Log(NOTICE,trunk {t.name}: DID ${{EXTEN}} is not one of its DIDs)")
        out.append(" same => n,Hangup(1)")
        out.append("")
    return "\n".join(out) + "\n"


# -- the database edge ----------------------------------------------------------------------------------
async def phone_accounts(session) -> list[PhoneAccount]:  # type: ignore[no-untyped-def]
    """Every active user's phone that has credentials (a phone without any is not rendered at all)."""
    rows = await session.scalars(
        select(User).where(User.sip_endpoint.is_not(None), User.sip_ha1.is_not(None), User.active)
    )
    return [
        PhoneAccount(
            u.sip_endpoint,
            u.sip_ha1,
            u.display_name,
            _number_of(u.sip_endpoint),
            u.sip_kind or "sip",
        )
        for u in rows.all()
    ]


def _number_of(endpoint: str) -> str:
    """agentN → 700N, supervisorN → 790N (the dialplan's extensions); other names as they are."""
    m = re.fullmatch(r"(agent|supervisor)(\d{1,2})", endpoint)
    if not m:
        return endpoint
    return str((7000 if m.group(1) == "agent" else 7900) + int(m.group(2)))


async def reset_password(session, user) -> str:  # type: ignore[no-untyped-def]
    """A new SIP password for the user's phone: its hash stored, the cleartext returned (show it once)."""
    if not user.sip_endpoint:
        raise ValueError(f"user {user.username!r} has no phone (sip_endpoint)")
    password = new_password()
    user.sip_ha1 = ha1(user.sip_endpoint, password)
    user.sip_password_set_at = datetime.now(UTC)
    if user.sip_kind is None:
        user.sip_kind = "sip"
    await session.flush()
    return password


class Provisioner:
    """Writes the phones' include into a running Asterisk's configuration and has it reloaded.

    `reload` runs one Asterisk CLI command (the private Asterisk's console, `PrivateAsterisk.rx`); without
    one (an Asterisk Plateau does not run) the include is written and its operator reloads PJSIP."""

    def __init__(self, etc: Path, reload: Callable[[str], object] | None = None) -> None:
        self.etc = etc
        self.reload = reload

    def write(self, accounts: Iterable[PhoneAccount]) -> bool:
        path = self.etc / PHONES_INCLUDE
        text = render_phones(accounts)
        if path.exists() and path.read_text() == text:
            return False
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o600)
        tmp.replace(path)
        return True

    async def apply(self, session) -> int:  # type: ignore[no-untyped-def]
        """Render from the database; reload PJSIP when something changed. Returns the number of phones."""
        import asyncio

        accounts = await phone_accounts(session)
        if self.write(accounts) and self.reload is not None:
            await asyncio.to_thread(self.reload, "module reload res_pjsip.so")
        return len(accounts)
