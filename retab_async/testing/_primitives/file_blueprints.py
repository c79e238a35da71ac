"""File blueprints on the local server: validation and a blueprint read from the file's text.

``POST /v1/files/blueprints`` takes the ``file_id`` of an uploaded file (see the
upload flow), ``intent``, the legacy ``mode`` (``instant`` or ``reasoning``) and
``background``. A file id the server does not hold (or whose upload is not
completed) is a ``404``, shape B. The stand-in reads the file's text (binary
files get the parser's stand-in text) and describes it: its pages (form-feed
separated, D19), and on each page the ``key: value`` fields it finds (see
:mod:`.text_fields`), with their kind and an example value.

Records have ``object: "file.blueprint"``, the file's reference, ``intent``,
``mode``, ``started_at`` and ``completed_at``; ``output`` is ``{}`` until
completed. No ``model``, ``usage``, list or delete.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from .._files import StoredFile, lookup_file
from .._primitive import Issue, Outcome, Refusal, ServerPrimitive
from .._validation import _check_type, _issue
from .parses import document_text
from .text_fields import text_fields

__all__ = ["FILE_BLUEPRINTS", "FileBlueprintCreate", "blueprint", "parse_file_blueprint_create"]

_CREATE_FIELDS = frozenset({"file_id", "intent", "mode", "background"})
_MODES = ("instant", "reasoning")
_FILE_ID = re.compile(r"[A-Za-z0-9_.-]{1,255}")


@dataclass(frozen=True)
class FileBlueprintCreate:
    """A valid blueprint body, with the uploaded file it names (``None``: not held)."""

    file_id: str
    intent: str | None
    mode: str | None
    background: bool
    stored: StoredFile | None

    @property
    def filename(self) -> str:
        return self.stored.filename if self.stored is not None else ""

    @property
    def url(self) -> str:
        return self.stored.storage_url if self.stored is not None else ""

    @property
    def mime_type(self) -> str:
        return self.stored.mime_type if self.stored is not None else "application/octet-stream"

    @functools.cached_property
    def content(self) -> bytes | None:
        """The file's bytes, read once."""
        return self.stored.read() if self.stored is not None else None

    @property
    def model(self) -> str:
        return ""


def parse_file_blueprint_create(body: Any) -> FileBlueprintCreate | list[Issue]:
    """Validate a decoded ``POST /v1/files/blueprints`` body: the request, or the problems
    (answered ``422``). The file is looked up on the server answering the request."""
    if not isinstance(body, dict):
        return [_issue("model_attributes_type", [], "Input should be a valid dictionary", body)]
    issues = [
        _issue("extra_forbidden", [key], "Extra inputs are not permitted", body[key])
        for key in body
        if key not in _CREATE_FIELDS
    ]
    file_id = body.get("file_id")
    if file_id is None:
        issues.append(_issue("missing", ["file_id"], "Field required"))
    elif not isinstance(file_id, str) or not _FILE_ID.fullmatch(file_id):
        issues.append(_issue("string_type", ["file_id"], "Input should be a file id", file_id))
    intent = _check_type(body, "intent", (str, type(None)), None, issues)
    mode = body.get("mode")
    if mode is not None and mode not in _MODES:
        issues.append(_issue("enum", ["mode"], "Input should be 'instant' or 'reasoning'", mode))
    background = _check_type(body, "background", bool, False, issues)
    if issues or not isinstance(file_id, str):
        return issues
    return FileBlueprintCreate(
        file_id=file_id,
        intent=intent,
        mode=mode,
        background=background,
        stored=lookup_file(file_id),
    )


def _check(request: FileBlueprintCreate) -> Refusal | None:
    if request.stored is None:
        return Refusal(404, "NOT_FOUND", f"File {request.file_id} not found")
    return None


def blueprint(text: str, *, filename: str, mime_type: str, intent: str | None) -> dict[str, Any]:
    """The blueprint of a document whose text is ``text`` (pages separated by form feeds);
    the same inputs give the same blueprint."""
    pages = text.split("\f")
    fields = text_fields(text)
    return {
        "filename": filename,
        "mime_type": mime_type,
        "intent": intent,
        "page_count": len(pages),
        "pages": [
            {
                "page": number,
                "characters": len(page),
                "fields": [f.name for f in fields if f.page == number],
            }
            for number, page in enumerate(pages, start=1)
        ],
        "fields": [
            {"name": f.name, "label": f.key, "kind": f.kind, "page": f.page, "example": f.value}
            for f in fields
        ],
    }


def _compute(request: FileBlueprintCreate) -> Outcome:
    stored = request.stored
    if stored is None:  # refused before: check_create answers 404
        return Outcome(output={})
    text = document_text(request.content, filename=stored.filename, mime_type=stored.mime_type)
    output = blueprint(
        text, filename=stored.filename, mime_type=stored.mime_type, intent=request.intent
    )
    return Outcome(output=output)


def _file_of(request: FileBlueprintCreate) -> dict[str, str]:
    stored = request.stored
    assert stored is not None  # refused before: check_create answers 404
    return stored.ref()


FILE_BLUEPRINTS: ServerPrimitive[FileBlueprintCreate] = ServerPrimitive(
    name="file_blueprints",
    noun="File blueprint",
    id_prefix="fbp_",
    parse_create=parse_file_blueprint_create,
    compute=_compute,
    record=lambda request: {"intent": request.intent, "mode": request.mode},
    placeholder={},
    empty_output={},
    check_create=_check,
    has_consensus=False,
    has_list=False,
    has_delete=False,
    has_status_filter=False,
    collection="files/blueprints",
    has_model=False,
    has_usage=False,
    object_name="file.blueprint",
    has_timestamps=True,
    file_of=_file_of,
)
"""File blueprints: contract section 3 (no list, no delete, no model, no usage)."""
