"""What a checkpoint checks a rerun against: the batch's parameters and each input's content.

Digests are BLAKE2b, in hex. A batch's parameters get one digest per parameter
(so a mismatch can name the parameter) and one over all of them. An input's
digest covers what its create body says about the document: the file name and
the base64 text of its bytes, or the URL of an ``https://`` document. So it
changes whenever the document part of the request changes, and never otherwise.

Cost: an input that is sent is hashed from the base64 text already made for its
request body (the file is read once; hashing 20 MiB takes about as much CPU as
encoding it). An input only checked against the checkpoint (a resumed batch)
is read streaming, 768 KiB at a time in a worker thread, and encoded chunk by
chunk, without building a body.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio.to_thread
import msgspec

from .._documents import to_mime_data
from .._errors import DocumentError, UsageError
from .._models.common import MIMEData

__all__ = [
    "document_digest",
    "mime_digest",
    "mime_digest_async",
    "params_digest",
    "params_digests",
]

_CHUNK = 3 << 18  # a multiple of 3: base64 of the chunks joined is base64 of the whole
_THREAD_THRESHOLD = 1 << 20  # bodies smaller than this are hashed on the event loop


def params_digests(values: Mapping[str, Any]) -> dict[str, str]:
    """One short digest per parameter (categories, model, options...), keyed by name.

    Raises :class:`UsageError` for a value that is not plain data.
    """
    digests = {}
    for name, value in sorted(values.items()):
        try:
            digests[name] = _value_digest(value)
        except (TypeError, msgspec.EncodeError):
            raise UsageError(f"{name}={value!r} is not a plain value") from None
    return digests


def params_digest(digests: Mapping[str, str]) -> str:
    """One digest over every parameter digest."""
    return _value_digest(dict(digests))


def _value_digest(value: Any) -> str:
    encoded = msgspec.json.encode(msgspec.to_builtins(value), order="sorted")
    return hashlib.blake2b(encoded, digest_size=8).hexdigest()


def _hasher(filename: str) -> Any:
    hasher = hashlib.blake2b(digest_size=16)
    hasher.update(b"inline\0" + filename.encode("utf-8", "surrogateescape") + b"\0")
    return hasher


def mime_digest(mime: MIMEData) -> str:
    """The digest of a document as it is sent (see the module docstring)."""
    url = mime.url.encode("utf-8", "surrogateescape")
    start = url.find(b";base64,")
    if not url.startswith(b"data:") or start < 0:
        return hashlib.blake2b(b"url\0" + url, digest_size=16).hexdigest()
    hasher = _hasher(mime.filename)
    hasher.update(memoryview(url)[start + len(b";base64,") :])
    digest: str = hasher.hexdigest()
    return digest


async def mime_digest_async(mime: MIMEData) -> str:
    """:func:`mime_digest`, in a worker thread for large documents."""
    if len(mime.url) < _THREAD_THRESHOLD:
        return mime_digest(mime)
    return await anyio.to_thread.run_sync(mime_digest, mime)


async def document_digest(document: Any) -> str:
    """The digest ``document`` would have once sent, without building its body.

    Local files are hashed streaming; other documents go through the same
    conversion as a create (a file object is read, then put back where it was
    when it can seek). Raises :class:`DocumentError` when it cannot be read.
    """
    path = _local_path(document)
    if path is not None:
        try:
            return await anyio.to_thread.run_sync(_file_digest, path)
        except OSError as exc:
            raise DocumentError(f"document {str(path)!r} cannot be read: {exc.strerror}") from None
    stream = document[1] if isinstance(document, tuple) and len(document) == 2 else document
    position = _tell(stream)
    try:
        mime = await to_mime_data(document)
    finally:
        if position is not None:
            stream.seek(position)
    return await mime_digest_async(mime)


def _local_path(document: Any) -> Path | None:
    if isinstance(document, os.PathLike):
        return Path(os.fspath(document))
    # The same rule as to_mime_data: anything with a scheme is a URL.
    if isinstance(document, str) and "://" not in document and not document.startswith("data:"):
        return Path(document)
    return None


def _file_digest(path: Path) -> str:
    """:func:`mime_digest` of the file at ``path``, read and encoded chunk by chunk."""
    hasher = _hasher(path.name)
    carry = b""
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            chunk = carry + chunk
            whole = len(chunk) - len(chunk) % 3  # encode whole 3-byte groups only
            hasher.update(base64.b64encode(chunk[:whole]))
            carry = chunk[whole:]
    hasher.update(base64.b64encode(carry))
    digest: str = hasher.hexdigest()
    return digest


def _tell(stream: Any) -> int | None:
    try:
        if hasattr(stream, "read") and stream.seekable():
            position: int = stream.tell()
            return position
    except (OSError, ValueError):
        pass
    return None
