"""``client.files``: upload local files of any size, and list, get and link stored files.

Primitives upload a local document on their own when it is too large to send
inline; ``upload()`` does it by hand (for a file id, or to send one file to many runs).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from .._errors import UsageError
from .._http.upload import complete_upload, create_upload, upload_path
from .._models.common import MIMEData, Page
from .._models.files import File, FileLink, FileUpload, UploadedFile
from .._runs.primitive import check_id, decode_with
from .base import DEFAULT_PAGE_SIZE, DateLike, Order, Paginator, Query, _date

if TYPE_CHECKING:
    from .._http.pipeline import Pipeline
    from .._http.transport import Response

__all__ = ["Files"]

_file_decoder = msgspec.json.Decoder(File)
_link_decoder = msgspec.json.Decoder(FileLink)
_page_decoder = msgspec.json.Decoder(Page[File])


def _decode_file(response: Response) -> File:
    result: File = decode_with(_file_decoder, response, "File")
    return result


def _decode_link(response: Response) -> FileLink:
    result: FileLink = decode_with(_link_decoder, response, "FileLink")
    return result


def _decode_page(response: Response) -> Page[File]:
    result: Page[File] = decode_with(_page_decoder, response, "list page")
    return result


class Files:
    """Stored files. Reached as ``client.files``."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    def __repr__(self) -> str:
        return f"<Files of {self._pipeline.base_url}>"

    async def upload(
        self,
        path: str | os.PathLike[str],
        *,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> UploadedFile:
        """Upload the file at ``path``, of any size, streamed from disk.

        Reserves the file, sends its bytes to the signed upload URL (re-sent from the
        start if an attempt fails), and completes the upload, which the server checks
        against the size and SHA-256 read first. The result can be passed as
        ``document=`` to any primitive; ``result.file_id`` names the stored file.
        Uploading the same content again within a day may return the same file.

        Raises:
            DocumentError: the file is missing, unreadable or empty.
            UploadExpired: the upload session expired (``410``).
            UploadMismatch: the server found another size or checksum (``422``).
            FileChangedError: the file changed while it was uploaded.
            RetabError: what any request raises (after retries).
        """
        if filename is not None and (not filename.strip() or "/" in filename):
            raise UsageError(f"filename {filename!r} must be a plain file name")
        return await upload_path(
            self._pipeline, Path(os.fspath(path)), filename=filename, content_type=content_type
        )

    async def create_upload(
        self,
        filename: str,
        size_bytes: int,
        *,
        content_type: str | None = None,
        sha256: str | None = None,
    ) -> FileUpload:
        """Reserve a file (``POST /v1/files/upload``): where and how to send its bytes.

        The low-level first step of :meth:`upload`. Raises :class:`UsageError` for a
        blank filename or a negative size, and what any request raises.
        """
        if not filename.strip():
            raise UsageError("filename must not be blank")
        if size_bytes < 0:
            raise UsageError("size_bytes must be >= 0")
        return await create_upload(
            self._pipeline, filename, size_bytes, content_type=content_type, sha256=sha256
        )

    async def complete_upload(self, file_id: str, *, sha256: str | None = None) -> MIMEData:
        """Finish an upload whose bytes were sent: the file as a document.

        Raises :class:`UploadExpired` (``410``), :class:`UploadMismatch` (``422``),
        :class:`NotFoundError` for an unknown session, and what any request raises.
        """
        check_id(file_id, "file id")
        return await complete_upload(self._pipeline, file_id, sha256=sha256)

    async def get(self, file_id: str) -> File:
        """The stored file ``file_id``. Raises :class:`NotFoundError` for an unknown id."""
        path = f"/v1/files/{check_id(file_id, 'file id')}"
        return await self._pipeline.request("GET", path, _decode_file)

    async def get_download_link(self, file_id: str) -> FileLink:
        """A short-lived link to download ``file_id``; its ``document`` names the file as a
        document. Raises :class:`NotFoundError` for an unknown id."""
        path = f"/v1/files/{check_id(file_id, 'file id')}/download-link"
        return await self._pipeline.request("GET", path, _decode_link)

    def list(
        self,
        *,
        filename: str | None = None,
        mime_type: str | None = None,
        from_date: DateLike | None = None,
        to_date: DateLike | None = None,
        order: Order = "desc",
        limit: int | None = None,
    ) -> Paginator[File]:
        """Stored files: ``await`` it for the first page, iterate it for all.

        ``filename`` is a case-insensitive prefix; ``limit`` the page size (1-100,
        default 100). Arguments are checked now: :class:`UsageError` for a bad order,
        limit or date.
        """
        query = _query(filename, mime_type, from_date, to_date, order, limit)

        async def fetch(after: str | None) -> Page[File]:
            params = query if after is None else [*query, ("after", check_id(after))]
            return await self._pipeline.request("GET", "/v1/files", _decode_page, params=params)

        return Paginator(fetch)

    async def list_page(
        self,
        *,
        limit: int = 10,
        after: str | None = None,
        before: str | None = None,
        filename: str | None = None,
        mime_type: str | None = None,
        from_date: DateLike | None = None,
        to_date: DateLike | None = None,
        order: Order = "desc",
    ) -> Page[File]:
        """One page of stored files with its cursors (``page.list_metadata``).

        Raises :class:`UsageError` for bad arguments (``after`` with ``before`` too).
        """
        if after is not None and before is not None:
            raise UsageError("pass either after= or before=, not both")
        query = _query(filename, mime_type, from_date, to_date, order, limit)
        for name, cursor in (("after", after), ("before", before)):
            if cursor is not None:
                query.append((name, check_id(cursor)))
        return await self._pipeline.request("GET", "/v1/files", _decode_page, params=query)


def _query(
    filename: str | None,
    mime_type: str | None,
    from_date: Any,
    to_date: Any,
    order: str,
    limit: int | None,
) -> Query:
    if order not in ("asc", "desc"):
        raise UsageError(f"order must be 'asc' or 'desc', not {order!r}")
    size = DEFAULT_PAGE_SIZE if limit is None else limit
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 100:
        raise UsageError(f"limit must be an integer from 1 to 100, not {limit!r}")
    query: Query = [("limit", str(size)), ("order", order)]
    for name, value in (("filename", filename), ("mime_type", mime_type)):
        if value is not None:
            query.append((name, value))
    for name, date in (("from_date", from_date), ("to_date", to_date)):
        if date is not None:
            query.append((name, _date(name, date)))
    return query
