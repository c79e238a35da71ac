"""The official ``retab`` SDK, unchanged, runs every files method (sync and async) against
the local server: create_upload, the PUT to its URL (with httpx, as the SDK leaves that
step to the caller), complete_upload, get, list and get_download_link; its pydantic
models validate each response, and the uploaded file is a document (D18)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

retab = pytest.importorskip("retab")

from retab.exceptions import APIError, NotFoundError, ValidationError  # noqa: E402
from retab.types.files import CreateUploadResponse, File, FileLink  # noqa: E402
from retab.types.mime import MIMEData  # noqa: E402

from retab_async.testing import LocalRetab  # noqa: E402

CONTENT = b"Uploaded page one\fUploaded page two: INVOICE 7, amount due"
DIGEST = hashlib.sha256(CONTENT).hexdigest()


@pytest.fixture
def official(retab_server: LocalRetab) -> Iterator[Any]:
    with retab.Retab(api_key=retab_server.api_key, base_url=retab_server.base_url) as client:
        yield client


def _put(session: CreateUploadResponse, content: bytes = CONTENT) -> int:
    method = session.upload_method or "PUT"
    response = httpx.request(
        method, session.upload_url, content=content, headers=session.upload_headers or {}
    )
    return response.status_code


def test_files_sync(official: Any) -> None:
    files = official.files
    session = files.create_upload(
        filename="notes.txt", size_bytes=len(CONTENT), content_type="text/plain", sha256=DIGEST
    )
    assert isinstance(session, CreateUploadResponse) and session.file_id.startswith("file_")
    assert session.upload_method == "PUT" and session.expires_at is not None
    assert session.mime_data is not None and session.mime_data.id == session.file_id
    assert _put(session) == 200
    mime = files.complete_upload(session.file_id, sha256=DIGEST)
    assert isinstance(mime, MIMEData) and mime.filename == "notes.txt"
    assert mime.id == session.file_id  # the SDK reads the id from the storage URL
    record = files.get(session.file_id)
    assert isinstance(record, File) and record.filename == "notes.txt"
    assert record.mime_type == "text/plain" and record.created_at is not None
    listed = files.list(filename="notes", mime_type="text/plain")
    assert [f.id for f in listed.data] == [session.file_id]
    link = files.get_download_link(session.file_id)
    assert isinstance(link, FileLink) and link.mime_data == mime
    assert httpx.get(link.download_url).content == CONTENT
    parse = official.parses.create(document=mime)
    assert parse.output.pages == ["Uploaded page one", "Uploaded page two: INVOICE 7, amount due"]
    with pytest.raises(NotFoundError):
        files.get("file_missing")


def test_refused_uploads_sync(official: Any) -> None:
    files = official.files
    session = files.create_upload(filename="notes.txt", size_bytes=len(CONTENT))
    with pytest.raises(ValidationError):  # nothing uploaded: the size does not match
        files.complete_upload(session.file_id)
    assert _put(session) == 200
    with pytest.raises(ValidationError):
        files.complete_upload(session.file_id, sha256="0" * 64)
    with pytest.raises(APIError) as refused:
        files.list(limit=0)
    assert refused.value.status_code == 422


@pytest.mark.anyio
async def test_files_async(retab_server: LocalRetab) -> None:
    async with retab.AsyncRetab(
        api_key=retab_server.api_key, base_url=retab_server.base_url
    ) as client:
        files = client.files
        session = await files.create_upload(filename="scan.txt", size_bytes=len(CONTENT))
        async with httpx.AsyncClient() as http:
            response = await http.put(
                session.upload_url, content=CONTENT, headers=session.upload_headers or {}
            )
            assert response.status_code == 200
        mime = await files.complete_upload(session.file_id)
        assert isinstance(mime, MIMEData) and mime.id == session.file_id
        assert (await files.get(session.file_id)).id == session.file_id
        page = await files.list(order="asc", limit=10)
        assert session.file_id in [f.id for f in page.data]
        link = await files.get_download_link(session.file_id)
        assert link.download_url and link.filename == "scan.txt"
        by_link = {"filename": "scan.txt", "url": link.download_url}
        parse = await client.parses.create(document=MIMEData(**by_link))
        assert parse.output.pages[0] == "Uploaded page one"
