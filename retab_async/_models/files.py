"""Stored files: the upload session, the file record, its download link, and what an
upload gives back (contract 2.8; field names as in the official models)."""

from __future__ import annotations

import msgspec

from .common import MIMEData, _Model

__all__ = ["File", "FileLink", "FileUpload", "UploadedFile"]


class FileUpload(_Model, frozen=True, kw_only=True, rename="camel"):
    """An upload session (``POST /v1/files/upload``): where to send the bytes, and how.

    The API names these fields in camelCase (``fileId``, ``uploadUrl``...).

    Attributes:
        file_id: the reserved file's id.
        upload_url: a short-lived signed URL, possibly on another host than the API.
        upload_method: the HTTP method for it (``PUT``).
        upload_headers: headers the signed URL requires.
        mime_data: the durable reference the file will have once completed.
        expires_at: when ``upload_url`` expires (ISO 8601).
    """

    file_id: str
    upload_url: str
    upload_method: str = "PUT"
    upload_headers: dict[str, str] = msgspec.field(default_factory=dict)
    mime_data: MIMEData | None = None
    expires_at: str | None = None

    def __repr__(self) -> str:
        # The upload URL is a credential of sorts (signed): not in logs.
        return f"FileUpload(file_id={self.file_id!r}, expires_at={self.expires_at!r})"


class File(_Model, frozen=True, kw_only=True):
    """A stored file (``GET /v1/files/{id}``)."""

    id: str
    filename: str
    object: str = "file"
    mime_type: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    page_count: int | None = None


class FileLink(_Model, frozen=True, kw_only=True):
    """A short-lived download link to a stored file (``GET /v1/files/{id}/download-link``).

    ``document`` is what to send as a document to name this file.
    """

    download_url: str
    expires_in: str = ""
    filename: str = ""
    mime_data: MIMEData | None = None

    @property
    def document(self) -> MIMEData:
        """The file as a document: ``mime_data`` when the server sent it, else the link."""
        return self.mime_data or MIMEData(filename=self.filename, url=self.download_url)


class UploadedFile(msgspec.Struct, frozen=True, kw_only=True):
    """A file uploaded with :meth:`Files.upload`, ready to be used as a document.

    Pass it (or its ``document``) as ``document=`` to any primitive, or its ``file_id``
    where an API takes a file id.

    Attributes:
        file_id: the stored file's id.
        filename: its name.
        size_bytes: how many bytes were uploaded.
        sha256: their SHA-256 checksum (hex), which the server checked.
        document: the :class:`MIMEData` the server returned on completion.
    """

    file_id: str
    filename: str
    size_bytes: int
    sha256: str
    document: MIMEData
