"""File blueprints: the record, typed create options and the request body.

Contract section 3: ``POST /v1/files/blueprints`` takes the ``file_id`` of an
uploaded file and answers a :class:`FileBlueprint` whose ``output`` describes the
document (its pages and fields). Runs are read back with
``GET /v1/files/blueprints/{id}`` and cancelled with ``.../{id}/cancel``; they
cannot be listed or deleted, and have no ``model`` or ``usage``.
"""

from __future__ import annotations

import re
from typing import Any, Final, Literal, TypeAlias, get_args

import msgspec

from .._errors import UsageError
from .checks import check_flag, check_optional_str
from .common import FileRef, PrimitiveError, RunState, _Model, no_output_error, stored

__all__ = [
    "BLUEPRINT_MODES",
    "BlueprintMode",
    "FileBlueprint",
    "FileBlueprintOptions",
    "build_file_blueprint_body",
    "check_file_id",
]

BlueprintMode: TypeAlias = Literal["instant", "reasoning"]
"""The legacy ``mode`` of a blueprint request (analysis always runs a single pass)."""

BLUEPRINT_MODES: Final[tuple[str, ...]] = get_args(BlueprintMode)

_FILE_ID = re.compile(r"[A-Za-z0-9_.-]{1,255}")
_encode = msgspec.json.Encoder().encode


class _FileBlueprintFields(_Model, RunState, frozen=True, kw_only=True):
    id: str
    object: str = "file.blueprint"
    file: FileRef | None = None
    intent: str | None = None
    mode: str | None = None
    output: dict[str, Any] | None = None
    status: str = "pending"
    error: PrimitiveError | None = None
    created_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None


_file_blueprint_output = stored(_FileBlueprintFields, "output")


class FileBlueprint(_FileBlueprintFields, frozen=True, kw_only=True):
    """A file blueprint run and, once ``completed``, the blueprint of the document.

    ``output`` is ``None`` unless ``status == "completed"`` and the record was
    fetched with its output: the ``{}`` the server sends while the run is in
    flight, after a failure, or with ``include_output=false`` is never exposed as
    a result. ``started_at`` and ``completed_at`` are set once the run has
    started and ended.
    """

    @property  # type: ignore[misc]  # the field, normalised when read: see stored()
    def output(self) -> dict[str, Any] | None:
        """The blueprint, once completed (``None`` before, after a failure or cancel, and for
        the ``{}`` of a record fetched without it)."""
        value: dict[str, Any] | None = _file_blueprint_output.__get__(self)
        return value if self.status == "completed" and value else None

    def require_output(self) -> dict[str, Any]:
        """The blueprint of a completed run, typed without ``None``.

        Raises:
            RunFailed: the run ended ``failed`` (``.error`` is the server's error).
            RunCancelled: the run ended ``cancelled``.
            RunError: the run has not finished, or was fetched with ``include_output=False``.
        """
        if self.output is not None:
            return self.output
        raise no_output_error(self)


class FileBlueprintOptions(_Model, frozen=True, kw_only=True):
    """Everything a blueprint create takes besides the file id (contract section 3).

    Fields are checked when the options are made.

    Raises:
        UsageError: a field is of the wrong type, or ``mode`` is not a known mode.
    """

    intent: str | None = None
    mode: BlueprintMode | None = None
    background: bool = False

    def __post_init__(self) -> None:
        check_optional_str("intent", self.intent)
        if self.mode is not None and self.mode not in BLUEPRINT_MODES:
            raise UsageError(
                f"mode must be one of {', '.join(BLUEPRINT_MODES)} or None, not {self.mode!r}"
            )
        check_flag("background", self.background)


def check_file_id(file: object) -> str:
    """The id of ``file``: a file id string, or an object with one in ``file_id`` (what
    ``client.files.upload`` returns) or ``id`` (a file's record, a :class:`FileRef`).

    Raises:
        UsageError: not a string of letters, digits, ``_``, ``.`` and ``-`` (1-255).
    """
    file_id = file if isinstance(file, str) else getattr(file, "file_id", getattr(file, "id", None))
    if not isinstance(file_id, str) or not _FILE_ID.fullmatch(file_id):
        shown = file_id if isinstance(file_id, str) else type(file).__name__
        raise UsageError(
            f"file_id must be the id of an uploaded file (such as 'file_...'), not {shown!r}"
        )
    return file_id


def build_file_blueprint_body(options: FileBlueprintOptions, file_id: str) -> bytes:
    """The JSON body of ``POST /v1/files/blueprints``.

    ``file_id`` and ``background`` are always sent; ``intent`` and ``mode`` only when
    set. Raises :class:`UsageError` for a malformed file id.
    """
    body: dict[str, Any] = {"file_id": check_file_id(file_id)}
    if options.intent is not None:
        body["intent"] = options.intent
    if options.mode is not None:
        body["mode"] = options.mode
    body["background"] = options.background
    return _encode(body)
