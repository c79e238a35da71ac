"""The files routes of the local server over its :class:`~._files.FileStore`
(the flow is described in ``_files.py``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from ._files import FileStore, StoredFile, UploadRejected, iso
from ._responses import encode, error_b, error_d, json_response
from ._validation import QueryError, parse_list_query

__all__ = ["FileRoutes"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
UPLOAD_PATH = "/_local/uploads/{id}"
CONTENT_PATH = "/_local/files/{id}/content"
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_decode_any = msgspec.json.Decoder()


class FileRoutes:
    """The files routes over one :class:`FileStore`."""

    def __init__(self, store: FileStore) -> None:
        self.store = store

    def routes(self) -> list[tuple[str, str, Handler, str]]:
        """``(method, path, handler, operation)`` of every files route."""
        return [
            ("POST", "/v1/files/upload", self.reserve, "upload"),
            ("POST", "/v1/files/upload/{id}/complete", self.complete, "complete_upload"),
            ("GET", "/v1/files", self.list, "list"),
            ("GET", "/v1/files/{id}", self.get, "get"),
            ("GET", "/v1/files/{id}/download-link", self.download_link, "download_link"),
            ("PUT", UPLOAD_PATH, self.put, "upload_content"),
            ("GET", CONTENT_PATH, self.download, "download"),
        ]

    async def reserve(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1/files/upload``: a ``CreateUploadResponse`` (camelCase, as the API's)."""
        raw = await request.read()
        body = _json_object(raw)
        if body is None:
            return error_d([_issue([], "Input should be a JSON object", None)])
        issues: list[dict[str, Any]] = []
        filename = body.get("filename")
        if not isinstance(filename, str) or not filename.strip() or "/" in filename:
            issues.append(_issue(["filename"], "Input should be a plain file name", filename))
        size = body.get("size_bytes")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            issues.append(_issue(["size_bytes"], "Input should be an integer >= 0", size))
        elif size > self.store.config.max_upload_size:
            limit = self.store.config.max_upload_size
            issues.append(_issue(["size_bytes"], f"Files are limited to {limit} bytes", size))
        content_type = body.get("content_type")
        if content_type is not None and not isinstance(content_type, str):
            issues.append(_issue(["content_type"], "Input should be a string", content_type))
        sha256 = body.get("sha256")
        if sha256 is not None and (not isinstance(sha256, str) or not _SHA256.match(sha256)):
            issues.append(_issue(["sha256"], "Input should be 64 hexadecimal digits", sha256))
        if issues:
            return error_d(issues)
        try:
            stored = self.store.reserve(
                filename=str(filename),
                size_bytes=int(str(size)),
                content_type=content_type,
                sha256=sha256,
                idempotency_key=request.headers.get("Idempotency-Key"),
                body_hash=hashlib.sha256(raw).hexdigest(),
            )
        except UploadRejected as exc:
            return error_b(exc.status, exc.code, str(exc))
        upload_url = (
            f"{_origin(request, self.store.config.upload_host)}{_signed(UPLOAD_PATH, stored)}"
        )
        answer = {
            "fileId": stored.id,
            "uploadUrl": upload_url,
            "uploadMethod": "PUT",
            "uploadHeaders": {"Content-Type": stored.mime_type},
            "mimeData": stored.mime_data(),
            "expiresAt": iso(stored.created_wall + self.store.config.upload_ttl),
        }
        return json_response(encode(answer))

    async def put(self, request: web.Request) -> web.StreamResponse:
        """``PUT`` to the signed upload URL: the bytes, streamed to disk."""
        try:
            stored = self.store.pending(
                request.match_info["id"], request.query.get("signature", "")
            )
            timeout = self.store.config.body_timeout
            content = request.content

            async def read() -> bytes:
                return await asyncio.wait_for(content.readany(), timeout)

            await self.store.receive(stored, read, request.content_length)
        except UploadRejected as exc:
            return error_b(exc.status, exc.code, str(exc))
        except (ConnectionError, asyncio.TimeoutError):
            raise asyncio.CancelledError from None  # the sender is gone or stalled
        return web.Response(status=200, headers={"ETag": f'"{stored.received_sha256}"'})

    async def complete(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1/files/upload/{id}/complete``: the file's ``MIMEData``."""
        raw = await request.read()
        body = _json_object(raw) if raw.strip() else {}
        if body is None:
            return error_d([_issue([], "Input should be a JSON object", None)])
        sha256 = body.get("sha256")
        if sha256 is not None and (not isinstance(sha256, str) or not _SHA256.match(sha256)):
            return error_d([_issue(["sha256"], "Input should be 64 hexadecimal digits", sha256)])
        try:
            stored = self.store.complete(request.match_info["id"], sha256)
        except UploadRejected as exc:
            return error_b(exc.status, exc.code, str(exc))
        return json_response(encode(stored.mime_data()))

    async def get(self, request: web.Request) -> web.StreamResponse:
        """``GET /v1/files/{id}``: the ``File`` record."""
        stored = self._ready(request)
        if isinstance(stored, web.Response):
            return stored
        return json_response(encode(stored.to_dict()))

    async def download_link(self, request: web.Request) -> web.StreamResponse:
        """``GET /v1/files/{id}/download-link``: a ``FileLink`` (D18: this server fetches it)."""
        stored = self._ready(request)
        if isinstance(stored, web.Response):
            return stored
        link = {
            "download_url": _origin(request, None) + _signed(CONTENT_PATH, stored),
            "expires_in": f"{int(self.store.config.upload_ttl)}s",
            "filename": stored.filename,
            "mime_data": stored.mime_data(),
        }
        return json_response(encode(link))

    async def download(self, request: web.Request) -> web.StreamResponse:
        """``GET`` the signed download URL: the bytes, streamed from disk."""
        stored = self.store.ready(request.match_info["id"])
        signature = request.query.get("signature", "")
        if stored is None or not secrets.compare_digest(stored.signature, signature):
            return error_b(403, "SIGNATURE_INVALID", "The download URL is not valid")
        headers = {
            "Content-Type": stored.mime_type,
            "Content-Disposition": f'attachment; filename="{stored.filename}"',
        }
        return web.FileResponse(stored.path, headers=headers)

    async def list(self, request: web.Request) -> web.StreamResponse:
        """``GET /v1/files``: one page of completed files (D12)."""
        try:
            q = parse_list_query(request.query, status_filter=False)
        except QueryError as exc:
            if exc.status == 400:
                return error_b(400, "INVALID_DATE", exc.issues[0]["msg"])
            return json_response(encode({"detail": exc.issues}), 422)
        mime_type = request.query.get("mime_type") or None
        prefix = q.filename.lower() if q.filename else None

        def keep(stored: StoredFile) -> bool:
            if prefix is not None and not stored.filename.lower().startswith(prefix):
                return False
            if mime_type is not None and stored.mime_type != mime_type:
                return False
            day = dt.datetime.fromtimestamp(stored.created_wall, dt.timezone.utc).date()
            return not (q.from_date and day < q.from_date) and not (q.to_date and day > q.to_date)

        files, before, after = self.store.page(q.after, q.before, q.limit, q.order, keep)
        page = {
            "data": [f.to_dict() for f in files],
            "list_metadata": {"before": before, "after": after},
        }
        return json_response(encode(page))

    def _ready(self, request: web.Request) -> StoredFile | web.Response:
        file_id = request.match_info["id"]
        stored = self.store.ready(file_id)
        if stored is None:
            return error_b(404, "NOT_FOUND", f"File {file_id} not found")
        return stored


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        body = _decode_any.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def _issue(loc: list[str | int], msg: str, value: Any) -> dict[str, Any]:
    return {"type": "value_error", "loc": ["body", *loc], "msg": msg, "input": value}


def _signed(path: str, stored: StoredFile) -> str:
    return path.replace("{id}", stored.id) + f"?signature={stored.signature}"


def _origin(request: web.Request, host: str | None) -> str:
    """This server's origin as the client reached it; ``host`` replaces the host name
    (a signed storage URL on another origin, for tests of what crosses origins)."""
    url = request.url
    if host is None:
        return str(url.origin())
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{host}{port}"
