"""`plateau demo --live`: simulated customers and colleagues against the Asterisk that `make run` started.

The schedule is pure (app/demo_plan.py); this shell carries it out. Customers are SIPp calls from the carrier
trunk's address with speech (RTP), one process per call. Each colleague (agent2, agent3 by default) is a SIPp
phone registered with a SIP password of its own, logged into its queues through the API with an API token
of its own, answering one call per process, and saving a disposition through the API after the call. Ctrl-C
or SIGTERM stops everything: the colleagues log out, their phones unregister, and no SIPp is left (each also
dies with this process, however it dies).
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, select
from sqlalchemy.orm import selectinload

from app.demo import seed_demo
from app.demo_plan import ArmPhone, Customer, DemoSchedule, Pace, PlaceCall, demo_channels
from app.security import token_digest
from core.db import Database
from core.models import ApiToken, Contact, DispositionCode, User
from core.settings import VAR, Settings
from cti.pbx_process import PbxConfig, PbxError, PrivateAsterisk, phone_address, private_provisioner
from cti.phones import reset_password
from cti.sipp import Caller, Sipp, register_phone, voice_file

TOKEN_NAME = "demo-live"  # the colleagues' API tokens; replaced at each start
DEFAULT_COLLEAGUES = ("agent2", "agent3")  # agent1 is the newcomer's
TICK_S = 0.5


class DemoError(Exception):
    """Why the live demo cannot start, in words for the person who typed the command."""


@dataclass
class Colleague:
    username: str
    n: int  # agentN: its phone answers at 127.0.1.N
    password: str  # its SIP password, new at each start
    token: str
    phone: subprocess.Popen[bytes] | None = None


@dataclass
class Staged:
    customers: list[Customer]
    dispositions: list[str]
    colleagues: list[Colleague] = field(default_factory=list)


async def stage(settings: Settings, usernames: list[str], runtime: Path) -> Staged:
    """The demo data (seeded when missing), the colleagues' new SIP passwords and API tokens, the running
    Asterisk's phones reloaded; the customers' numbers and the disposition codes to pick from."""
    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            await seed_demo(session)
        async with db.session() as session:
            users = {
                u.username: u for u in await session.scalars(select(User).where(User.username.in_(usernames)))
            }
            staged = Staged(
                customers=[
                    Customer(presented(n.e164), f"{c.first_name} {c.last_name}".strip())
                    for c in await session.scalars(select(Contact).options(selectinload(Contact.numbers)))
                    for n in c.numbers
                ],
                dispositions=list(
                    await session.scalars(
                        select(DispositionCode.code)
                        .where(DispositionCode.active)
                        .order_by(DispositionCode.code)
                    )
                ),
            )
            for name in usernames:
                user = users.get(name)
                m = re.fullmatch(r"agent(\d{1,2})", (user.sip_endpoint or "") if user else "")
                if user is None or not user.active or m is None:
                    raise DemoError(f"{name!r} is not an active demo agent with a phone agentN")
                if user.sip_kind == "webrtc":  # SIPp cannot be a browser phone, and the newcomer may be
                    raise DemoError(f"{name!r} has the desk's browser phone: sign in as {name} instead")
                token = f"plateau-demo-{secrets.token_urlsafe(24)}"
                await session.execute(
                    delete(ApiToken).where(ApiToken.user_id == user.id, ApiToken.name == TOKEN_NAME)
                )
                session.add(ApiToken(user_id=user.id, name=TOKEN_NAME, token_hash=token_digest(token)))
                password = await reset_password(session, user)
                staged.colleagues.append(Colleague(name, int(m.group(1)), password, token))
            await session.commit()
            provisioner = private_provisioner(runtime)
            if provisioner is None:
                raise DemoError(
                    f"no private Asterisk configuration in {runtime}: start `make run` "
                    "(or `plateau serve --with-pbx`) first"
                )
            await provisioner.apply(session)
        return staged
    finally:
        await db.dispose()


def presented(e164: str) -> str:
    """The caller ID a French carrier presents: national for French numbers, E.164 from abroad."""
    return "0" + e164[3:] if e164.startswith("+33") else e164


def pbx_of(settings: Settings, runtime: Path) -> PbxConfig:
    """Where SIPp finds the private Asterisk, and the carrier's address it calls from (the first trunk)."""
    trunk = settings.pbx_trunks[0]
    host = (trunk.host or "").rsplit(":", 1)[0]
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise DemoError(
            f"the first trunk of PLATEAU_PBX_TRUNKS ({trunk.name!r}) must be identified by a loopback "
            "address (the default, 127.0.0.2:5064), so that the simulated carrier can call from it"
        )
    bind = settings.pbx_sip_bind
    return PbxConfig(
        runtime=runtime,
        sip_port=settings.pbx_sip_port,
        sip_bind="127.0.0.1" if bind in ("0.0.0.0", "") else bind,
        trunk_host=host,
    )


