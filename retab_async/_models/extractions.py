"""Extractions: the record, its sources, typed create options, the request body and the stream.

Contract section 3 (with D15, D16): ``POST /v1/extractions`` takes a document
and a ``json_schema`` and answers an :class:`Extraction` whose ``output`` is an
object matching the schema; ``GET /v1/extractions/{id}/sources`` answers a
:class:`SourcesResponse`; ``POST /v1/extractions/stream`` takes the same body
with ``stream: true`` and answers one JSON event per line, read by
:func:`iter_extraction_stream`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Mapping
from contextlib import aclosing
from typing import Any, Final, TypeVar

import msgspec

from .._errors import DecodeError, UsageError
from .._status import TERMINAL_STATUSES
from .checks import check_flag, check_int, check_model, check_optional_str, document_dict
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
from .ndjson import MAX_LINE_BYTES, iter_ndjson
from .schemas import decode_output, describes_object

T = TypeVar("T")

__all__ = [
    "STREAM_CONTENT_TYPES",
    "Extraction",
    "ExtractionConsensus",
    "ExtractionOptions",
    "ExtractionPartial",
    "SourcesResponse",
    "build_extraction_body",
    "extraction_list_filters",
    "iter_extraction_stream",
]

STREAM_CONTENT_TYPES: Final = frozenset(
    {"application/x-ndjson", "application/json", "application/stream+json"}
)
"""Content types a stream answer may be labelled with (D16); all are read line by line."""

_encode = msgspec.json.Encoder().encode


class _ExtractionConsensusFields(_Model, frozen=True, kw_only=True):
    choices: list[dict[str, Any]] = msgspec.field(default_factory=list)
    likelihoods: dict[str, Any] | float | None = None
    likelihood: dict[str, Any] | float | None = None


_likelihoods = stored(_ExtractionConsensusFields, "likelihoods")


class ExtractionConsensus(_ExtractionConsensusFields, frozen=True, kw_only=True):
    """How the votes went when ``n_consensus > 1``.

    Attributes:
        choices: each vote's output object.
        likelihoods: a tree shaped like the output: at a scalar leaf, the share of
            votes that agree with the chosen value (0.0 to 1.0); at an array, one
            entry per item. ``likelihood`` is accepted as an alias, and a single
            number (an overall agreement, as classifications send) decodes too.
    """

    @property  # type: ignore[misc]  # the field, normalised when read: see stored()
    def likelihoods(self) -> dict[str, Any] | float | None:
        """The agreement tree (or number), from ``likelihoods`` or its alias ``likelihood``."""
        value: dict[str, Any] | float | None = _likelihoods.__get__(self)
        return self.likelihood if value is None else value


class _ExtractionFields(_Model, RunState, frozen=True, kw_only=True):
    id: str
    file: FileRef | None = None
    model: str = ""
    json_schema: dict[str, Any] | None = None
    n_consensus: int = 1
    instructions: str | None = None
    output: dict[str, Any] | None = None
    status: str = "pending"
    error: PrimitiveError | None = None
    consensus: ExtractionConsensus | None = None
    metadata: dict[str, str] | None = None
    usage: RetabUsage | None = None
    created_at: str | None = None


_extraction_output = stored(_ExtractionFields, "output")


class Extraction(_ExtractionFields, frozen=True, kw_only=True):
    """An extraction run and, once ``completed``, the object it extracted.

    ``output`` is ``None`` unless ``status == "completed"``: the ``{}`` placeholder
    the server sends while a run is in flight, after a failure, or with
    ``include_output=false`` is never exposed as a result. Decode it into your own
    type with :func:`~retab_async._models.schemas.decode_output`.
    """

    @property  # type: ignore[misc]  # the field, normalised when read: see stored()
    def output(self) -> dict[str, Any] | None:
        """The extracted object, once completed (``None`` before, and after a failure or
        cancel)."""
        if self.status != "completed":
            return None
        value: dict[str, Any] | None = _extraction_output.__get__(self)
        return value

    def require_output(self) -> dict[str, Any]:
        """The extracted object of a completed run, typed without ``None``.

        Raises:
            RunFailed: the run ended ``failed`` (``.error`` is the server's error).
            RunCancelled: the run ended ``cancelled``.
            RunError: the run has not finished, or was fetched with ``include_output=False``.
        """
        if self.output is not None:
            return self.output
        raise no_output_error(self)

    def output_as(self, into: type[T]) -> T:
        """The extracted object converted into ``into`` (a ``msgspec.Struct``, a
        dataclass, a ``TypedDict``...), checked strictly.

        Raises what :meth:`require_output` raises, and
        :class:`OutputValidationError` (naming the field) when it does not fit.
        """
        return decode_output(self.require_output(), into)


class ExtractionPartial(_ExtractionFields, frozen=True, kw_only=True):
    """One streamed event before the final record: the extraction so far.

    ``output`` holds the fields extracted up to now (it grows event by event);
    ``status`` is not terminal.
    """


class SourcesResponse(_Model, frozen=True, kw_only=True):
    """Where each extracted value was found (``GET /v1/extractions/{id}/sources``).

    Attributes:
        extraction_id: the extraction's id.
        document_type: the detected type of the source file (``pdf``, ``image``,
            ``csv``, ``xlsx``, ``docx``, ``txt``...).
        file: the source file.
        extraction: the extraction's output.
        sources: a tree shaped like ``extraction`` whose leaves are
            ``{"value": ..., "source": {...} | None}``.
        evidence: per-field evidence, keyed by field path, as the server gives it.
        job: the server's sources job, if it reports one.
    """

    extraction_id: str
    document_type: str = ""
    file: FileRef | None = None
    extraction: dict[str, Any] = msgspec.field(default_factory=dict)
    sources: dict[str, Any] = msgspec.field(default_factory=dict)
    evidence: dict[str, Any] | None = None
    job: dict[str, Any] | None = None
    object: str = "extraction.sources"


class ExtractionOptions(_Model, frozen=True, kw_only=True):
    """Everything an extraction create takes besides the document (contract section 3).

    ``json_schema`` is a schema dict describing an object, as returned by
    :func:`~retab_async._models.schemas.load_json_schema`. Fields are
    checked when the options are made.

    Raises:
        UsageError: a field is out of range or of the wrong type.
    """

    json_schema: dict[str, Any]
    model: str = "retab-small"
    instructions: str | None = None
    n_consensus: int = 1
    metadata: dict[str, str] | None = None
    additional_messages: list[dict[str, Any]] | None = None
    bust_cache: bool = False
    background: bool = False
    deep_extraction: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.json_schema, dict) or not describes_object(self.json_schema):
            raise UsageError('json_schema must be a dict describing an object ("type": "object")')
        check_model(self.model)
        check_optional_str("instructions", self.instructions)
        check_int("n_consensus", self.n_consensus, 1, 16)
        for name in ("bust_cache", "background", "deep_extraction"):
            check_flag(name, getattr(self, name))
        _check_metadata(self.metadata)
        _check_messages(self.additional_messages)


def _check_metadata(metadata: object) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, Mapping):
        raise UsageError(f"metadata must be a dict of strings, not {type(metadata).__name__}")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise UsageError(f"metadata must map strings to strings; got {key!r}: {value!r}")


def _check_messages(messages: object) -> None:
    if messages is None:
        return
    if not isinstance(messages, list):
        raise UsageError(f"additional_messages must be a list, not {type(messages).__name__}")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            found = type(message).__name__
            raise UsageError(f"additional_messages[{index}] must be a dict, not {found}")


def build_extraction_body(
    options: ExtractionOptions, document: MIMEData | Mapping[str, Any], *, stream: bool = False
) -> bytes:
    """The JSON body of ``POST /v1/extractions`` (or of ``/stream`` with ``stream=True``).

    ``model``, ``n_consensus``, ``bust_cache``, ``background`` and ``stream`` are
    always sent, as the official client does; ``instructions``, ``metadata`` and
    ``additional_messages`` only when set; ``deep_extraction`` only when true.

    Raises:
        UsageError: ``stream`` with ``background`` (the API refuses the pair), or a
            document without ``filename`` and ``url``.
    """
    if stream and options.background:
        raise UsageError("an extraction cannot both stream and run in the background")
    body: dict[str, Any] = {
        "document": document_dict(document),
        "json_schema": options.json_schema,
        "model": options.model,
        "n_consensus": options.n_consensus,
        "bust_cache": options.bust_cache,
        "background": options.background,
        "stream": stream,
    }
    if options.instructions is not None:
        body["instructions"] = options.instructions
    if options.metadata is not None:
        body["metadata"] = options.metadata
    if options.additional_messages is not None:
        body["additional_messages"] = options.additional_messages
    if options.deep_extraction:
        body["deep_extraction"] = True
    return _encode(body)


def extraction_list_filters(
    *,
    filename_contains: str | None = None,
    document_type: str | Iterable[str] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> list[tuple[str, str]]:
    """The query parameters of the list filters only extractions have (contract section 3).

    ``document_type`` is repeated once per type (``"pdf"``, ``".PDF"`` and ``"PDF"``
    all mean ``pdf``); ``metadata`` goes as one JSON-encoded object. The
    deprecated ``filename_regex`` is not offered: ``filename`` is the same prefix
    match. Returned as pairs, since a key may repeat.

    Raises:
        UsageError: a blank or non-string filter, or metadata that is not a mapping
            of strings to strings.
    """
    params: list[tuple[str, str]] = []
    if filename_contains is not None:
        if not isinstance(filename_contains, str) or not filename_contains:
            raise UsageError("filename_contains must be a non-empty string")
        params.append(("filename_contains", filename_contains))
    for kind in _document_types(document_type):
        params.append(("document_type", kind))
    if metadata is not None:
        _check_metadata(metadata)
        params.append(("metadata", _encode(dict(metadata)).decode()))
    return params


def _document_types(document_type: str | Iterable[str] | None) -> list[str]:
    if document_type is None:
        return []
    kinds = [document_type] if isinstance(document_type, str) else list(document_type)
    result = []
    for kind in kinds:
        if not isinstance(kind, str) or not kind.strip(". "):
            raise UsageError(f"document_type must be a file type such as 'pdf', not {kind!r}")
        result.append(kind.strip(". ").lower())
    return result


_event_decoder = msgspec.json.Decoder(ExtractionPartial)


async def iter_extraction_stream(
    chunks: AsyncIterable[bytes], *, max_line_bytes: int = MAX_LINE_BYTES
) -> AsyncGenerator[ExtractionPartial | Extraction, None]:
    """Yield the events of an extraction stream: partials, then the final :class:`Extraction`.

    Every line is an extraction record; lines whose status is not terminal come out
    as :class:`ExtractionPartial`, and the first line with a terminal status as the
    final :class:`Extraction` (``completed``, or ``failed`` with its ``error``),
    after which nothing more is read.

    Raises:
        DecodeError: a line is not an extraction record (see :func:`iter_ndjson`),
            or the stream ended before a final record (``malformed``: the
            connection may have been cut).
        StreamLineTooLong: a line is longer than ``max_line_bytes``.
    """
    events = iter_ndjson(chunks, _event_decoder, max_line_bytes=max_line_bytes)
    async with aclosing(events):
        async for event in events:
            if event.status in TERMINAL_STATUSES:
                yield Extraction(**msgspec.structs.asdict(event))
                return
            yield event
    raise DecodeError("the extraction stream ended before its final record", malformed=True)
