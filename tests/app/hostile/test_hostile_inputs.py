"""Hostile inputs against the real server (`plateau serve`, no PBX), on SQLite and PostgreSQL: every one is
refused with a 4xx naming the problem (or, found deep in a file, a failed import job saying which line),
nothing is half-written (row counts before and after), the server's memory stays under RSS_LIMIT_MB and
/healthz keeps answering while big uploads are read."""

from __future__ import annotations

import itertools
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.app.hostile.conftest import PLATEAU, RSS_LIMIT_MB, TOKEN, Files, Healthz, Server, raw_http
from tests.app.hostile.files import MiB, stray_quote

pytestmark = pytest.mark.hostile

_names = itertools.count(1)


def _new_list(client: httpx.Client) -> int:
    r = client.post("/api/v1/lists", json={"name": f"hostile {next(_names)}"})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _new_dnc(client: httpx.Client) -> int:
    r = client.post("/api/v1/dnc-lists", json={"name": f"hostile dnc {next(_names)}", "kind": "internal"})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _post_file(client: httpx.Client, url: str, path: os.PathLike[str]) -> httpx.Response:
    with open(path, "rb") as f:
        return client.post(url, files={"file": (os.path.basename(path), f)})


def _job_end(client: httpx.Client, job_id: int, timeout: float = 120) -> dict[str, Any]:
    """Polls the import job until it ends (with a deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/api/v1/imports/{job_id}").json()
        if job["status"] != "running":
            return job
        assert time.monotonic() < deadline, f"import {job_id} still running after {timeout} s"
        time.sleep(0.05)


# file → what the preview, the upload and the DNC import answer: 422 with these words in the message
REFUSED = [
    ("wide-value.xlsx", "a value in column XFD; at most 200 columns"),
    ("strings-bomb.xlsx", "xl/sharedStrings.xml unzips to 200 MiB"),
    ("strings-count-bomb.xlsx", "more than 100,000 shared strings"),
    ("zip-bomb.xlsx", "the workbook unzips to 300 MiB; at most 256 MiB"),
    ("dtd.xlsx", "xl/worksheets/sheet1.xml declares a DTD"),
    ("xxe.xlsx", "xl/sharedStrings.xml declares a DTD"),
    ("laughs.xlsx", "xl/workbook.xml declares a DTD"),
    ("bad-xml.xlsx", "its XML is malformed (mismatched tag"),
    ("empty-sheet.xlsx", "the sheet is empty"),
    ("not-a-zip.xlsx", "not a readable XLSX workbook"),
]


@pytest.mark.parametrize(("name", "words"), REFUSED, ids=[n for n, _ in REFUSED])
def test_given_a_hostile_file_when_previewed_uploaded_or_dnc_imported_then_422_naming_it_nothing_written(
    server: Server, corpus: Files, name: str, words: str
) -> None:
    path = corpus.get(name)
    with server.client() as client:
        list_id, dnc_id = _new_list(client), _new_dnc(client)
        before = server.counts()
        for url in (
            "/api/v1/lists/preview",
            f"/api/v1/lists/{list_id}/imports",
            f"/api/v1/dnc-lists/{dnc_id}/import",
        ):
            r = _post_file(client, url, path)
            assert r.status_code == 422, (url, r.status_code, r.text)
            assert words in r.text, (url, r.text)
        assert server.counts() == before
        assert client.get(f"/api/v1/lists/{list_id}").json()["lead_count"] == 0
    server.assert_alive_and_lean()


def test_given_a_stray_quote_when_imported_then_the_file_is_refused_at_its_line_and_nothing_written(
    server: Server, corpus: Files
) -> None:
    path = corpus.get("stray-quote.csv")  # line 3 opens a quote it never closes; 58 rows follow
    with server.client() as client:
        list_id, dnc_id = _new_list(client), _new_dnc(client)
        before = server.counts()
        r = _post_file(client, "/api/v1/lists/preview", path)
        assert r.status_code == 422 and "line 3: a quote opened on this line is never closed" in r.text
        r = _post_file(client, f"/api/v1/dnc-lists/{dnc_id}/import", path)
        assert r.status_code == 422 and "line 3: a quote" in r.text, r.text
        r = _post_file(client, f"/api/v1/lists/{list_id}/imports", path)
        assert r.status_code == 202, r.text  # its header is fine: the quote is found by the job
        job = _job_end(client, r.json()["id"])
        assert job["status"] == "failed" and "line 3: a quote" in job["error"], job
        assert "nothing was imported" in job["error"] and job["accepted"] == 0
        assert server.counts() == before
    server.assert_alive_and_lean()


def test_given_a_stray_quote_in_a_customer_file_when_the_cli_imports_it_then_non_zero_exit_naming_line(
    server: Server, tmp_path: Path
) -> None:
    path = stray_quote(tmp_path / "clients.csv", header="Nom;Téléphone")
    before = server.counts()
    out = subprocess.run(
        [str(PLATEAU), "import", "customers", str(path)],
        env={**os.environ, "PLATEAU_DATABASE_URL": server.db_url, "PLATEAU_SECRET_KEY": "hostile"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0, out.stdout
    assert "line 3: a quote opened on this line is never closed" in out.stderr, out.stderr
    assert "nothing was imported" in out.stderr
    assert server.counts() == before


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("blank-only-100mb.csv", "the file is empty"),
        ("single-line-100mb.csv", "line 1: longer than 1,048,576 characters"),
    ],
)
def test_given_a_100_mb_upload_that_is_no_table_when_uploaded_then_422_and_healthz_answers_meanwhile(
    server: Server, corpus: Files, name: str, words: str
) -> None:
    path = corpus.get(name)
    with server.client() as client, Healthz(server.url) as health:
        list_id = _new_list(client)
        before = server.counts()
        r = _post_file(client, f"/api/v1/lists/{list_id}/imports", path)
        assert r.status_code == 422 and words in r.text, r.text
        assert server.counts() == before
    assert health.errors == [] and health.answers and {s for _, s in health.answers} == {200}
    assert list(server.spool.iterdir()) == []  # the spooled upload is gone
    server.assert_alive_and_lean()


@pytest.mark.parametrize(
    ("name", "rows"),
    [("blank-flood-100mb.csv", 1), ("wide-dimension.xlsx", 20_000)],
    ids=["100 MB of blank lines then a row", "XLSX declaring 16,384 columns on 20,000 rows"],
)
def test_given_a_big_upload_when_imported_then_healthz_answers_while_the_job_reads_it(
    server: Server, corpus: Files, name: str, rows: int
) -> None:
    path = corpus.get(name)
    with server.client() as client, Healthz(server.url) as health:
        list_id = _new_list(client)
        r = _post_file(client, f"/api/v1/lists/{list_id}/imports", path)
        assert r.status_code == 202, r.text
        accepted_at = time.monotonic()
        job = _job_end(client, r.json()["id"])
        finished_at = time.monotonic()
    assert (job["status"], job["rows"], job["accepted"]) == ("done", rows, rows), job
    assert health.errors == [] and {s for _, s in health.answers} == {200}
    # A loop held by the reader answers nothing until the job is over; this one kept answering.
    assert health.answered_between(accepted_at, finished_at) >= 2, health.answers
    server.assert_alive_and_lean()


def _json_head(port: int, path: str, length: int | None, *, chunked: bool = False) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json"]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    else:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _multipart_head(port: int, path: str, length: int, token: str | None) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: multipart/form-data; boundary=hostile",
        f"Content-Length: {length}",
    ]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _chunks(size: int, count: int) -> Iterator[bytes]:
    block = b"[" + b"1," * (size // 2 - 1)
    for _ in range(count):
        yield b"%x\r\n%s\r\n" % (len(block), block)


def test_given_oversize_bodies_when_sent_then_413_or_401_before_the_body_is_read(
    server: Server, corpus: Files
) -> None:
    port = server.port
    with server.client() as client:
        list_id, dnc_id = _new_list(client), _new_dnc(client)
    # 300 MB of JSON announced to the login route: refused on its headers, not a byte of it sent
    status, body, sent = raw_http(port, _json_head(port, "/api/v1/auth/login", 300 * MiB))
    assert (status, sent) == (413, 0) and b"PLATEAU_MAX_BODY_BYTES" in body, body
    # the same sent chunked, without a length: refused once past the limit, long before the end
    status, body, sent = raw_http(
        port, _json_head(port, "/api/v1/auth/login", None, chunked=True), _chunks(MiB, 300)
    )
    assert status == 413 and b"PLATEAU_MAX_BODY_BYTES" in body, (status, body)
    assert sent < 64 * MiB
    # an anonymous 400 MB upload: 401 on its headers, nothing spooled
    status, body, sent = raw_http(
        port, _multipart_head(port, f"/api/v1/lists/{list_id}/imports", 400 * MiB, None)
    )
    assert (status, sent) == (401, 0), body
    assert list(server.spool.iterdir()) == []
    # uploads past PLATEAU_MAX_UPLOAD_BYTES / _PREVIEW_BYTES, even from a manager
    for path, length, setting in [
        (f"/api/v1/lists/{list_id}/imports", 600 * MiB, b"PLATEAU_MAX_UPLOAD_BYTES"),
        (f"/api/v1/dnc-lists/{dnc_id}/import", 600 * MiB, b"PLATEAU_MAX_UPLOAD_BYTES"),
        ("/api/v1/lists/preview", 40 * MiB, b"PLATEAU_MAX_PREVIEW_BYTES"),
    ]:
        status, body, sent = raw_http(port, _multipart_head(port, path, length, TOKEN))
        assert (status, sent) == (413, 0) and setting in body, (path, body)
    server.assert_alive_and_lean()
    assert server.peak_rss_mb < RSS_LIMIT_MB


def test_given_wrong_content_types_or_forms_when_uploading_then_4xx_naming_the_problem(
    server: Server, corpus: Files
) -> None:
    csv_path = corpus.get("stray-quote.csv")
    with server.client() as client:
        list_id = _new_list(client)
        before = server.counts()
        r = client.post(f"/api/v1/lists/{list_id}/imports", json={"file": "Nom;Portable"})
        assert r.status_code == 415 and "multipart/form-data" in r.text
        r = client.post(
            "/api/v1/lists/preview", content=b"Nom;Portable\n", headers={"Content-Type": "text/csv"}
        )
        assert r.status_code == 415 and "multipart/form-data" in r.text
        r = client.post(
            f"/api/v1/lists/{list_id}/imports", data={"dedupe_scope": "list"}, files={"x": ("a", b"1")}
        )
        assert r.status_code == 422 and "a file is required" in r.text
        r = client.post(f"/api/v1/lists/{list_id}/imports", data={"file": "not a file"})
        assert r.status_code in (415, 422) and "file" in r.text
        with open(csv_path, "rb") as f:
            r = client.post(
                f"/api/v1/lists/{list_id}/imports",
                files={"file": ("l.csv", f)},
                data={"dedupe_scope": "galaxy"},
            )
        assert r.status_code == 422 and "dedupe_scope" in r.text
        r = client.post(
            f"/api/v1/lists/{list_id}/imports",
            content=b'--b\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\nNom',
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
        assert 400 <= r.status_code < 500, r.text
        r = client.post(
            "/api/v1/auth/login", content=b"username=a&password=b", headers={"Content-Type": "text/plain"}
        )
        assert 400 <= r.status_code < 500 and r.json()["detail"], r.text
        assert server.counts() == before
    server.assert_alive_and_lean()
