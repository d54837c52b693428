"""The data-rights ZIP, written piece by piece: a valid archive with each kind's JSON and CSV and the audio
files whole, CSV cells neutralised, and no piece that holds a whole large file."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.person_data import Gathered, Person
from app.person_zip import zip_stream
from core.recording_store import CHUNK, LocalFolderStore, spoken_key

AT = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


async def _zip(g: Gathered, store: LocalFolderStore) -> list[bytes]:
    return [piece async for piece in zip_stream(g, AT, store)]


async def test_given_rows_and_an_audio_file_when_zipped_then_every_piece_is_there_and_streamed(
    tmp_path: Path,
) -> None:
    store = LocalFolderStore(tmp_path)
    audio = tmp_path / "1765000000.1.wav"
    audio.write_bytes(bytes(range(256)) * (3 * CHUNK // 256 + 7))  # a few chunks, not compressible to nil
    person = Person(frozenset({7}), frozenset({"+33612345678"}), frozenset({"a@b.fr"}))
    rows = {
        "calls": [{"id": 1, "caller_name": '=HYPERLINK("http://x")', "ivr_path": ["menu", "queue"]}],
        "leads": [],
    }
    pieces = await _zip(Gathered(person, rows, [("recordings/1.wav", "1765000000.1.wav")]), store)
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
    assert "files_missing.json" not in zf.namelist()


async def test_given_a_file_the_store_no_longer_has_when_zipped_then_the_archive_says_so(
    tmp_path: Path,
) -> None:
    store = LocalFolderStore(tmp_path)
    (tmp_path / "kept.wav").write_bytes(b"RIFF kept")
    person = Person(frozenset({7}), frozenset(), frozenset())
    files = [("recordings/1.wav", "gone.wav"), ("recordings/2.wav", "kept.wav")]
    zf = zipfile.ZipFile(io.BytesIO(b"".join(await _zip(Gathered(person, {}, files), store))))
    assert zf.testzip() is None
    assert zf.read("recordings/2.wav") == b"RIFF kept"
    assert "recordings/1.wav" not in zf.namelist()
    assert json.loads(zf.read("files_missing.json")) == ["recordings/1.wav"]


@pytest.mark.parametrize(
    ("reference", "key"),
    [
        ("{root}/plateau-comment-1765000000.2.wav", "plateau-comment-1765000000.2.wav"),
        ("{root}/./plateau-comment-1.wav", "plateau-comment-1.wav"),
        ("/var/spool/asterisk/plateau-comment-1.wav", None),  # Asterisk's own spool: out of reach
        ("{root}/../plateau-comment-1.wav", None),
        ("{root}/sub/plateau-comment-1.wav", None),
        ("{root}/comment.txt", None),
        ("plateau-comment-1.wav", None),  # no folder: not the store's
    ],
)
def test_given_a_file_asterisk_wrote_when_its_key_is_asked_then_only_the_store_folder_gives_one(
    tmp_path: Path, reference: str, key: str | None
) -> None:
    store = LocalFolderStore(tmp_path)
    assert store.key_of(reference.format(root=tmp_path)) == key


@pytest.mark.parametrize(
    ("linkedid", "key"),
    [
        ("1765000000.2", "plateau-comment-1765000000.2.wav"),
        ("../../etc/passwd", "plateau-comment-etcpasswd.wav"),  # hostile: never a path
        ("a..b", "plateau-comment-a.b.wav"),
        ("", "plateau-comment-1765000000.wav"),  # no Linkedid: the clock names it
    ],
)
def test_given_a_survey_comment_when_the_ivr_names_its_file_then_the_store_reaches_it_by_key(
    tmp_path: Path, linkedid: str, key: str
) -> None:
    assert spoken_key("comment", linkedid, 1765000000.5) == key
    assert LocalFolderStore(tmp_path).key_of(f"{tmp_path}/{key}") == key
