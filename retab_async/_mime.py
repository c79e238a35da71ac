"""File extensions the API accepts, and their MIME types (contract 2.8)."""

from __future__ import annotations

import posixpath
from typing import Final

__all__ = ["MIME_TYPES", "TEXT_MIME_PREFIXES", "is_text_mime", "mime_type_for"]

MIME_TYPES: Final[dict[str, str]] = {
    "pdf": "application/pdf",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "webp": "image/webp",
    "heic": "image/heic",
    "heif": "image/heif",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "txt": "text/plain",
    "text": "text/plain",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "md": "text/markdown",
    "markdown": "text/markdown",
    "json": "application/json",
    "xml": "application/xml",
    "yaml": "application/yaml",
    "yml": "application/yaml",
    "html": "text/html",
    "htm": "text/html",
    "mhtml": "multipart/related",
    "eml": "message/rfc822",
    "msg": "application/vnd.ms-outlook",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "m4a": "audio/mp4",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
}

TEXT_MIME_PREFIXES: Final = ("text/", "application/json", "application/xml", "application/yaml")


def mime_type_for(filename: str) -> str | None:
    """The MIME type for ``filename``'s extension, or ``None`` when it is not accepted."""
    ext = posixpath.splitext(filename)[1].lower().lstrip(".")
    return MIME_TYPES.get(ext)


def is_text_mime(mime_type: str) -> bool:
    """Whether content of this type can be read as text."""
    return mime_type.startswith(TEXT_MIME_PREFIXES)