class LiveDemo:
    def __init__(
        self,
        settings: Settings,
        staged: Staged,
        pbx: PbxConfig,
        workdir: Path,
        seed: int,
        pace: Pace,
        say: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.staged = staged
        self.pbx = pbx
        self.trunk = settings.pbx_trunks[0].name
        self.say = say
        self.clock = clock
        self.url = f"http://{_client_host(settings.http_host)}:{settings.http_port}"
        self.sipp = Sipp(pbx, workdir, die_with_parent=True)
        self.voice = voice_file(workdir)
        self.callers: list[subprocess.Popen[bytes]] = []
        self.schedule = DemoSchedule(
            customers=staged.customers,
            colleagues=[c.username for c in staged.colleagues],
            dispositions=staged.dispositions,
            start=clock(),
            rng=random.Random(seed),
            pace=pace,
        )
        self.http = httpx.Client(base_url=self.url, timeout=10)
        self.colleagues = {c.username: c for c in staged.colleagues}

    def _api(self, colleague: Colleague, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {colleague.token}"}
        return self.http.request(method, f"/api/v1/agent{path}", headers=headers, **kw)

    def open(self, login_timeout: float = 30) -> None:
        """The service answering, the colleagues' phones registered and answering, and them logged in."""
        try:
            self.http.get("/healthz")
        except httpx.HTTPError:
            raise DemoError(f"Plateau does not answer at {self.url}: start `make run` first") from None
        for arm in self.schedule.opening():
            self._arm(arm)
        for colleague in self.colleagues.values():
            # Plateau learns of the registration from Asterisk an instant later; until then login says 409
            deadline = self.clock() + login_timeout
            while (r := self._api(colleague, "POST", "/login", json={})).status_code == 409:
                if self.clock() > deadline:
                    break
                time.sleep(0.2)
            if r.status_code != 204:
                who = colleague.username
                raise DemoError(f"{who} could not log into the queues: {r.status_code} {r.text}")
            where = phone_address("agent", colleague.n)
            self.say(f"{colleague.username} logged in, phone registered at {where}")

    def _arm(self, arm: ArmPhone) -> None:
        c = self.colleagues[arm.agent]
        c.phone = self.sipp.agent(
            c.n,
            "answer",
            ring_ms=int(arm.ring_s * 1000),
            talk_ms=int(arm.talk_s * 1000),
            calls=1,
            password=c.password,
            audio=self.voice,
        )

    def _place(self, call: PlaceCall) -> None:
        caller = Caller(call.caller.number, call.did, call.caller.name)
        hold_ms = int(call.hang_up_after_s * 1000)
        self.callers.append(self.sipp.call([caller], hold_ms=hold_ms, rate=1, limit=1, audio=self.voice))
        who = call.caller.name if call.known else "unknown caller"
        gives_up = f", gives up after {call.hang_up_after_s:.0f} s" if call.abandons else ""
        self.say(f"{_hhmmss()} call from {who} ({call.caller.number}) to {call.did}{gives_up}")

    def tick(self) -> None:
        now = self.clock()
        for call in self.schedule.calls_due(now):
            self._place(call)
        self.callers = [p for p in self.callers if p.poll() is None]
        for c in self.colleagues.values():
            if c.phone is not None and c.phone.poll() is not None:
                self._arm(self.schedule.phone_done(c.username))
            me = self._api(c, "GET", "/me")
            pop = me.json().get("pop") if me.status_code == 200 else None
            if pop and pop.get("phase") == "wrap_up":
                self.schedule.wrapping_up(c.username, pop["linkedid"], now)
        for d in self.schedule.dispositions_due(now):
            c = self.colleagues[d.agent]
            r = self._api(c, "POST", f"/calls/{d.linkedid}/disposition", json={"code": d.code})
            said = "saved" if r.status_code in (200, 201) else f"refused ({r.status_code} {r.text[:120]})"
            self.say(f"{_hhmmss()} {d.agent}: disposition {d.code} {said}")

    def run(self, seconds: float | None) -> None:
        end = None if seconds is None else self.clock() + seconds
        while end is None or self.clock() < end:
            try:
                self.tick()
            except httpx.HTTPError as exc:  # Plateau restarting: the calls go on, the API is asked again
                self.say(f"{_hhmmss()} Plateau does not answer ({exc}); trying again")
                time.sleep(2)
            time.sleep(TICK_S)

    def close(self) -> None:
        """The demo's calls hung up, colleagues logged out and unregistered; every SIPp stopped."""
        self._hang_up()
        for c in self.colleagues.values():
            try:
                self._api(c, "POST", "/logout")
            except httpx.HTTPError:
                pass  # Plateau already gone: Asterisk forgets the members with the unregistration below
        self.sipp.stop()
        for c in self.colleagues.values():
            try:
                register_phone(
                    self.pbx, c.username, phone_address("agent", c.n), self.pbx.phone_port, self.sipp.workdir,
                    c.password, expires=0,
                )  # fmt: skip
            except (RuntimeError, subprocess.TimeoutExpired):
                pass  # Asterisk already stopped
        self.http.close()

    def _hang_up(self) -> None:
        pbx = PrivateAsterisk(self.pbx)
        try:
            endpoints = [self.trunk, *(f"agent{c.n}" for c in self.colleagues.values())]
            channels = demo_channels(pbx.rx("core show channels concise"), endpoints)
            for channel in channels:
                pbx.rx(f"channel request hangup {channel}")
        except (PbxError, subprocess.TimeoutExpired):
            pass  # Asterisk already stopped: no call is left either


def _client_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def _hhmmss() -> str:
    return datetime.now().strftime("%H:%M:%S")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the demo like Ctrl-C: through the clean-up, not around it."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_live_demo(
    settings: Settings,
    minutes: float | None = None,
    colleagues: list[str] | None = None,
    seed: int = 7,
    pace: Pace | None = None,
    runtime: Path | None = None,
    workdir: Path | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Until Ctrl-C, SIGTERM, or `minutes`. `runtime`: the private Asterisk's folder (make run's by default);
    `workdir`: SIPp's scenarios and error files (default: demo-live beside `runtime`)."""
    runtime = runtime or VAR / "asterisk"
    workdir = workdir or runtime.parent / "demo-live"
    usernames = list(colleagues or DEFAULT_COLLEAGUES)
    pbx = pbx_of(settings, runtime)
    with sigterm_as_interrupt():
        staged = asyncio.run(stage(settings, usernames, runtime))
        demo = LiveDemo(settings, staged, pbx, workdir, seed, pace or Pace(), say)
        try:
            demo.open()
            say(
                f"live demo: about {demo.schedule.pace.calls_per_minute:g} calls a minute to "
                f"{', '.join(demo.schedule.pace.dids)}; colleagues {', '.join(usernames)}. Ctrl-C stops it."
            )
            demo.run(None if minutes is None else minutes * 60)
        except KeyboardInterrupt:
            say("stopping the live demo")
        finally:
            demo.close()
