"""The data-rights ZIP, written piece by piece: a valid archive with each kind's JSON and CSV and the audio
files whole, CSV cells neutralised, and no piece that holds a whole large file."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from app.person_data import Gathered, Person
from app.person_zip import FILE_CHUNK, zip_stream

AT = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


def test_given_rows_and_an_audio_file_when_zipped_then_every_piece_is_there_and_streamed(
    tmp_path: Path,
) -> None:
    audio = tmp_path / "call.wav"
    audio.write_bytes(
        bytes(range(256)) * (3 * FILE_CHUNK // 256 + 7)
    )  # a few chunks, not compressible to nil
    person = Person(frozenset({7}), frozenset({"+33612345678"}), frozenset({"a@b.fr"}))
    rows = {
        "calls": [{"id": 1, "caller_name": '=HYPERLINK("http://x")', "ivr_path": ["menu", "queue"]}],
        "leads": [],
    }
    pieces = list(zip_stream(Gathered(person, rows, [("recordings/1.wav", audio)]), AT))
    assert len(pieces) > 3 and max(map(len, pieces)) < audio.stat().st_size  # never the whole file at once
    zf = zipfile.ZipFile(io.BytesIO(b"".join(pieces)))
    assert zf.testzip() is None
    assert zf.read("recordings/1.wav") == audio.read_bytes()
    manifest = json.loads(zf.read("person.json"))
    assert manifest == {
        "generated_at": AT.isoformat(),
        "contact_ids": [7],
        "numbers": ["+33612345678"],
        "emails": ["a@b.fr"],
        "counts": {"calls": 1, "leads": 0},
    }
    assert json.loads(zf.read("calls.json")) == rows["calls"]
    cells = list(csv.reader(io.StringIO(zf.read("calls.csv").decode("utf-8-sig")), delimiter=";"))
    assert cells[0] == ["id", "caller_name", "ivr_path"]
    assert cells[1] == ["1", '\'=HYPERLINK("http://x")', '["menu", "queue"]']  # a formula is text
    assert zf.read("leads.csv").decode("utf-8-sig") == "\r\n"  # no rows: an empty header line
