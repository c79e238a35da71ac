"""Edits: the record, typed create options and the request body.

Contract section 3: ``POST /v1/edits`` fills the form fields of a document (a PDF,
DOCX, XLSX or PPTX) or of a stored edit template, following ``instructions``, and
answers an :class:`Edit` whose ``output`` is ``{form_data, filled_document}``: the
fields found, each with its position and filled value, and a PDF with the values
written in. Exactly one of ``document`` and ``template_id`` is sent; both or
neither is refused here, before sending, as the API would answer ``400``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any, Final

import msgspec

from .._errors import DocumentError, UsageError
from .checks import check_flag, check_model, document_dict
from .common import (
    FileRef,
    MIMEData,
    PrimitiveError,
    RetabUsage,
    RunState,
    _Model,
    no_output_error,
    stored,
)

__all__ = [
    "DEFAULT_EDIT_COLOR",
    "BBox",
    "Edit",
    "EditConfig",
    "EditOptions",
    "EditResult",
    "FormField",
    "build_edit_body",
    "check_color",
    "check_edit_input",
    "data_uri_bytes",
]

DEFAULT_EDIT_COLOR: Final = "#000080"
"""The colour filled values are written in unless ``color`` says otherwise (navy)."""

_COLOR = re.compile(r"#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})")
_TEMPLATE_ID = re.compile(r"[A-Za-z0-9_.-]{1,255}")  # goes into a query and a path segment
_encode = msgspec.json.Encoder().encode


class BBox(_Model, frozen=True, kw_only=True):
    """Where a form field sits: fractions of the page's width and height (0.0-1.0),
    from its top-left corner, on ``page`` (1-based)."""

    left: float
    top: float
    width: float
    height: float
    page: int = 1


class FormField(_Model, frozen=True, kw_only=True):
    """One form field of the document and the value it was filled with.

    ``type`` is ``"text"`` or ``"checkbox"`` (a plain string, so that new types
    decode); ``value`` is ``None`` when the field was left empty.
    """

    key: str
    description: str = ""
    type: str = "text"
    bbox: BBox | None = None
    value: str | None = None


class EditConfig(_Model, frozen=True, kw_only=True):
    """How filled values are rendered: ``color``, a hex code such as ``"#000080"``."""

    color: str | None = DEFAULT_EDIT_COLOR


class EditResult(_Model, frozen=True, kw_only=True):
    """What an edit produced: the filled fields and the PDF with their values written in."""

    form_data: list[FormField] = msgspec.field(default_factory=list)
    filled_document: MIMEData | None = None

    def filled_document_bytes(self) -> bytes:
        """The filled PDF's bytes, decoded from its ``data:`` URI.

        Raises:
            DocumentError: there is no filled document, it is at an ``https://`` URL
                rather than inline, or its data URI is malformed.
        """
        if self.filled_document is None:
            raise DocumentError("the edit has no filled document")
        return data_uri_bytes(self.filled_document.url)

    def values(self) -> dict[str, str | None]:
        """The filled values by field key, in the order of ``form_data``."""
        return {field.key: field.value for field in self.form_data}


class _EditFields(_Model, RunState, frozen=True, kw_only=True):
    id: str
    file: FileRef | None = None
    model: str = ""
    instructions: str | None = None
    config: EditConfig = EditConfig()
    template_id: str | None = None
    output: EditResult | None = None
    status: str = "pending"
    error: PrimitiveError | None = None
    filled_document_ref: FileRef | None = None
    usage: RetabUsage | None = None
    created_at: str | None = None


_edit_output = stored(_EditFields, "output")


class Edit(_EditFields, frozen=True, kw_only=True):
    """An edit run and, once ``completed``, its filled fields and document.

    ``output`` is ``None`` unless ``status == "completed"``: the empty value the
    server sends while a run is in flight, after a failure, or with
    ``include_output=false`` is never exposed as a result. ``template_id`` is set
    when the edit filled a stored template rather than a document;
    ``filled_document_ref`` is the stored filled document, when the API keeps one.
    """

    @property  # type: ignore[misc]  # the field, normalised when read: see stored()
    def output(self) -> EditResult | None:
        """The filled fields and document, once completed (``None`` before, and after a
        failure or cancel)."""
        if self.status != "completed":
            return None
        value: EditResult | None = _edit_output.__get__(self)
        return value

    def require_output(self) -> EditResult:
        """The fields and filled document of a completed edit, typed without ``None``.

        Raises:
            RunFailed: the run ended ``failed`` (``.error`` is the server's error).
            RunCancelled: the run ended ``cancelled``.
            RunError: the run has not finished, or was fetched with ``include_output=False``.
        """
        if self.output is not None:
            return self.output
        raise no_output_error(self)

    @property
    def form_data(self) -> list[FormField] | None:
        """The filled form fields, once completed."""
        return self.output.form_data if self.output is not None else None

    @property
    def filled_document(self) -> MIMEData | None:
        """The filled PDF, once completed (``client.edits.save_filled_document`` writes it)."""
        return self.output.filled_document if self.output is not None else None


def data_uri_bytes(url: str) -> bytes:
    """The bytes of an RFC 2397 ``data:...;base64,...`` URI.

    Raises :class:`DocumentError` for another kind of URL or malformed base64.
    """
    head, sep, payload = url.partition(",")
    if not url.startswith("data:") or not sep or not head.endswith(";base64"):
        shown = url if len(url) <= 80 else url[:77] + "..."
        raise DocumentError(
            f"the filled document is not inline data but {shown!r}; download it from there"
        )
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DocumentError(f"the filled document's data URI is not valid base64: {exc}") from None


def check_color(color: object) -> str:
    """A hex colour code, ``#RGB`` or ``#RRGGBB``. Raises :class:`UsageError`."""
    if not isinstance(color, str) or not _COLOR.fullmatch(color):
        raise UsageError(f"color must be a hex code such as '#000080', not {color!r}")
    return color


class EditOptions(_Model, frozen=True, kw_only=True):
    """Everything an edit create takes besides the document (contract section 3).

    ``template_id`` fills a stored template instead of a document: a create takes
    exactly one of the two. Fields are checked when the options are made.

    Raises:
        UsageError: a field is out of range or of the wrong type.
    """

    instructions: str
    template_id: str | None = None
    model: str = "retab-small"
    color: str = DEFAULT_EDIT_COLOR
    bust_cache: bool = False
    background: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.instructions, str) or not self.instructions.strip():
            raise UsageError(
                "instructions must be a non-empty string saying how to fill the fields"
            )
        if self.template_id is not None and (
            not isinstance(self.template_id, str) or not _TEMPLATE_ID.fullmatch(self.template_id)
        ):
            raise UsageError(
                "template_id must be a template's id: 1-255 letters, digits, '_', '.' or '-' "
                f"(such as 'edtpl_...'), not {self.template_id!r}"
            )
        check_model(self.model)
        check_color(self.color)
        check_flag("bust_cache", self.bust_cache)
        check_flag("background", self.background)


