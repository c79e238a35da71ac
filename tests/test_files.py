"""``client.files`` and automatic uploads, against the local server over loopback: the
flow and the requests it makes, retries of each step, typed errors (410, 422, a file
that changes), what crosses origins, and memory that stays flat."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import retab_async._documents
import retab_async._http.upload
from retab_async import (
    File,
    FileChangedError,
    FileLink,
    GoneError,
    NotFoundError,
    ProtocolError,
    RetabClient,
    UploadedFile,
    UploadExpired,
    UploadMismatch,
    UsageError,
)
from retab_async._http.upload import CHUNK_SIZE, _FileBody
from retab_async.testing import FaultConfig, LocalRetab, ManualClock

from ._http import serve
from .conftest import make_client

TEXT = b"Page one, uploaded\fPage two: INVOICE 42, amount due 300 EUR\n" * 50


def write(tmp_path: Path, content: bytes = TEXT, name: str = "scan.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def stored_bytes(server: LocalRetab, file_id: str) -> bytes:
    stored = server.state.files.ready(file_id)
    assert stored is not None
    return stored.read()


async def test_upload_reserves_sends_and_completes(
    client: RetabClient, server: LocalRetab, tmp_path: Path
) -> None:
    uploaded = await client.files.upload(write(tmp_path))
    assert isinstance(uploaded, UploadedFile)
    assert uploaded.filename == "scan.txt" and uploaded.size_bytes == len(TEXT)
    assert uploaded.sha256 == hashlib.sha256(TEXT).hexdigest()
    assert uploaded.document.url == f"https://storage.retab.com/org_local/{uploaded.file_id}.txt"
    assert stored_bytes(server, uploaded.file_id) == TEXT
    reserve, put, complete = (
        server.by_operation(op)[0] for op in ("upload", "upload_content", "complete_upload")
    )
    assert reserve.json() == {
        "filename": "scan.txt",
        "size_bytes": len(TEXT),
        "content_type": "text/plain",
        "sha256": uploaded.sha256,
    }
    assert reserve.headers["idempotency-key"]
    assert put.method == "PUT" and put.headers["content-type"] == "text/plain"
    assert put.headers["content-length"] == str(len(TEXT))
    # The upload URL is on the API's own origin here: the key goes with it.
    assert put.headers["authorization"] == f"Bearer {server.api_key}"
    assert complete.json() == {"sha256": uploaded.sha256}


async def test_get_list_and_download_link(
    client: RetabClient, server: LocalRetab, tmp_path: Path
) -> None:
    first = await client.files.upload(write(tmp_path, TEXT, "a.txt"))
    second = await client.files.upload(write(tmp_path, b"%PDF-1.4 small", "b.pdf"))
    record = await client.files.get(first.file_id)
    assert isinstance(record, File)
    assert (record.id, record.filename, record.mime_type) == (first.file_id, "a.txt", "text/plain")
    assert [f.id async for f in client.files.list()] == [second.file_id, first.file_id]
    page = await client.files.list(mime_type="application/pdf", limit=1)
    assert [f.id for f in page.data] == [second.file_id] and page.next_cursor is None
    assert [f.id async for f in client.files.list(limit=1, order="asc")] == [
        first.file_id,
        second.file_id,
    ]
    page = await client.files.list_page(limit=1)
    assert [f.id for f in page.data] == [second.file_id]
    page = await client.files.list_page(limit=1, after=page.next_cursor)
    assert [f.id for f in page.data] == [first.file_id] and page.next_cursor is None
    back = await client.files.list_page(limit=1, before=first.file_id)
    assert [f.id for f in back.data] == [second.file_id]
    with pytest.raises(UsageError):
        await client.files.list_page(after="a", before="b")
    with pytest.raises(UsageError):
        client.files.list(limit=0)
    link = await client.files.get_download_link(first.file_id)
    assert isinstance(link, FileLink) and link.filename == "a.txt"
    assert link.document == first.document
    with pytest.raises(NotFoundError):
        await client.files.get("file_unknown")


async def test_an_uploaded_file_is_a_document(client: RetabClient, tmp_path: Path) -> None:
    uploaded = await client.files.upload(write(tmp_path))
    parse = await client.parses.create(uploaded)
    assert parse.require_output().pages[0] == "Page one, uploaded"
    link = await client.files.get_download_link(uploaded.file_id)
    classification = await client.classifications.create(link, ["invoice", "letter"])
    assert classification.category == "invoice"


async def test_a_document_too_large_to_inline_is_uploaded_first(
    client: RetabClient, server: LocalRetab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retab_async._documents, "MAX_INLINE_BYTES", 1024)
    path = write(tmp_path)
    assert path.stat().st_size > 1024
    parse = await client.parses.create(path)
    assert parse.require_output().pages[1].startswith("Page two")
    ops = [r.operation for r in server.requests]
    assert ops == ["upload", "upload_content", "complete_upload", "create"]
    (stored,) = [f for f in server.state.files._files.values() if f.ready]
    sent = server.by_operation("create")[0].json()["document"]
    assert sent == {"filename": "scan.txt", "url": stored.storage_url}
    # A small document still goes inline.
    await client.parses.create(write(tmp_path, b"tiny", "tiny.txt"))
    assert server.by_operation("create")[1].json()["document"]["url"].startswith("data:")


async def test_the_same_content_again_is_the_same_file(
    client: RetabClient, server: LocalRetab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So a create with a large file replays by its Idempotency-Key: its body is the same."""
    monkeypatch.setattr(retab_async._documents, "MAX_INLINE_BYTES", 1024)
    path = write(tmp_path)
    first = await client.parses.create(path, idempotency_key="parse-1")
    again = await client.parses.create(path, idempotency_key="parse-1")
    assert again.id == first.id and len(server.runs) == 1
    assert len(server.state.files) == 1


