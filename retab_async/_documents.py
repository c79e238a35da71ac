"""Turn what users pass as ``document=`` into :class:`MIMEData`, and check categories.

Every problem is a :class:`DocumentError` or :class:`UsageError` raised before
anything is sent.
"""

from __future__ import annotations

import base64
import os
import posixpath
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any, TypeAlias
from urllib.parse import unquote, urlsplit

import anyio.to_thread

from ._errors import DocumentError, UsageError
from ._mime import MIME_TYPES, mime_type_for
from ._models.common import Category, MIMEData
from ._models.files import FileLink, UploadedFile

__all__ = [
    "MAX_INLINE_BYTES",
    "CategoryLike",
    "DocumentLike",
    "Uploader",
    "normalize_categories",
    "to_mime_data",
    "too_large_to_inline",
    "upload_if_large",
]

DocumentLike: TypeAlias = (
    str
    | os.PathLike[str]
    | MIMEData
    | UploadedFile
    | FileLink
    | tuple[str, bytes]
    | tuple[str, IO[bytes]]
    | IO[bytes]
)
"""A path, an ``https://`` URL, a :class:`MIMEData`, an uploaded file (:class:`UploadedFile`,
:class:`FileLink`), ``(filename, bytes)``, ``(filename, binary file)`` or a binary file
object with a ``name``. Paths to files above :data:`MAX_INLINE_BYTES` are uploaded."""

Uploader: TypeAlias = Callable[[Path], Awaitable[MIMEData]]
"""Uploads the file at a path and returns the :class:`MIMEData` that names it."""

CategoryLike: TypeAlias = Category | Mapping[str, Any] | str
"""A :class:`Category`, a dict with ``name`` (and ``description``), or a plain name."""

MAX_INLINE_BYTES = 24 * 1024 * 1024
"""Largest document sent inline: base64 makes it about 32 MiB, the API's body limit."""


async def to_mime_data(document: DocumentLike, *, upload: Uploader | None = None) -> MIMEData:
    """The :class:`MIMEData` for ``document``; reads files in a worker thread.

    A path to a file above :data:`MAX_INLINE_BYTES` is given to ``upload``, whose
    :class:`MIMEData` is returned; without ``upload`` it is too large.

    Raises :class:`DocumentError` for a missing, unreadable, empty, too large or
    unsupported document, and for URLs that are not ``https://``; and what
    ``upload`` raises.
    """
    if isinstance(document, MIMEData):
        return _check_mime_data(document)
    if isinstance(document, (UploadedFile, FileLink)):
        return _check_mime_data(document.document)
    if isinstance(document, str):
        if "://" in document or document.startswith("data:"):
            return _from_url(document)
        return await _from_path(Path(document), upload)
    if isinstance(document, os.PathLike):
        return await _from_path(Path(os.fspath(document)), upload)
    if isinstance(document, tuple):
        return await _from_tuple(document)
    if hasattr(document, "read"):
        name = getattr(document, "name", None)
        if not isinstance(name, str) or not name:
            raise DocumentError("a file object needs a name; pass (filename, file) instead")
        return await _from_tuple((posixpath.basename(name.replace("\\", "/")), document))
    raise DocumentError(
        f"cannot use a {type(document).__name__} as a document; pass a path, an https:// URL, "
        "MIMEData, (filename, bytes) or a binary file"
    )


async def upload_if_large(document: DocumentLike, upload: Uploader) -> DocumentLike:
    """``document`` itself, or, for a path to a file too large to send inline (above
    :data:`MAX_INLINE_BYTES`), the :class:`MIMEData` that ``upload`` returns for it.

    What a create does with its document first. Anything else is left as it is (a
    primitive's body may take other things than documents). Raises
    :class:`DocumentError` for an unsupported extension before anything is uploaded,
    and what ``upload`` raises.
    """
    if not await too_large_to_inline(document):
        return document
    return await to_mime_data(document, upload=upload)


async def too_large_to_inline(document: object) -> bool:
    """Whether ``document`` is a path to a file above :data:`MAX_INLINE_BYTES` (one that
    a create uploads). ``False`` for anything else, and for a path that cannot be read."""
    path = _local_path(document)
    if path is None:
        return False
    try:
        size = (await anyio.to_thread.run_sync(path.stat)).st_size
    except OSError:
        return False  # to_mime_data says what is wrong with it
    return size > MAX_INLINE_BYTES


def _local_path(document: object) -> Path | None:
    if isinstance(document, os.PathLike):
        return Path(os.fspath(document))
    if isinstance(document, str) and "://" not in document and not document.startswith("data:"):
        return Path(document)
    return None


def _check_mime_data(doc: MIMEData) -> MIMEData:
    _mime_for(doc.filename)
    if doc.url.startswith("https://"):
        return doc
    if doc.url.startswith("data:") and ";base64," in doc.url:
        return doc
    raise DocumentError("MIMEData.url must be a data: URI with base64 content or an https:// URL")


def _from_url(url: str) -> MIMEData:
    scheme = url.split(":", 1)[0].lower()
    if scheme != "https":
        raise DocumentError(
            f"document URL {url[:80]!r} uses {scheme}:; only https:// URLs are accepted "
            "(pass a local path to send the content inline)"
        )
    parts = urlsplit(url)
    if not parts.hostname:
        raise DocumentError(f"document URL {url[:80]!r} has no host")
    filename = posixpath.basename(unquote(parts.path))
    if not filename:
        raise DocumentError(f"document URL {url[:80]!r} does not end in a file name")
    _mime_for(filename)
    return MIMEData(filename=filename, url=url)


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


