"""Plateau's queues and skills reaching a running Asterisk: the I/O shell around cti/queues_conf.py.

`QueueProvisioner.apply` renders the queues from the database into the PBX's configuration folder
(`PLATEAU_PBX_CONF_DIR`), then, over the AMI link, has app_queue reload its parameters (`QueueReload`:
new queues appear, changed ones take their new settings, members logged in and callers waiting stay) and
sets the dialplan globals that changed (`Setvar`). Nothing restarts, no call is touched. A change made
while the link is down is written to the files and applied when the link comes back (`resync`).

`member_changed` carries a skill change to the live member: `QueuePenalty` when the agent is logged into
that queue, `QueueAdd` when they are logged in elsewhere, `QueueRemove` when the membership is gone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from core.models import Queue
from cti.ami_wire import AmiError, AmiUnavailable
from cti.queues_conf import (
    GLOBALS_INCLUDE,
    QUEUES_INCLUDE,
    QueueConf,
    globals_changes,
    parse_globals,
    queue_globals,
    render_globals,
    render_queues,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.db import Database
    from cti.service import CtiService

log = logging.getLogger(__name__)


async def queue_confs(session: AsyncSession) -> list[QueueConf]:
    rows = await session.scalars(select(Queue).order_by(Queue.name))
    return [
        QueueConf(
            q.name,
            strategy=q.strategy,
            wrapup_s=q.wrapup_s,
            service_level_s=q.service_level_s,
            max_wait_s=q.max_wait_s,
            overflow=q.overflow,
            did=q.did,
        )
        for q in rows.all()
    ]


def _write(path: Path, text: str) -> bool:
    if path.exists() and path.read_text() == text:
        return False
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)  # Asterisk never reads half a file
    return True


class QueueProvisioner:
    """`cti`: the running service, whose AMI link carries the reload. Without it (the CLI), `console` runs
    the same as Asterisk CLI commands on the private Asterisk (`PrivateAsterisk.rx`), when there is one."""

    def __init__(
        self, etc: Path, cti: CtiService | None, console: Callable[[str], object] | None = None
    ) -> None:
        self.etc = etc
        self.cti = cti
        self.console = console
        self._lock = asyncio.Lock()  # two admins saving at once: one render and reload after the other

    async def apply(self, session: AsyncSession, *, force: bool = False) -> bool:
        """Render and reload. True when Asterisk took it now; False when the link is down (it will be
        applied on reconnect) or nothing changed."""
        confs = await queue_confs(session)
        async with self._lock:
            globals_path = self.etc / GLOBALS_INCLUDE
            before = parse_globals(globals_path.read_text()) if globals_path.exists() else {}
            after = queue_globals(confs)
            queues_changed = _write(self.etc / QUEUES_INCLUDE, render_queues(confs))
            _write(globals_path, render_globals(after))
            changes = after if force else globals_changes(before, after)
            if not (force or queues_changed or changes):
                return False
            if self.cti is None:
                return await self._by_console(force or queues_changed, changes)
            if not self.cti.link.ready:
                return False
            try:
                if force or queues_changed:
                    await self.cti.link.send("QueueReload", Parameters="yes")
                for key, value in changes.items():
                    await self.cti.link.send("Setvar", Variable=key, Value=value)
            except AmiError as exc:  # the link went (`resync` applies it when it is back), or a refusal
                log.warning("queues: reload not applied now: %s", exc)
                return False
            return True

    async def _by_console(self, reload: bool, changes: dict[str, str]) -> bool:
        if self.console is None:
            return False
        commands = ["queue reload parameters"] if reload else []
        commands += [f'dialplan set global {k} "{v}"' for k, v in changes.items()]
        try:
            for command in commands:
                await asyncio.to_thread(self.console, command)
        except Exception as exc:  # not running: it reads the files when it starts
            log.warning("queues: Asterisk's console did not take it: %s", exc)
            return False
        return True

    async def resync(self, db: Database) -> None:
        """On every (re)connect: the PBX may have missed changes or restarted from older files."""
        try:
            async with db.session() as s:
                await self.apply(s, force=True)
        except Exception:  # never take the event path down; the next change or connect tries again
            log.exception("queues: provisioning on connect failed")


async def member_changed(
    cti: CtiService | None, endpoint: str | None, member_name: str, queue: str, penalty: int | None
) -> bool:
    """Carry a membership change to the agent's live membership, if they are logged in. True when
    Asterisk has it now."""
    if cti is None or endpoint is None:
        return False
    interface = f"PJSIP/{endpoint}"
    link = cti.link_for(interface)  # their membership lives on their phone's server
    if not link.ready:
        return False
    agent = cti.tracker.agents.get(interface)
    if agent is None or not agent.queues:
        return False  # not logged in: their next login joins with the new skill
    try:
        if penalty is None:
            if queue in agent.queues:
                await link.send("QueueRemove", Queue=queue, Interface=interface)
            return True
        if queue in agent.queues:
            await link.send("QueuePenalty", Queue=queue, Interface=interface, Penalty=penalty)
        else:
            await cti.join_queue(interface, member_name, queue, penalty)
    except (AmiError, AmiUnavailable) as exc:
        log.warning("queues: %s on %s not applied live: %s", interface, queue, exc)
        return False
    return True
