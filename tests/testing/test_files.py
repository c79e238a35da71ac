"""Files on the local server, over real loopback HTTP: the upload flow (reserve, PUT,
complete), its refusals (410, 422, bad signatures), list/get/download link, the bytes
kept on disk, and uploaded files as documents of every primitive (D18)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from retab_async.testing import FAIL_MARKER, LocalRetab, ManualClock
from retab_async.testing._files import lookup_file

from .conftest import Api

TEXT = b"Page one of the upload\fPage two: INVOICE 42, amount due"


async def reserve(api: Api, content: bytes, filename: str = "big.txt", **extra: Any) -> Any:
    body = {"filename": filename, "size_bytes": len(content), **extra}
    status, answer, _ = await api.call("POST", "/v1/files/upload", json=body)
    assert status == 200, answer
    return answer


async def put(api: Api, url: str, content: bytes, **headers: str) -> tuple[int, Any]:
    async with api.session.put(url, data=content, headers=headers) as resp:
        body = await resp.json(content_type=None) if resp.status != 200 else None
        return resp.status, body


async def upload(api: Api, content: bytes = TEXT, filename: str = "big.txt") -> Any:
    reserved = await reserve(api, content, filename, sha256=hashlib.sha256(content).hexdigest())
    assert (await put(api, reserved["uploadUrl"], content))[0] == 200
    status, mime, _ = await api.call("POST", f"/v1/files/upload/{reserved['fileId']}/complete")
    assert status == 200, mime
    return reserved["fileId"], mime


async def test_the_flow_ends_in_a_file_whose_bytes_are_on_disk(
    api: Api, server: LocalRetab
) -> None:
    reserved = await reserve(api, TEXT, content_type="text/plain")
    assert set(reserved) >= {"fileId", "uploadUrl", "uploadMethod", "expiresAt", "mimeData"}
    assert reserved["uploadMethod"] == "PUT"
    assert reserved["uploadHeaders"] == {"Content-Type": "text/plain"}
    file_id = reserved["fileId"]
    # The signed URL needs no API key, as a storage URL does not.
    assert (await put(api, reserved["uploadUrl"], TEXT))[0] == 200
    directory = server.state.files.directory
    assert directory is not None and (directory / file_id).read_bytes() == TEXT
    status, mime, _ = await api.call("POST", f"/v1/files/upload/{file_id}/complete", json={})
    assert status == 200
    assert mime == {
        "filename": "big.txt",
        "url": f"https://storage.retab.com/org_local/{file_id}.txt",
    }
    assert mime == reserved["mimeData"]
    # Completing again is harmless (a retried complete).
    again = await api.call("POST", f"/v1/files/upload/{file_id}/complete")
    assert again[:2] == (200, mime)


async def test_get_list_and_a_download_link_that_serves_the_bytes(api: Api) -> None:
    file_id, mime = await upload(api)
    status, record, _ = await api.call("GET", f"/v1/files/{file_id}")
    assert status == 200
    assert record["object"] == "file" and record["id"] == file_id
    assert record["filename"] == "big.txt" and record["mime_type"] == "text/plain"
    status, link, _ = await api.call("GET", f"/v1/files/{file_id}/download-link")
    assert status == 200 and link["filename"] == "big.txt" and link["mime_data"] == mime
    async with api.session.get(link["download_url"]) as resp:  # no API key: signed
        assert resp.status == 200 and await resp.read() == TEXT
    forged = link["download_url"].split("?")[0] + "?signature=forged"
    async with api.session.get(forged) as resp:
        assert resp.status == 403
    status, page, _ = await api.call("GET", "/v1/files")
    assert status == 200 and [f["id"] for f in page["data"]] == [file_id]
    assert page["list_metadata"] == {"before": None, "after": None}


async def test_list_pages_and_filters(api: Api) -> None:
    ids = [(await upload(api, TEXT + bytes([n]), f"f{n}.txt"))[0] for n in range(3)]
    pdf_id, _ = await upload(api, b"%PDF-1.4 tiny", "scan.pdf")
    _, page, _ = await api.call("GET", "/v1/files", params={"limit": "2"})
    assert [f["id"] for f in page["data"]] == [pdf_id, ids[2]]
    after = page["list_metadata"]["after"]
    _, page, _ = await api.call("GET", "/v1/files", params={"limit": "2", "after": after})
    assert [f["id"] for f in page["data"]] == [ids[1], ids[0]]
    assert page["list_metadata"]["after"] is None
    params = {"order": "asc", "filename": "F1"}
    assert [f["id"] for f in (await api.call("GET", "/v1/files", params=params))[1]["data"]] == [
        ids[1]
    ]
    params = {"mime_type": "application/pdf"}
    assert [f["id"] for f in (await api.call("GET", "/v1/files", params=params))[1]["data"]] == [
        pdf_id
    ]
    assert (await api.call("GET", "/v1/files", params={"limit": "0"}))[0] == 422
    assert (await api.call("GET", "/v1/files", params={"from_date": "soon"}))[0] == 400


async def test_a_wrong_size_or_checksum_is_422(api: Api) -> None:
    short = await reserve(api, TEXT + b"more")
    assert (await put(api, short["uploadUrl"], TEXT))[0] == 200
    status, body, _ = await api.call("POST", f"/v1/files/upload/{short['fileId']}/complete")
    assert status == 422 and body["detail"]["code"] == "UPLOAD_SIZE_MISMATCH"
    wrong = await reserve(api, TEXT, sha256="0" * 64)
    assert (await put(api, wrong["uploadUrl"], TEXT))[0] == 200
    status, body, _ = await api.call("POST", f"/v1/files/upload/{wrong['fileId']}/complete")
    assert status == 422 and body["detail"]["code"] == "UPLOAD_CHECKSUM_MISMATCH"
    # The checksum may come with the complete too.
    plain = await reserve(api, TEXT)
    assert (await put(api, plain["uploadUrl"], TEXT))[0] == 200
    path = f"/v1/files/upload/{plain['fileId']}/complete"
    status, body, _ = await api.call("POST", path, json={"sha256": "ab" * 32})
    assert status == 422 and body["detail"]["code"] == "UPLOAD_CHECKSUM_MISMATCH"
    # A file never completed is not listed, got, or usable.
    assert (await api.call("GET", f"/v1/files/{plain['fileId']}"))[0] == 404


async def test_a_put_is_refused_past_the_reserved_size_or_with_a_bad_signature(api: Api) -> None:
    reserved = await reserve(api, TEXT)
    status, body = await put(api, reserved["uploadUrl"], TEXT + b"extra")
    assert status == 413 and body["detail"]["code"] == "PAYLOAD_TOO_LARGE"
    forged = reserved["uploadUrl"].split("?")[0] + "?signature=nope"
    assert (await put(api, forged, TEXT))[0] == 403
    # A retried PUT replaces what came before: the last whole body counts.
    assert (await put(api, reserved["uploadUrl"], TEXT[:5]))[0] == 200
    assert (await put(api, reserved["uploadUrl"], TEXT))[0] == 200
    path = f"/v1/files/upload/{reserved['fileId']}/complete"
    assert (await api.call("POST", path))[0] == 200
    status, body = await put(api, reserved["uploadUrl"], TEXT)
    assert status == 409 and body["detail"]["code"] == "UPLOAD_COMPLETED"


async def test_an_expired_session_is_410() -> None:
    clock = ManualClock()
    async with (
        LocalRetab(clock=clock, upload_ttl=60.0) as server,
        aiohttp.ClientSession() as session,
    ):
        api = Api(server, session)
        late = await reserve(api, TEXT)
        clock.advance(61.0)
        status, body = await put(api, late["uploadUrl"], TEXT)
        assert status == 410 and body["detail"]["code"] == "UPLOAD_EXPIRED"
        status, body, _ = await api.call("POST", f"/v1/files/upload/{late['fileId']}/complete")
        assert status == 410
        put_in_time = await reserve(api, TEXT)
        assert (await put(api, put_in_time["uploadUrl"], TEXT))[0] == 200
        clock.advance(61.0)
        path = f"/v1/files/upload/{put_in_time['fileId']}/complete"
        assert (await api.call("POST", path))[0] == 410


async def test_reservations_replay_by_idempotency_key(api: Api) -> None:
    body = {"filename": "a.txt", "size_bytes": 3}
    key = {"Idempotency-Key": "upload-1"}
    first = await api.call("POST", "/v1/files/upload", json=body, headers=key)
    again = await api.call("POST", "/v1/files/upload", json=body, headers=key)
    assert first[1]["fileId"] == again[1]["fileId"]
    other = await api.call("POST", "/v1/files/upload", json={**body, "size_bytes": 4}, headers=key)
    assert other[0] == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"size_bytes": 3}, "filename"),
        ({"filename": "a/b.txt", "size_bytes": 3}, "filename"),
        ({"filename": "a.txt", "size_bytes": -1}, "size_bytes"),
        ({"filename": "a.txt", "size_bytes": 3, "sha256": "xyz"}, "sha256"),
    ],
)
async def test_bad_reservations_are_422(api: Api, body: dict[str, Any], field: str) -> None:
    status, answer, _ = await api.call("POST", "/v1/files/upload", json=body)
    assert status == 422 and field in answer["message"]


async def test_the_files_routes_want_the_api_key(api: Api) -> None:
    status, _, _ = await api.call(
        "POST", "/v1/files/upload", json={"filename": "a.txt", "size_bytes": 1}, auth=False
    )
    assert status == 401
    assert (await api.call("GET", "/v1/files", auth=False))[0] == 401


async def test_an_uploaded_file_is_a_document_on_every_primitive(api: Api) -> None:
    file_id, mime = await upload(api)
    _, link, _ = await api.call("GET", f"/v1/files/{file_id}/download-link")
    by_link = {"filename": "big.txt", "url": link["download_url"]}
    for document in (mime, link["mime_data"], by_link):
        status, record, _ = await api.call("POST", "/v1/parses", json={"document": document})
        assert status == 201, record
        assert record["output"]["pages"] == [p.decode() for p in TEXT.split(b"\f")]
    body = {"document": mime, "categories": [{"name": "invoice"}, {"name": "letter"}]}
    status, record, _ = await api.call("POST", "/v1/classifications", json=body)
    assert status == 201 and record["output"]["category"] == "invoice"
    schema = {"type": "object", "properties": {"amount": {"type": "string"}}}
    body = {"document": mime, "json_schema": schema}
    assert (await api.call("POST", "/v1/extractions", json=body))[0] == 201


async def test_the_failure_marker_in_an_upload_fails_the_run(api: Api) -> None:
    _, mime = await upload(api, b"please " + FAIL_MARKER, "bad.txt")
    status, record, _ = await api.call("POST", "/v1/parses", json={"document": mime})
    assert status == 201 and record["status"] == "failed"


async def test_a_reference_to_a_missing_file_is_422(api: Api) -> None:
    missing = {"filename": "x.pdf", "url": "https://storage.retab.com/org_local/file_nope.pdf"}
    status, body, _ = await api.call("POST", "/v1/parses", json={"document": missing})
    assert status == 422 and "file_nope" in body["message"]
    # An incomplete upload is no document yet.
    reserved = await reserve(api, TEXT)
    status, _, _ = await api.call("POST", "/v1/parses", json={"document": reserved["mimeData"]})
    assert status == 422


async def test_lookup_file_outside_a_request_finds_nothing(server: LocalRetab) -> None:
    assert lookup_file("file_anything") is None


async def test_the_temporary_directory_goes_when_the_server_stops(tmp_path: Path) -> None:
    async with LocalRetab() as server:
        async with aiohttp.ClientSession() as session:
            await upload(Api(server, session))
        directory = server.state.files.directory
        assert directory is not None and any(directory.iterdir())
    assert not directory.exists()
