"""Uploaded files on the local server: the upload flow, the files routes, and the lookup
that lets every primitive take an uploaded file as its document (contract 2.8, D18).

The flow::

    POST /v1/files/upload                  reserve: {filename, size_bytes, content_type?, sha256?}
    PUT  /_local/uploads/{id}?signature=   the bytes (the signed upload URL; no API key)
    POST /v1/files/upload/{id}/complete    check size and sha256 (422), expiry (410): MIMEData
    GET  /v1/files                         list (cursor pagination, filename/mime_type/dates)
    GET  /v1/files/{id}                    the File record
    GET  /v1/files/{id}/download-link      a FileLink: a URL this server serves, and a MIMEData
    GET  /_local/files/{id}/content?signature=   the bytes (the signed download URL)

Uploads are streamed to a temporary directory, one file each, never held in memory;
the directory is removed when the server stops (:meth:`FileStore.close`). Sessions
expire ``upload_ttl`` seconds after the reservation, on the server's clock.

A document is an uploaded file when its URL is the file's storage URL
(``https://storage.retab.com/<org>/<file_id>.<ext>``, what ``complete`` returns) or
its download URL: :func:`resolve_document_url` turns such a URL into the stored
file. Other server modules find a completed file by id with :func:`lookup_file`.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import os
import posixpath
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .._clock import SYSTEM_CLOCK, Clock
from .._mime import mime_type_for
from ._config import ServerConfig

__all__ = [
    "STORAGE_ORIGIN",
    "FileStore",
    "StoredFile",
    "UploadRejected",
    "current_files",
    "iso",
    "lookup_file",
    "resolve_document_url",
]

STORAGE_ORIGIN = "https://storage.retab.com"
"""Where the API's storage URLs point (contract 2.8, form (c))."""

_ORG = "org_local"
_CHUNK = 256 * 1024
_CONTENT_URL = re.compile(r"^/_local/files/([^/]+)/content$")


@dataclass(eq=False)
class StoredFile:
    """One file of the store: reserved, then uploaded, then completed (``ready``).

    Attributes:
        id: the file id (``file_`` and 24 hex digits).
        filename: the name it was reserved with.
        mime_type: the declared ``content_type``, else the one its extension implies.
        size_bytes: the size it was reserved with.
        sha256: the checksum it was reserved with (lower-case hex), if any.
        path: where its bytes are kept on disk.
        signature: what its signed URLs carry.
        received: bytes of the last complete upload (``None`` before one).
        received_sha256: their checksum.
        ready: whether ``complete`` accepted it.
    """

    id: str
    seq: int
    filename: str
    mime_type: str
    size_bytes: int
    sha256: str | None
    path: Path
    signature: str
    created_wall: float
    expires_mono: float
    received: int | None = None
    received_sha256: str | None = None
    ready: bool = False
    updated_wall: float = field(default=0.0)

    @property
    def storage_url(self) -> str:
        """The durable reference ``complete`` returns: a Retab storage URL."""
        ext = posixpath.splitext(self.filename)[1]
        return f"{STORAGE_ORIGIN}/{_ORG}/{self.id}{ext}"

    def mime_data(self) -> dict[str, str]:
        """The ``MIMEData`` that names this file as a document."""
        return {"filename": self.filename, "url": self.storage_url}

    def ref(self) -> dict[str, str]:
        """The ``FileRef`` of runs made from this file: ``{id, filename, mime_type}``."""
        return {"id": self.id, "filename": self.filename, "mime_type": self.mime_type}

    def read(self) -> bytes:
        """The uploaded bytes (the whole file, in memory: for the stand-in models)."""
        return self.path.read_bytes()

    def to_dict(self) -> dict[str, Any]:
        """The ``File`` record of the API."""
        return {
            "object": "file",
            "id": self.id,
            "filename": self.filename,
            "mime_type": self.mime_type,
            "created_at": iso(self.created_wall),
            "updated_at": iso(self.updated_wall or self.created_wall),
            "page_count": None,
        }


