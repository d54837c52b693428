"""A campaign's sounds (the message left on answering machines, the abandon message), uploaded in any
format sox reads and converted to what Asterisk plays without transcoding: 8 kHz, mono, 16-bit signed PCM
WAV. The I/O shell around `sox`; the file lands atomically (converted beside it, then renamed), so a call
never plays half."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

SOX = "sox"
FOLDER = "plateau"  # under the sounds directory: Playback(plateau/campaign-7)
SOX_TIMEOUT_S = 60
KINDS = ("wav", "ogg", "flac", "mp3")  # by the uploaded file's extension; sox is told, never guesses
PURPOSES = ("machine", "abandon")  # left on answering machines; played to a person no agent can take


class RecordingError(ValueError):
    """The upload is not audio sox can read (or sox is missing); the message says which."""


def sound_for(campaign_id: int, purpose: str = "machine") -> str:
    if purpose not in PURPOSES:
        raise ValueError(f"no campaign sound for {purpose!r}")
    return f"{FOLDER}/campaign-{campaign_id}" + ("" if purpose == "machine" else f"-{purpose}")


def kind_of(filename: str) -> str:
    kind = Path(filename).suffix.lower().lstrip(".")
    if kind not in KINDS:
        raise RecordingError(f"a {', '.join('.' + k for k in KINDS)} file, not {filename!r}")
    return kind


async def convert(
    source: Path, kind: str, sounds_dir: Path, campaign_id: int, purpose: str = "machine"
) -> str:
    """Convert `source` (of `kind`, see kind_of) into the sounds directory; returns the sound name the
    dialplan plays."""
    name = sound_for(campaign_id, purpose)
    target = sounds_dir / f"{name}.wav"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part.wav")
    try:
        proc = await asyncio.create_subprocess_exec(
            SOX, "-q", "-t", kind, str(source),
            "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(partial),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
    except FileNotFoundError:
        raise RecordingError("sox is not installed on the server (make setup installs it)") from None
    try:
        _, err = await asyncio.wait_for(proc.communicate(), SOX_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        partial.unlink(missing_ok=True)
        raise RecordingError(f"the conversion took more than {SOX_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        partial.unlink(missing_ok=True)
        why = err.decode("utf-8", "replace").strip().splitlines()
        raise RecordingError("not an audio file sox can read" + (f": {why[-1][:200]}" if why else ""))
    partial.replace(target)
    return name