@pytest.mark.retab_server(
    faults=FaultConfig(server_error=1.0, operations=["upload_content"], limit=2)
)
async def test_a_failed_upload_is_sent_again_from_the_start(
    client: RetabClient, server: LocalRetab, tmp_path: Path
) -> None:
    uploaded = await client.files.upload(write(tmp_path))
    puts = server.by_operation("upload_content")
    assert [r.status for r in puts] != [200] and puts[-1].status == 200 and len(puts) == 3
    assert stored_bytes(server, uploaded.file_id) == TEXT
    assert len(server.state.files) == 1 and len(server.by_operation("complete_upload")) == 1


@pytest.mark.parametrize("lost", ["upload_content", "complete_upload"])
async def test_a_lost_answer_to_the_upload_or_the_complete_is_retried(
    tmp_path: Path, lost: Any
) -> None:
    faults = FaultConfig(disconnect=1.0, operations=[lost], limit=1)
    async with LocalRetab(faults=faults) as server, make_client(server) as client:
        uploaded = await client.files.upload(write(tmp_path))
        assert len(server.by_operation(lost)) == 2
        assert stored_bytes(server, uploaded.file_id) == TEXT
        assert len([f for f in server.state.files._files.values() if f.ready]) == 1


@pytest.mark.retab_server(faults=FaultConfig(server_error=1.0, operations=["upload"], limit=1))
async def test_a_failed_reservation_is_retried_with_the_same_key(
    client: RetabClient, server: LocalRetab, tmp_path: Path
) -> None:
    await client.files.upload(write(tmp_path))
    keys = {r.headers["idempotency-key"] for r in server.by_operation("upload")}
    assert len(server.by_operation("upload")) == 2 and len(keys) == 1


async def test_an_expired_session_is_upload_expired(tmp_path: Path) -> None:
    clock = ManualClock()
    async with LocalRetab(clock=clock, upload_ttl=60.0) as server, make_client(server) as client:
        session = await client.files.create_upload("a.txt", 3)
        clock.advance(61.0)
        with pytest.raises(UploadExpired) as caught:
            await client.files.complete_upload(session.file_id)
        assert isinstance(caught.value.__cause__, GoneError)
        assert caught.value.file_id == session.file_id


