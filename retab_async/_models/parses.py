"""Parses: the record, typed create options and the request body.

Contract section 3: ``POST /v1/parses`` takes a document and answers a
:class:`Parse` whose ``output`` is ``{pages, text}``: the text of each page, in
order, and of the whole document. Tables are rendered in the requested
``table_parsing_format``. Parses have no ``n_consensus``, no consensus and no
``status`` list filter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal, TypeAlias, get_args

import msgspec

from .._errors import UsageError
from .checks import check_flag, check_model, check_optional_str, document_dict
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
    "TABLE_PARSING_FORMATS",
    "Parse",
    "ParseOptions",
    "ParseOutput",
    "TableParsingFormat",
    "build_parse_body",
]

TableParsingFormat: TypeAlias = Literal["markdown", "yaml", "html", "json"]
"""How tables in a parsed document are written out."""

TABLE_PARSING_FORMATS: Final[tuple[str, ...]] = get_args(TableParsingFormat)

_encode = msgspec.json.Encoder().encode


class ParseOutput(_Model, frozen=True, kw_only=True):
    """What a parse found: the text of each page (page 1 first) and of the whole document."""

    pages: list[str] = msgspec.field(default_factory=list)
    text: str = ""


class _ParseFields(_Model, RunState, frozen=True, kw_only=True):
    id: str
    file: FileRef | None = None
    model: str = ""
    table_parsing_format: str = "html"
    instructions: str | None = None
    output: ParseOutput | None = None
    status: str = "pending"
    error: PrimitiveError | None = None
    usage: RetabUsage | None = None
    created_at: str | None = None


_parse_output = stored(_ParseFields, "output")


class Parse(_ParseFields, frozen=True, kw_only=True):
    """A parse run and, once ``completed``, the document's text.

    ``output`` is ``None`` unless ``status == "completed"``: the
    ``{"pages": [], "text": ""}`` placeholder the server sends while a run is in
    flight, after a failure, or with ``include_output=false`` is never exposed as a
    result. ``table_parsing_format`` is a plain string so that new formats decode.
    """

    @property  # type: ignore[misc]  # the field, normalised when read: see stored()
    def output(self) -> ParseOutput | None:
        """The pages and text, once completed (``None`` before, and after a failure or
        cancel)."""
        if self.status != "completed":
            return None
        value: ParseOutput | None = _parse_output.__get__(self)
        return value

    def require_output(self) -> ParseOutput:
        """The pages and text of a completed parse, typed without ``None``.

        Raises:
            RunFailed: the run ended ``failed`` (``.error`` is the server's error).
            RunCancelled: the run ended ``cancelled``.
            RunError: the run has not finished, or was fetched with ``include_output=False``.
        """
        if self.output is not None:
            return self.output
        raise no_output_error(self)

    @property
    def text(self) -> str | None:
        """The whole document's text, once completed."""
        return self.output.text if self.output is not None else None

    @property
    def pages(self) -> list[str] | None:
        """The text of each page, once completed."""
        return self.output.pages if self.output is not None else None


class ParseOptions(_Model, frozen=True, kw_only=True):
    """Everything a parse create takes besides the document (contract section 3).

    Fields are checked when the options are made.

    Raises:
        UsageError: a field is out of range or of the wrong type.
    """

    model: str = "retab-small"
    table_parsing_format: TableParsingFormat = "html"
    instructions: str | None = None
    bust_cache: bool = False
    background: bool = False

    def __post_init__(self) -> None:
        check_model(self.model)
        if self.table_parsing_format not in TABLE_PARSING_FORMATS:
            raise UsageError(
                f"table_parsing_format must be one of {', '.join(TABLE_PARSING_FORMATS)}, "
                f"not {self.table_parsing_format!r}"
            )
        check_optional_str("instructions", self.instructions)
        check_flag("bust_cache", self.bust_cache)
        check_flag("background", self.background)


def build_parse_body(options: ParseOptions, document: MIMEData | Mapping[str, Any]) -> bytes:
    """The JSON body of ``POST /v1/parses``.

    ``model``, ``table_parsing_format``, ``bust_cache`` and ``background`` are always
    sent; ``instructions`` only when set.

    Raises:
        UsageError: a document without ``filename`` and ``url``.
    """
    body: dict[str, Any] = {
        "document": document_dict(document),
        "model": options.model,
        "table_parsing_format": options.table_parsing_format,
        "bust_cache": options.bust_cache,
        "background": options.background,
    }
    if options.instructions is not None:
        body["instructions"] = options.instructions
    return _encode(body)