async def _from_path(path: Path, upload: Uploader | None) -> MIMEData:
    try:
        mime = _mime_for(path.name)
    except DocumentError:
        if await anyio.Path(path).is_dir():  # "." has no extension: say what it is
            raise DocumentError(f"document {str(path)!r} is a directory, not a file") from None
        raise
    try:
        data = await anyio.to_thread.run_sync(_read_file, path)
    except _TooLarge as large:
        if upload is None:
            raise DocumentError(_too_large(str(path), large.size)) from None
        return await upload(path)
    except FileNotFoundError:
        raise DocumentError(f"document {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise DocumentError(f"document {str(path)!r} is a directory, not a file") from None
    except PermissionError:
        raise DocumentError(f"document {str(path)!r} cannot be read: permission denied") from None
    except OSError as exc:
        raise DocumentError(f"document {str(path)!r} cannot be read: {exc.strerror}") from None
    return _inline(path.name, mime, data, str(path))


def _read_file(path: Path) -> bytes:
    if path.is_dir():
        raise IsADirectoryError(path)
    size = path.stat().st_size
    if size > MAX_INLINE_BYTES:
        raise _TooLarge(size)
    with path.open("rb") as fh:
        return fh.read(MAX_INLINE_BYTES + 1)


async def _from_tuple(item: tuple[Any, ...]) -> MIMEData:
    if len(item) != 2 or not isinstance(item[0], str):
        raise DocumentError("a document tuple must be (filename, bytes) or (filename, file)")
    filename, content = item
    if not filename.strip() or "/" in filename or "\\" in filename:
        raise DocumentError(f"document filename {filename!r} must be a plain file name")
    mime = _mime_for(filename)
    if isinstance(content, (bytes, bytearray, memoryview)):
        data = bytes(content)
    elif hasattr(content, "read"):
        data = await anyio.to_thread.run_sync(content.read, MAX_INLINE_BYTES + 1)
        if not isinstance(data, bytes):
            raise DocumentError(f"file for {filename!r} must be opened in binary mode ('rb')")
    else:
        raise DocumentError(f"content for {filename!r} must be bytes or a binary file")
    return _inline(filename, mime, data, filename)


def _inline(filename: str, mime: str, data: bytes, label: str) -> MIMEData:
    if not data:
        raise DocumentError(f"document {label!r} is empty")
    if len(data) > MAX_INLINE_BYTES:
        raise DocumentError(_too_large(label, len(data)))
    encoded = base64.b64encode(data).decode("ascii")
    return MIMEData(filename=filename, url=f"data:{mime};base64,{encoded}")


def _too_large(label: str, size: int) -> str:
    return (
        f"document {label!r} is {size / 2**20:.1f} MiB; inline documents are limited to "
        f"{MAX_INLINE_BYTES // 2**20} MiB (the API caps request bodies at about 32 MiB): "
        "upload it with client.files.upload() (a primitive given its path does so itself), "
        "or pass an https:// URL instead"
    )


def _mime_for(filename: str) -> str:
    mime = mime_type_for(filename)
    if mime is None:
        ext = posixpath.splitext(filename)[1] or "(none)"
        known = ", ".join(sorted(MIME_TYPES))
        raise DocumentError(f"{filename!r}: unsupported file extension {ext}; supported: {known}")
    return mime


_last_categories: tuple[list[Any], list[Category]] | None = None
"""The last list normalised (a copy of it) and the result: a batch passes the same
categories to every create, which are then checked once and held once."""


def normalize_categories(categories: Iterable[CategoryLike]) -> list[Category]:
    """Check ``categories`` and return them as :class:`Category` objects.

    The same categories as the last call's (equal, item by item) give the same
    list back, which the caller must not change.

    Raises :class:`UsageError` when there are none, a name is blank, two names are
    the same, or an item is not a category, a mapping or a string.
    """
    global _last_categories
    last = _last_categories
    if last is not None and type(categories) is list and categories == last[0]:
        return last[1]
    result = _normalize_categories(categories)
    if type(categories) is list and all(type(c) in (dict, str, Category) for c in categories):
        # A copy to compare with: the caller may change its list or dicts afterwards.
        snapshot = [dict(c) if type(c) is dict else c for c in categories]
        _last_categories = (snapshot, result)
    return result


def _normalize_categories(categories: Iterable[CategoryLike]) -> list[Category]:
    if isinstance(categories, (str, bytes, Mapping)):
        raise UsageError("categories must be a list of categories, not a single value")
    result: list[Category] = []
    seen: set[str] = set()
    for index, item in enumerate(categories):
        category = _to_category(item, index)
        if not category.name.strip():
            raise UsageError(f"category #{index} has a blank name")
        if category.name in seen:
            raise UsageError(f"category {category.name!r} is listed twice")
        seen.add(category.name)
        result.append(category)
    if not result:
        raise UsageError("categories must not be empty: give at least one category")
    return result


def _to_category(item: object, index: int) -> Category:
    if isinstance(item, Category):
        return item
    if isinstance(item, str):
        return Category(name=item.strip())
    if isinstance(item, Mapping):
        name = item.get("name")
        if not isinstance(name, str):
            raise UsageError(f"category #{index} needs a string 'name'")
        description = item.get("description", "")
        if not isinstance(description, str):
            raise UsageError(f"category {name!r}: description must be a string")
        unknown = set(item) - {"name", "description", "handle_key"}
        if unknown:
            raise UsageError(f"category {name!r} has unknown keys: {sorted(unknown)}")
        return Category(
            name=name.strip(), description=description, handle_key=item.get("handle_key")
        )
    raise UsageError(f"category #{index} is a {type(item).__name__}; use a Category, dict or str")
