"""The recordings' I/O shell: tells the dialplan each queue's policy, files each call's recording when the
call ends, and pauses or resumes a recording (AMI MixMonitorMute: the paused stretch is silence in the file,
its length unchanged). An `on_demand` recording is muted as soon as the dialplan starts it (its
PlateauRecordArm UserEvent) and heard from the moment the agent starts it; one never started is deleted.
Decisions are in `cti/recordings.py`; bytes go through `core/recording_store.py`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from core.db import Database, dialect_insert
from core.dialer_tables import Campaign
from core.directory import AgentDirectory
from core.models import Queue, Recording, RecordingPause
from core.recording_store import RecordingStore
from core.settings import Settings
from cti import recordings
from cti.events import CallAnswered, CallEnded, CallRecord

if TYPE_CHECKING:
    from cti.ami import AmiEvent, AmiLink

log = logging.getLogger(__name__)
SETTLE_S = 0.2  # MixMonitor closes its file just after the hang-up: its size must hold still this long
SETTLE_DEADLINE_S = 15.0
MIN_AUDIO_S = 0.02  # a file with less is a call never bridged (MixMonitor `b`): no recording


class Recorder:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        store: RecordingStore,
        link: AmiLink,
        directory: AgentDirectory,
    ) -> None:
        self.settings, self.db, self.store, self.link, self.directory = settings, db, store, link, directory
        # the link of the server a call is on (several servers: by the systemname its Linkedid starts with)
        self.link_of_call: Callable[[str], AmiLink] = lambda _linkedid: self.link
        self.filed = 0  # recordings linked to their call so far
        self.settled = 0  # answered calls looked at (recorded or not)
        self.campaign_of: Callable[[str], int | None] = lambda _linkedid: None  # the dialer's, when it runs
        self._campaigns: dict[str, int] = {}  # dialer calls answered → their campaign
        self.armed: dict[str, str] = {}  # on_demand recordings muted, not started yet: Linkedid → channel
        self._tasks: set[asyncio.Task[Any]] = set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    # -- the policies, as dialplan globals -----------------------------------------------------------------
    def on_link_up(self, link: AmiLink | None = None) -> None:
        self._spawn(self.push_policies(link))

    async def push_policies(self, link: AmiLink | None = None) -> None:
        """Set the folder and every queue's policy in `link`'s server (default: the first), on each connect:
        Asterisk forgets globals on restart."""
        link = link or self.link
        async with self.db.session() as s:
            rows = (
                await s.execute(select(Queue.name, Queue.recording_policy, Queue.recording_announcement))
            ).all()
        values = {"PLATEAU_REC_DIR": self.store.spool()}
        for name, policy, sound in rows:
            try:
                values.update(recordings.policy_globals(name, recordings.Policy(policy), sound))
            except ValueError as exc:
                log.error("recordings: queue %s not told its policy: %s", name, exc)
        try:
            for variable, value in values.items():
                await link.send("Setvar", Variable=variable, Value=value)
        except Exception as exc:  # the link dropped meanwhile: the next connect sets them again
            log.warning("recordings: policies not set in the PBX yet: %s", exc)

    # -- a call ended: its recording, filed ----------------------------------------------------------------
    def on_event(self, event: Any) -> None:
        if isinstance(event, CallAnswered):
            campaign = self.campaign_of(event.linkedid)
            if campaign is not None:
                self._campaigns[event.linkedid] = campaign
        elif isinstance(event, CallEnded):
            campaign = self._campaigns.pop(event.record.linkedid, None)
            self.armed.pop(event.record.linkedid, None)
            if event.record.answered_at is not None:
                self._spawn(self._file_logged(event.record, campaign))

    # -- on_demand: armed muted, started by the agent -------------------------------------------------------
    def on_raw(self, event: AmiEvent) -> None:
        """Runs for every AMI event: the dialplan started an `on_demand` recording and waits for the mute."""
        if event.name == "UserEvent" and event.get("UserEvent") == "PlateauRecordArm":
            channel, linkedid = event.get("Channel"), event.get("Linkedid")
            if channel and linkedid:
                self._spawn(self._arm(channel, linkedid))

    async def _arm(self, channel: str, linkedid: str) -> None:
        try:
            await self.mute(channel, linkedid, True, user_id=None, source=recordings.ARMED_SOURCE)
            # the dialplan goes on to the queue only now: no frame is written unmuted
            await self.link_of_call(linkedid).send(
                "Setvar", Channel=channel, Variable="PLATEAU_REC_ARMED", Value="1"
            )
            self.armed[linkedid] = channel
        except Exception:  # not armed: the dialplan stops the recording itself after its wait
            log.exception("recordings: call %s's on-demand recording not armed", linkedid)

    async def start(self, linkedid: str, *, user_id: int | None) -> None:
        """The agent starts an `on_demand` recording: heard from now on, the part before stays silence."""
        channel = self.armed.get(linkedid)
        if channel is None:
            raise LookupError("no recording waiting to be started on this call")
        await self.mute(channel, linkedid, False, user_id=user_id, source="desk")
        self.armed.pop(linkedid, None)

    async def _file_logged(self, rec: CallRecord, campaign: int | None) -> None:
        try:
            await self.file(rec, campaign)
        except Exception:  # the call's row is written anyway; the file stays in the folder, unfiled (logged)
            log.exception("recordings: call %s's recording could not be filed", rec.linkedid)
        finally:
            self.settled += 1

    async def _settled_size(self, key: str) -> int | None:
        """The file's size once MixMonitor has closed it (it holds still); None: no file, the call was not
        recorded (MixMonitor opens its file with the first bridged frame, long before the hang-up)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_DEADLINE_S
        size = await self.store.size(key)
        while size is not None and loop.time() < deadline:
            await asyncio.sleep(SETTLE_S)
            now = await self.store.size(key)
            if now == size:
                break
            size = now
        return size

    async def file(self, rec: CallRecord, campaign: int | None = None) -> Recording | None:
        """Link a call's recording to it (by Linkedid, the `calls` row's key, whatever the history writer's
        batching): duration from the WAV header, size, expiry from its campaign's or queue's retention."""
        key = self.store.key_for(rec.linkedid)
        size = await self._settled_size(key)
        if size is None:
            return None
        duration = recordings.wav_duration(await self.store.head(key, recordings.WAV_HEADER_BYTES), size)
        if duration is None or duration < MIN_AUDIO_S or await self._never_started(rec.linkedid):
            await self.store.delete(key)
            return None
        ended = datetime.fromtimestamp(rec.ended_at, UTC)
        async with self.db.session() as s:
            days = await s.scalar(
                select(Campaign.recording_retention_days).where(Campaign.id == campaign)
                if campaign is not None
                else select(Queue.recording_retention_days).where(Queue.name == rec.queue)
            )
            agent = self.directory.get(rec.agent)
            row = {
                "linkedid": rec.linkedid,
                "storage_key": key,
                "queue": rec.queue,
                "campaign_id": campaign,
                "agent_id": agent.user_id if agent else None,
                "started_at": ended - timedelta(seconds=duration),
                "ended_at": ended,
                "duration_s": round(duration, 3),
                "size_bytes": size,
                "expires_at": recordings.expires_at(ended, days, self.settings.recording_retention_days),
            }
            await s.execute(
                dialect_insert(s, Recording).on_conflict_do_nothing(index_elements=["linkedid"]), [row]
            )
            await s.commit()
            filed = await s.scalar(select(Recording).where(Recording.linkedid == rec.linkedid))
        self.filed += 1
        log.info("recordings: call %s recorded, %.1f s, %d bytes", rec.linkedid, duration, size)
        return filed

    async def _never_started(self, linkedid: str) -> bool:
        async with self.db.session() as s:
            rows = (await s.scalars(select(RecordingPause).where(RecordingPause.linkedid == linkedid))).all()
        return recordings.never_started([recordings.PauseEvent(r.at, r.paused, None, r.source) for r in rows])

    # -- pause and resume ----------------------------------------------------------------------------------
    async def mute(
        self, channel: str, linkedid: str, paused: bool, *, user_id: int | None, source: str
    ) -> None:
        """Silence (or hear again) both directions of the recording on the caller's channel, and say who."""
        await self.link_of_call(linkedid).send(
            "MixMonitorMute", Channel=channel, Direction="both", State="1" if paused else "0"
        )
        async with self.db.session() as s:
            s.add(
                RecordingPause(
                    linkedid=linkedid,
                    paused=paused,
                    source=source,
                    user_id=user_id,
                    at=datetime.fromtimestamp(time.time(), UTC),
                )
            )
            await s.commit()