def check_edit_input(*, has_document: bool, template_id: str | None) -> None:
    """An edit fills a document or a stored template: exactly one of the two.

    Raises :class:`UsageError` for both or neither (the API answers ``400`` to either).
    """
    if has_document and template_id is not None:
        raise UsageError("an edit takes a document or a template_id, not both: pass one of them")
    if not has_document and template_id is None:
        raise UsageError(
            "an edit needs a document or a template_id: pass one of them (neither was given)"
        )


def build_edit_body(options: EditOptions, document: MIMEData | Mapping[str, Any] | None) -> bytes:
    """The JSON body of ``POST /v1/edits``.

    ``instructions``, ``model``, ``config``, ``bust_cache`` and ``background`` are
    always sent, with exactly one of ``document`` and ``template_id``.

    Raises:
        UsageError: both a document and ``options.template_id``, or neither (the API
            answers ``400`` to either); a document without ``filename`` and ``url``.
    """
    check_edit_input(has_document=document is not None, template_id=options.template_id)
    body: dict[str, Any] = {"instructions": options.instructions}
    if document is not None:
        body["document"] = document_dict(document)
    else:
        body["template_id"] = options.template_id
    body["model"] = options.model
    body["config"] = {"color": options.color}
    body["bust_cache"] = options.bust_cache
    body["background"] = options.background
    return _encode(body)