async def test_an_expired_earlier_reservation_of_the_same_file_is_started_afresh(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    path = write(tmp_path)
    digest = hashlib.sha256(TEXT).hexdigest()
    async with LocalRetab(clock=clock, upload_ttl=60.0) as server, make_client(server) as client:
        key = retab_async._http.upload.reservation_key("scan.txt", len(TEXT), "text/plain", digest)
        stale = await retab_async._http.upload.create_upload(
            client._pipeline,
            "scan.txt",
            len(TEXT),
            content_type="text/plain",
            sha256=digest,
            idempotency_key=key,
        )
        clock.advance(61.0)
        uploaded = await client.files.upload(path)
        assert uploaded.file_id != stale.file_id
        assert [r.status for r in server.by_operation("upload_content")] == [410, 200]


async def test_a_size_or_checksum_mismatch_is_upload_mismatch(client: RetabClient) -> None:
    session = await client.files.create_upload("a.txt", 3)
    with pytest.raises(UploadMismatch, match="Expected 3 bytes"):
        await client.files.complete_upload(session.file_id)
    # The low-level flow: the caller sends the bytes to the upload URL itself.
    async with aiohttp.ClientSession() as http, http.put(session.upload_url, data=b"abc") as r:
        assert r.status == 200
    with pytest.raises(UploadMismatch, match="sha256") as caught:
        await client.files.complete_upload(session.file_id, sha256="0" * 64)
    assert caught.value.__cause__.status == 422  # type: ignore[union-attr]
    document = await client.files.complete_upload(
        session.file_id, sha256=hashlib.sha256(b"abc").hexdigest()
    )
    assert document.filename == "a.txt"


@pytest.mark.parametrize(
    ("change", "how"),
    [
        (lambda path: path.write_bytes(path.read_bytes() + b"more"), "grew"),
        (lambda path: path.write_bytes(path.read_bytes()[:-4]), "shrank"),
        (lambda path: path.write_bytes(path.read_bytes().upper()), "checksum"),
    ],
)
async def test_a_file_that_changes_while_uploading_is_refused(
    client: RetabClient,
    server: LocalRetab,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    change: Callable[[Path], Any],
    how: str,
) -> None:
    measure = retab_async._http.upload._checksum

    async def measured_then_changed(path: Path) -> tuple[int, str]:
        result = await measure(path)
        change(path)  # someone writes to the file right after it was measured
        return result

    monkeypatch.setattr(retab_async._http.upload, "_checksum", measured_then_changed)
    with pytest.raises(FileChangedError, match=how) as caught:
        await client.files.upload(write(tmp_path))
    assert caught.value.filename == "scan.txt" and caught.value.file_id
    assert server.by_operation("complete_upload") == []  # nothing was completed
    assert len(server.by_operation("upload_content")) <= 1  # not retried


async def test_file_body_reads_whole_chunks_and_notices_changes(tmp_path: Path) -> None:
    path = write(tmp_path, b"x" * (CHUNK_SIZE + 10))
    body = _FileBody(path, CHUNK_SIZE + 10, filename="scan.txt", file_id="file_1")
    sizes = [len(chunk) async for chunk in body.chunks()]
    assert sizes == [CHUNK_SIZE, 10] and body.problem is None
    short = _FileBody(path, CHUNK_SIZE + 11, filename="scan.txt", file_id="file_1")
    with pytest.raises(FileChangedError, match="shrank"):
        _ = [chunk async for chunk in short.chunks()]
    assert short.problem is not None


async def test_the_key_does_not_go_to_another_origin(tmp_path: Path) -> None:
    # The same server under another name: the upload URL is a foreign origin.
    async with LocalRetab(upload_host="localhost", record_bodies=True) as server:
        async with make_client(server) as client:
            uploaded = await client.files.upload(write(tmp_path))
        (put,) = server.by_operation("upload_content")
        assert "authorization" not in put.headers and "api-key" not in put.headers
        assert put.headers["host"].startswith("localhost:")
        assert stored_bytes(server, uploaded.file_id) == TEXT
        reserve = server.by_operation("upload")[0]
        assert reserve.headers["authorization"] == f"Bearer {server.api_key}"


async def test_a_redirected_upload_is_a_protocol_error(tmp_path: Path) -> None:
    async def storage(request: web.Request) -> web.StreamResponse:
        await request.read()
        raise web.HTTPTemporaryRedirect("http://elsewhere.test/put")

    async with serve(storage) as storage_url:

        async def api(request: web.Request) -> web.StreamResponse:
            if request.path == "/v1/files/upload":
                return web.json_response({"fileId": "file_1", "uploadUrl": storage_url + "/put"})
            return web.json_response({"filename": "scan.txt", "url": "https://x.test/a.txt"})

        async with serve(api) as api_url, RetabClient("sk_test", api_url) as client:
            with pytest.raises(ProtocolError, match="redirected") as caught:
                await client.files.upload(write(tmp_path))
            assert caught.value.location == "http://elsewhere.test/put"


async def test_upload_memory_stays_flat(
    client: RetabClient, server: LocalRetab, tmp_path: Path
) -> None:
    """30 MB through the upload, client and server in this process: the peak of Python
    allocations stays a few chunks, not the file (tracemalloc, not time)."""
    size = 30 * 1024 * 1024
    path = tmp_path / "big.pdf"
    with path.open("wb") as fh:
        for n in range(size // CHUNK_SIZE):
            fh.write(bytes([n % 251]) * CHUNK_SIZE)
    await client.files.upload(path)  # warm: connections, imports, the first allocations
    tracemalloc.start()
    try:
        uploaded = await client.files.upload(path, filename="again.pdf")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert uploaded.size_bytes == size
    assert peak < 8 * CHUNK_SIZE, f"peak {peak / 2**20:.1f} MiB for a {size / 2**20:.0f} MiB file"


async def test_a_checkpointed_batch_uploads_large_files_and_resumes_them(
    client: RetabClient, server: LocalRetab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retab_async._documents, "MAX_INLINE_BYTES", 1024)
    big, small = write(tmp_path), write(tmp_path, b"short note", "note.txt")
    checkpoint = tmp_path / "journal.jsonl"
    async with client.parses.map([big, small], checkpoint=checkpoint) as results:
        first = {r.key: r async for r in results}
    assert all(r.ok for r in first.values())
    assert len(server.by_operation("complete_upload")) == 1  # only the large file
    async with client.parses.map([big, small], checkpoint=checkpoint) as results:
        again = {r.key: r async for r in results}
    assert {k: r.record.id for k, r in again.items()} == {  # type: ignore[union-attr]
        k: r.record.id  # type: ignore[union-attr]
        for k, r in first.items()
    }
    assert len(server.runs) == 2


async def test_a_streamed_extraction_uploads_a_large_file_first(
    client: RetabClient, server: LocalRetab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retab_async._documents, "MAX_INLINE_BYTES", 1024)
    schema = {"type": "object", "properties": {"amount": {"type": "string"}}}
    events = [event async for event in client.extractions.stream(write(tmp_path), schema)]
    assert events
    ops = [r.operation for r in server.requests]
    assert ops == ["upload", "upload_content", "complete_upload", "stream"]
    assert (
        server.by_operation("stream")[0]
        .json()["document"]["url"]
        .startswith("https://storage.retab.com/")
    )


async def test_a_snake_case_session_and_a_storage_host_of_its_own(tmp_path: Path) -> None:
    """Another origin (another port) holds the signed URL: it gets the bytes and the
    session's headers, never the key; the session may name its fields in snake_case."""
    seen: list[tuple[str, dict[str, str], bytes]] = []

    async def storage(request: web.Request) -> web.StreamResponse:
        seen.append((request.raw_path, dict(request.headers), await request.read()))
        return web.Response(status=200)

    async with serve(storage) as storage_url:

        async def api(request: web.Request) -> web.StreamResponse:
            if request.path == "/v1/files/upload":
                session = {
                    "file_id": "file_1",
                    "upload_url": storage_url + "/bucket/file_1?X-Sig=abc%2Fdef",
                    "upload_headers": {"x-goog-meta": "1"},
                }
                return web.json_response(session)
            return web.json_response({"filename": "scan.txt", "url": "https://x.test/a.txt"})

        async with serve(api) as api_url, RetabClient("sk_test", api_url) as client:
            uploaded = await client.files.upload(write(tmp_path))
    assert uploaded.file_id == "file_1" and uploaded.document.url == "https://x.test/a.txt"
    ((raw_path, headers, body),) = seen
    assert raw_path == "/bucket/file_1?X-Sig=abc%2Fdef"  # the signature as it was signed
    assert body == TEXT and headers["x-goog-meta"] == "1"
    assert "Authorization" not in headers
