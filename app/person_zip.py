"""The data-rights export as one ZIP, produced piece by piece: `person.json` (what was found and when), then
per kind of record a JSON and a CSV file, then the audio files, so that a person with hours of recordings
never sits whole in memory."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from app.csv_export import BOM, cell
from app.person_data import Gathered
from core.recording_store import RecordingStore


def _csv(rows: list[dict[str, Any]]) -> str:
    """One row per record; nested values (a lead's numbers, JSON columns) as JSON text."""
    header = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow(header)
    for r in rows:
        w.writerow(
            [
                cell(json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v)
                for v in (r.get(k) for k in header)
            ]
        )
    return BOM + buf.getvalue()


class _Pipe(io.RawIOBase):
    """A write-only stream that hands what was written to the next reader: zipfile writes to it (without
    seeking: data descriptors), the response sends each piece as it comes."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self._chunks.append(bytes(b))
        return len(b)

    def take(self) -> bytes:
        out, self._chunks = b"".join(self._chunks), []
        return out


async def zip_stream(g: Gathered, generated_at: datetime, store: RecordingStore) -> AsyncIterator[bytes]:
    """The export as a ZIP, produced piece by piece: `person.json` (what was found and when), then per kind
    of record a JSON and a CSV file, then the audio files read from the store in chunks (each sent as it
    is compressed); `files_missing.json` names those the store no longer had."""
    pipe = _Pipe()
    missing: list[str] = []
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        manifest = {
            "generated_at": generated_at.isoformat(),
            "contact_ids": sorted(g.person.contact_ids),
            "numbers": sorted(g.person.numbers),
            "emails": sorted(g.person.emails),
            "counts": g.counts(),
        }
        zf.writestr("person.json", json.dumps(manifest, ensure_ascii=False, indent=2))
        yield pipe.take()
        for name, rows in g.rows.items():
            zf.writestr(f"{name}.json", json.dumps(rows, ensure_ascii=False, indent=2))
            zf.writestr(f"{name}.csv", _csv(rows))
            yield pipe.take()
        for arcname, key in g.files:
            if await store.size(key) is None:  # deleted since it was found (the purge, by hand)
                missing.append(arcname)
                continue
            with zf.open(arcname, "w", force_zip64=True) as out:
                async for chunk in store.open(key):
                    out.write(chunk)
                    yield pipe.take()
        if missing:
            zf.writestr("files_missing.json", json.dumps(missing, indent=2))
    yield pipe.take()