class UploadRejected(Exception):
    """A PUT or a complete the store refuses: ``status``, ``code`` and message, shape B."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class FileStore:
    """The files of one server, their bytes in a temporary directory made on first use."""

    def __init__(self, config: ServerConfig, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.clock = clock
        self._files: dict[str, StoredFile] = {}
        self._keys: dict[str, tuple[str, str, float]] = {}
        self._seq = 0
        self._dir: Path | None = None

    def __len__(self) -> int:
        return len(self._files)

    @property
    def directory(self) -> Path | None:
        """The temporary directory holding the bytes (``None`` until the first upload)."""
        return self._dir

    def _directory(self) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="retab-local-files-"))
        return self._dir

    def close(self) -> None:
        """Remove every stored byte; the store is empty afterwards."""
        directory, self._dir = self._dir, None
        self._files.clear()
        self._keys.clear()
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    # -- the flow ---------------------------------------------------------------------

    def reserve(
        self,
        *,
        filename: str,
        size_bytes: int,
        content_type: str | None,
        sha256: str | None,
        idempotency_key: str | None = None,
        body_hash: str = "",
    ) -> StoredFile:
        """Reserve a file, or return the one reserved with the same ``idempotency_key``
        and body. Raises :class:`UploadRejected` (``409``) for a key reused with
        another body."""
        now = self.clock.now()
        if idempotency_key is not None:
            known = self._keys.get(idempotency_key)
            if known is not None and known[2] > now:
                if known[0] != body_hash:
                    raise UploadRejected(
                        409,
                        "IDEMPOTENCY_KEY_REUSED",
                        "This Idempotency-Key was already used with a different request body",
                    )
                return self._files[known[1]]
        self._seq += 1
        file_id = f"file_{secrets.token_hex(12)}"
        stored = StoredFile(
            id=file_id,
            seq=self._seq,
            filename=filename,
            mime_type=content_type or mime_type_for(filename) or "application/octet-stream",
            size_bytes=size_bytes,
            sha256=sha256.lower() if sha256 else None,
            path=self._directory() / file_id,
            signature=secrets.token_urlsafe(16),
            created_wall=time.time(),
            expires_mono=now + self.config.upload_ttl,
        )
        self._files[file_id] = stored
        if idempotency_key is not None:
            self._keys[idempotency_key] = (body_hash, file_id, now + self.config.idempotency_ttl)
        return stored

    def pending(self, file_id: str, signature: str) -> StoredFile:
        """The file a PUT may write. Raises :class:`UploadRejected`: ``403`` for a bad
        signature or an unknown file, ``410`` for an expired session, ``409`` once completed."""
        stored = self._files.get(file_id)
        if stored is None or not secrets.compare_digest(stored.signature, signature):
            raise UploadRejected(403, "SIGNATURE_INVALID", "The upload URL is not valid")
        if stored.ready:
            raise UploadRejected(409, "UPLOAD_COMPLETED", f"File {file_id} is already complete")
        self._check_expiry(stored)
        return stored

    async def receive(
        self, stored: StoredFile, read: Callable[[], Awaitable[bytes]], expected: int | None
    ) -> None:
        """Write an upload's bytes to disk as they arrive, hashing them on the way.

        A PUT replaces what an earlier PUT left. Raises :class:`UploadRejected` (``413``)
        for more bytes than were reserved, or than its ``Content-Length`` said.
        """
        limit = stored.size_bytes if expected is None else min(expected, stored.size_bytes)
        partial = stored.path.with_suffix(".part")
        digest = hashlib.sha256()
        size = 0
        with partial.open("wb") as out:
            while chunk := await read():
                size += len(chunk)
                if size > stored.size_bytes:
                    raise UploadRejected(
                        413,
                        "PAYLOAD_TOO_LARGE",
                        f"More than the {stored.size_bytes} bytes reserved were sent",
                    )
                digest.update(chunk)
                out.write(chunk)
        if expected is not None and size < limit:
            return  # cut short: nothing is kept of this attempt
        os.replace(partial, stored.path)
        stored.received = size
        stored.received_sha256 = digest.hexdigest()

    def complete(self, file_id: str, sha256: str | None) -> StoredFile:
        """Check the upload and mark the file ready; completing twice is a no-op.

        Raises :class:`UploadRejected`: ``404`` unknown, ``410`` expired, ``422`` when
        the size or the checksum does not match."""
        stored = self._files.get(file_id)
        if stored is None:
            raise UploadRejected(404, "NOT_FOUND", f"Upload session {file_id} not found")
        if stored.ready:
            return stored
        self._check_expiry(stored)
        if stored.received != stored.size_bytes:
            got = "nothing" if stored.received is None else f"{stored.received} bytes"
            raise UploadRejected(
                422,
                "UPLOAD_SIZE_MISMATCH",
                f"Expected {stored.size_bytes} bytes but {got} were uploaded",
            )
        for expected in (stored.sha256, sha256.lower() if sha256 else None):
            if expected is not None and expected != stored.received_sha256:
                raise UploadRejected(
                    422,
                    "UPLOAD_CHECKSUM_MISMATCH",
                    "The uploaded content does not match its sha256 checksum",
                )
        stored.ready = True
        stored.updated_wall = time.time()
        return stored

    def _check_expiry(self, stored: StoredFile) -> None:
        if self.clock.now() >= stored.expires_mono:
            raise UploadRejected(
                410, "UPLOAD_EXPIRED", f"The upload session of {stored.id} has expired"
            )

    # -- reading ----------------------------------------------------------------------

    def ready(self, file_id: str) -> StoredFile | None:
        """The completed file ``file_id``, or ``None`` (unknown, or not completed yet)."""
        stored = self._files.get(file_id)
        return stored if stored is not None and stored.ready else None

    def page(
        self, after: str | None, before: str | None, limit: int, order: str, keep: Any
    ) -> tuple[list[StoredFile], str | None, str | None]:
        """One page of completed files that ``keep`` accepts, with the cursors of D12."""
        files = [f for f in self._files.values() if f.ready and keep(f)]
        if order == "desc":
            files.reverse()
        position = {f.id: i for i, f in enumerate(files)}
        if before is not None and before in position:
            end = position[before]
            start = max(0, end - limit)
            page = files[start:end]
            return (
                page,
                (page[0].id if page and start > 0 else None),
                (page[-1].id if page else None),
            )
        start = position[after] + 1 if after is not None and after in position else 0
        page = files[start : start + limit]
        more = start + limit < len(files)
        cursor = after is not None and after in position
        return (
            page,
            (page[0].id if page and cursor else None),
            (page[-1].id if page and more else None),
        )

    def resolve(self, url: str) -> StoredFile | None:
        """The completed file a document URL names (storage or download URL), or ``None``
        for a URL that names no file of the API. Raises ``LookupError`` for a reference
        to a file that is not here (or not completed)."""
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" == STORAGE_ORIGIN:
            name = posixpath.basename(parts.path)
            file_id = posixpath.splitext(name)[0]
            stored = self.ready(file_id)
            if stored is None:
                raise LookupError(f"File {file_id} not found in storage")
            return stored
        match = _CONTENT_URL.match(parts.path)
        if match is None or parts.scheme not in ("http", "https"):
            return None
        stored = self.ready(match.group(1))
        signature = parse_qs(parts.query).get("signature", [""])[0]
        if stored is None or not secrets.compare_digest(stored.signature, signature):
            raise LookupError(f"File {match.group(1)} not found, or the link is not valid")
        return stored


# -- the request's store, for lookups from any server module ------------------------------
#
# Primitives validate and compute from a decoded body alone; the store they resolve
# file references against is the one of the server answering the request, which the
# request pipeline sets here (each request runs in its own task, with its own context).

_CURRENT: contextvars.ContextVar[FileStore | None] = contextvars.ContextVar(
    "retab_local_files", default=None
)


def current_files(store: FileStore) -> None:
    """Make ``store`` the one :func:`lookup_file` reads, for the running request's task."""
    _CURRENT.set(store)


def lookup_file(file_id: str) -> StoredFile | None:
    """The completed file ``file_id`` of the server answering the current request, or
    ``None`` (unknown id, upload not completed, or no request being answered)."""
    store = _CURRENT.get()
    return store.ready(file_id) if store is not None else None


def resolve_document_url(url: str) -> StoredFile | None:
    """The uploaded file a document's URL names, on the server answering the current
    request: ``None`` for any other URL. Raises ``LookupError`` for a storage or
    download URL of a file that is not there."""
    store = _CURRENT.get()
    return store.resolve(url) if store is not None else None


def iso(wall: float) -> str:
    """A wall-clock time as the API writes it (ISO 8601, milliseconds, ``Z``)."""
    stamp = dt.datetime.fromtimestamp(wall, dt.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
