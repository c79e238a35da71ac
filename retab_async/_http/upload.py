"""Uploading a local file (contract 2.8): reserve, send the bytes, complete.

::

    POST /v1/files/upload                {filename, size_bytes, content_type, sha256}
    PUT  <upload_url>                    the bytes (a signed URL, maybe on another host)
    POST /v1/files/upload/{id}/complete  {sha256}  ->  MIMEData

Memory stays flat whatever the file's size: the checksum is computed in one
streaming pass before the reservation, and the bytes go out as a stream read
from disk a chunk at a time in a worker thread. About two chunks (1 MiB each) and
aiohttp's write buffer are held at once.

Retries follow the client's :class:`RetryPolicy`. The reservation carries one
``Idempotency-Key`` for all its attempts; ``complete`` is idempotent on the
server. A stream cannot be replayed, so each attempt of the upload re-opens the
file and sends it from its start; its attempts are bounded in number, not in total
time (a large file may take long), each by the client's timeout for connecting and
for the answer, plus a second per MiB of body. The API key goes with the upload only
when ``upload_url`` is on the API's own origin.

The file is read twice (checksum, then upload). If it changes in between or
during the upload, the size read differs, or the checksum of what was sent does,
and :class:`FileChangedError` is raised before ``complete``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import IO, TypeVar
from urllib.parse import quote

import anyio.to_thread
import msgspec

from .._errors import (
    DecodeError,
    DocumentError,
    FileChangedError,
    GoneError,
    RetabError,
    UnprocessableEntityError,
    UploadExpired,
    UploadMismatch,
)
from .._mime import mime_type_for
from .._models.common import MIMEData
from .._models.files import FileUpload, UploadedFile
from .pipeline import Pipeline
from .transport import Response, error_for_status

__all__ = [
    "CHUNK_SIZE",
    "complete_upload",
    "create_upload",
    "reservation_key",
    "upload_path",
    "uploader",
]

CHUNK_SIZE = 1024 * 1024
"""Bytes read from disk at a time, for the checksum and for the upload."""

_T = TypeVar("_T")
_encode = msgspec.json.Encoder().encode
_any_decoder: msgspec.json.Decoder[object] = msgspec.json.Decoder()
_mime_decoder = msgspec.json.Decoder(MIMEData)


def _decode_upload(response: Response) -> FileUpload:
    # The API names these fields in camelCase (the official models' aliases), which the
    # official models also accept in snake_case: so do we.
    raw = _decode(_any_decoder, response, "upload session")
    if isinstance(raw, dict):
        raw = {_camel(key): value for key, value in raw.items()}
    try:
        return msgspec.convert(raw, FileUpload)
    except msgspec.ValidationError as exc:
        raise DecodeError(
            f"{response.method} {response.url}: not a valid upload session: {exc}",
            body=response.body,
            status=response.status,
            request_id=response.request_id,
        ) from exc


def _camel(key: object) -> object:
    if not isinstance(key, str) or "_" not in key:
        return key
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def _decode_mime(response: Response) -> MIMEData:
    return _decode(_mime_decoder, response, "MIMEData")


def _decode(decoder: msgspec.json.Decoder[_T], response: Response, what: str) -> _T:
    try:
        return decoder.decode(response.body)
    except msgspec.DecodeError as exc:
        valid_json = isinstance(exc, msgspec.ValidationError)
        raise DecodeError(
            f"{response.method} {response.url}: not a valid {what}: {exc}",
            body=response.body,
            status=response.status,
            request_id=response.request_id,
            malformed=bool(response.body) and not valid_json,
        ) from exc


def uploader(pipeline: Pipeline) -> Callable[[Path], Awaitable[MIMEData]]:
    """What a create uploads a too-large document with: the path's upload's ``MIMEData``."""

    async def upload(path: Path) -> MIMEData:
        return (await upload_path(pipeline, path)).document

    return upload


async def upload_path(
    pipeline: Pipeline,
    path: Path,
    *,
    filename: str | None = None,
    content_type: str | None = None,
) -> UploadedFile:
    """Upload the file at ``path``; see the module docstring for how.

    Raises :class:`DocumentError` (missing, unreadable, empty), :class:`UploadExpired`,
    :class:`UploadMismatch`, :class:`FileChangedError`, and what a request raises.
    """
    name = filename or path.name
    size, digest = await _checksum(path)
    mime = content_type or mime_type_for(name)
    # The same file reserved again within a day is the same reservation (where the server
    # honours the key): the same file id, so a create that sends it replays by its
    # Idempotency-Key. A session left expired by an earlier try is started afresh.
    key = reservation_key(name, size, mime, digest)
    try:
        return await _upload_once(pipeline, path, name, size, digest, mime, key)
    except UploadExpired:
        return await _upload_once(pipeline, path, name, size, digest, mime, str(uuid.uuid4()))


def reservation_key(filename: str, size: int, content_type: str | None, sha256: str) -> str:
    """The ``Idempotency-Key`` of the reservation of this content under this name."""
    text = f"{filename}\0{size}\0{content_type}\0{sha256}"
    return "upload-" + hashlib.sha256(text.encode()).hexdigest()


async def _upload_once(
    pipeline: Pipeline,
    path: Path,
    name: str,
    size: int,
    digest: str,
    mime: str | None,
    key: str,
) -> UploadedFile:
    session = await create_upload(
        pipeline, name, size, content_type=mime, sha256=digest, idempotency_key=key
    )
    await _put(pipeline, session, path, size=size, sha256=digest, filename=name, mime=mime)
    document = await complete_upload(pipeline, session.file_id, sha256=digest, filename=name)
    return UploadedFile(
        file_id=session.file_id, filename=name, size_bytes=size, sha256=digest, document=document
    )


async def create_upload(
    pipeline: Pipeline,
    filename: str,
    size_bytes: int,
    *,
    content_type: str | None = None,
    sha256: str | None = None,
    idempotency_key: str | None = None,
) -> FileUpload:
    """Reserve a file (``POST /v1/files/upload``), retried under one ``Idempotency-Key``
    (``idempotency_key``, or a new one)."""
    body: dict[str, object] = {"filename": filename, "size_bytes": size_bytes}
    if content_type is not None:
        body["content_type"] = content_type
    if sha256 is not None:
        body["sha256"] = sha256
    return await pipeline.request(
        "POST",
        "/v1/files/upload",
        _decode_upload,
        body=_encode(body),
        headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())},
    )


async def complete_upload(
    pipeline: Pipeline, file_id: str, *, sha256: str | None = None, filename: str = ""
) -> MIMEData:
    """Finish an upload (``POST .../complete``): the file's :class:`MIMEData`.

    Raises :class:`UploadExpired` (``410``), :class:`UploadMismatch` (``422``).
    """
    body = _encode({"sha256": sha256} if sha256 is not None else {})
    path = f"/v1/files/upload/{quote(file_id, safe='')}/complete"
    label = filename or file_id
    try:
        return await pipeline.request("POST", path, _decode_mime, body=body)
    except GoneError as exc:
        raise UploadExpired(
            f"the upload session of {label!r} expired before it was completed: upload again",
            filename=label,
            file_id=file_id,
        ) from exc
    except UnprocessableEntityError as exc:
        raise UploadMismatch(
            f"the server refused the upload of {label!r}: {exc.error.message}",
            filename=label,
            file_id=file_id,
        ) from exc


async def _put(
    pipeline: Pipeline,
    session: FileUpload,
    path: Path,
    *,
    size: int,
    sha256: str,
    filename: str,
    mime: str | None,
) -> None:
    transport = await pipeline.ensure_open()
    headers = dict(session.upload_headers)
    if mime is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = mime
    method = session.upload_method.upper()

    async def attempt(number: int, budget: float | None) -> None:
        body = _FileBody(path, size, filename=filename, file_id=session.file_id)
        try:
            response = await transport.upload(
                method, session.upload_url, body.chunks(), size=size, headers=headers
            )
        except RetabError:
            if body.problem is not None:
                raise body.problem from None
            raise
        if body.problem is not None:
            raise body.problem
        if response.status == 409:
            return  # a reservation replayed after its upload was completed: nothing to send
        if not 200 <= response.status < 300:
            raise error_for_status(response, attempt=number)
        if body.sha256 != sha256:
            raise FileChangedError(
                f"{filename!r} changed while it was uploaded (its checksum differs)",
                filename=filename,
                file_id=session.file_id,
            )

    policy = dataclasses.replace(pipeline.retry, timeout=None)
    pipeline.in_flight += 1
    try:
        await policy.call(attempt)
    except GoneError as exc:
        raise UploadExpired(
            f"the upload session of {filename!r} expired during the upload: upload again",
            filename=filename,
            file_id=session.file_id,
        ) from exc
    finally:
        pipeline.in_flight -= 1


class _FileBody:
    """One attempt's body: the file read from its start, ``CHUNK_SIZE`` at a time in a
    worker thread and hashed on the way. A file that is shorter or longer than
    ``size`` stops the upload (aiohttp sees the error and drops the connection) and
    leaves the reason in ``problem``."""

    def __init__(self, path: Path, size: int, *, filename: str, file_id: str) -> None:
        self._path = path
        self._size = size
        self._filename = filename
        self._file_id = file_id
        self._hash = hashlib.sha256()
        self.problem: FileChangedError | None = None

    @property
    def sha256(self) -> str:
        """The checksum of what was read so far."""
        return self._hash.hexdigest()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes, as aiohttp sends them."""
        fh = await anyio.to_thread.run_sync(self._path.open, "rb")
        try:
            left = self._size
            while left:
                chunk = await anyio.to_thread.run_sync(self._read, fh, min(CHUNK_SIZE, left))
                if not chunk:
                    raise self._changed(f"it shrank below {self._size} bytes")
                left -= len(chunk)
                # Checked before the last chunk goes: once the body is whole, aiohttp
                # need not ask for more, and the upload must not succeed.
                if not left and await anyio.to_thread.run_sync(_more, fh):
                    raise self._changed(f"it grew beyond {self._size} bytes")
                yield chunk
        finally:
            fh.close()

    def _read(self, fh: IO[bytes], n: int) -> bytes:
        chunk = fh.read(n)
        self._hash.update(chunk)
        return chunk

    def _changed(self, how: str) -> FileChangedError:
        self.problem = FileChangedError(
            f"{self._filename!r} changed while it was uploaded: {how}",
            filename=self._filename,
            file_id=self._file_id,
        )
        return self.problem


def _more(fh: IO[bytes]) -> bool:
    """Whether ``fh`` holds anything past where it is."""
    return bool(fh.read(1))


async def _checksum(path: Path) -> tuple[int, str]:
    """``(size, sha256 hex)`` of the file, in one streaming pass in a worker thread.

    Raises :class:`DocumentError` for a file that is missing, unreadable or empty."""
    try:
        size, digest = await anyio.to_thread.run_sync(_hash_file, path)
    except FileNotFoundError:
        raise DocumentError(f"document {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise DocumentError(f"document {str(path)!r} is a directory, not a file") from None
    except PermissionError:
        raise DocumentError(f"document {str(path)!r} cannot be read: permission denied") from None
    except OSError as exc:
        raise DocumentError(f"document {str(path)!r} cannot be read: {exc.strerror}") from None
    if size == 0:
        raise DocumentError(f"document {str(path)!r} is empty")
    return size, digest


def _hash_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            size += len(chunk)
            digest.update(chunk)
    return size, digest.hexdigest()
