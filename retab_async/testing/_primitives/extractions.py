"""Extractions on the local server: validation, the stand-in model, streams and sources.

The stand-in reads the document as the parser does (text, Markdown, HTML and
CSV for real; a description of binary documents, plus their filename) and
fills the request's ``json_schema`` from it (:mod:`.schema_fill`). With
``n_consensus > 1`` it votes with different seeds and answers the consensus
``{choices, likelihoods}`` of contract section 3. Streams replay the output
leaf by leaf (D16); sources locate each extracted value in the text.

Besides the generic routes, :data:`EXTRACTIONS` has ``POST /v1/extractions/stream``
(NDJSON, one partial record per line with ``ServerConfig.stream_delay`` between
lines, the final record last; ``background`` refused with ``400``) and
``GET /v1/extractions/{id}/sources``. Records echo ``json_schema``,
``n_consensus``, ``instructions`` and ``metadata``; ``output`` is ``{}`` until
completed (D15).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from .._primitive import ExtraRoute, Issue, Outcome, RecordFilter, ServerPrimitive
from .._responses import error_b, json_response
from .._routes import RunRoutes
from .._validation import (
    QueryError,
    _check_document,
    _check_int,
    _check_type,
    _issue,
    _query_issue,
)
from .parses import document_text
from .schema_fill import UnfillableSchema, consensus, iter_partials

__all__ = [
    "EXTRACTIONS",
    "ExtractionCreate",
    "ExtractionFilters",
    "STREAM_CONTENT_TYPE",
    "ExtractionResult",
    "extract",
    "parse_extraction_create",
    "parse_extraction_filters",
    "partial_outputs",
    "placeholder_output",
    "sources_response",
    "stream_conflict",
    "stream_lines",
]

_CREATE_FIELDS = frozenset(
    {
        "document",
        "json_schema",
        "model",
        "instructions",
        "n_consensus",
        "metadata",
        "additional_messages",
        "bust_cache",
        "stream",
        "background",
        "deep_extraction",
        "sources",  # newer official clients may send it; accepted, has no effect here
    }
)
_SOURCE_MODES = ("located", "cited")
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class ExtractionCreate:
    """A valid extraction create body, with the document decoded."""

    filename: str
    url: str
    mime_type: str
    content: bytes | None
    json_schema: dict[str, Any]
    model: str
    instructions: str | None
    n_consensus: int
    metadata: dict[str, str] | None
    additional_messages: list[dict[str, Any]] | None
    bust_cache: bool
    background: bool
    stream: bool
    deep_extraction: bool | None

    @functools.cached_property
    def text(self) -> str:
        """The text the stand-in model reads: the parsed document, or what is known of it."""
        return document_text(self.content, filename=self.filename, mime_type=self.mime_type)


def parse_extraction_create(body: Any) -> ExtractionCreate | list[Issue]:
    """Validate a decoded ``POST /v1/extractions`` (or ``/stream``) body: an
    :class:`ExtractionCreate`, or the problems in the shape of the other create
    routes (answered ``422``). See :func:`stream_conflict` for the one ``400``."""
    if not isinstance(body, dict):
        return [_issue("model_attributes_type", [], "Input should be a valid dictionary", body)]
    issues = [
        _issue("extra_forbidden", [key], "Extra inputs are not permitted", body[key])
        for key in body
        if key not in _CREATE_FIELDS
    ]
    document = _check_document(body.get("document"), issues)
    schema = _check_schema(body.get("json_schema"), issues)
    model = _check_type(body, "model", str, "retab-small", issues)
    instructions = _check_type(body, "instructions", (str, type(None)), None, issues)
    n_consensus = _check_int(body, "n_consensus", 1, 1, 16, issues)
    metadata = _check_metadata(body.get("metadata"), issues)
    messages = _check_messages(body.get("additional_messages"), issues)
    bust_cache = _check_type(body, "bust_cache", bool, False, issues)
    background = _check_type(body, "background", bool, False, issues)
    stream = _check_type(body, "stream", bool, False, issues)
    deep = _check_optional_bool(body, "deep_extraction", issues)
    _check_sources(body.get("sources"), issues)
    if issues or document is None or schema is None:
        return issues
    return ExtractionCreate(
        filename=document[0],
        url=document[1],
        mime_type=document[2],
        content=document[3],
        json_schema=schema,
        model=model,
        instructions=instructions,
        n_consensus=n_consensus,
        metadata=metadata,
        additional_messages=messages,
        bust_cache=bust_cache,
        background=background,
        stream=stream,
        deep_extraction=deep,
    )


def stream_conflict(request: ExtractionCreate, *, stream_route: bool) -> str | None:
    """The message of the ``400`` for streaming in the background (D16), or ``None``.

    The stream route streams whatever its ``stream`` flag says; on either route,
    streaming together with ``background: true`` is refused.
    """
    if request.background and (stream_route or request.stream):
        return "stream and background cannot be combined"
    return None


def _check_schema(raw: Any, issues: list[Issue]) -> dict[str, Any] | None:
    if raw is None:
        issues.append(_issue("missing", ["json_schema"], "Field required"))
        return None
    if not isinstance(raw, dict):
        issues.append(
            _issue("dict_type", ["json_schema"], "Input should be a valid dictionary", raw)
        )
        return None
    root = raw
    ref = raw.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = raw.get("$defs", {}).get(ref[len("#/$defs/") :])
        root = target if isinstance(target, dict) else {}
    if root.get("type") != "object" and not isinstance(root.get("properties"), dict):
        msg = 'json_schema must describe an object ("type": "object")'
        issues.append(_issue("value_error", ["json_schema"], msg, raw.get("type")))
        return None
    return raw


def _check_metadata(raw: Any, issues: list[Issue]) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        issues.append(_issue("dict_type", ["metadata"], "Input should be a valid dictionary", raw))
        return None
    for key, value in raw.items():
        if not isinstance(value, str):
            msg = "Input should be a valid string"
            issues.append(_issue("string_type", ["metadata", key], msg, value))
    return dict(raw)


def _check_messages(raw: Any, issues: list[Issue]) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        issues.append(
            _issue("list_type", ["additional_messages"], "Input should be a valid list", raw)
        )
        return None
    for index, message in enumerate(raw):
        if not isinstance(message, dict):
            msg = "Input should be a valid dictionary"
            issues.append(_issue("dict_type", ["additional_messages", index], msg, message))
    return list(raw)


def _check_optional_bool(body: dict[str, Any], key: str, issues: list[Issue]) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        issues.append(_issue("bool_type", [key], "Input should be a valid boolean", value))
        return None
    return value


def _check_sources(raw: Any, issues: list[Issue]) -> None:
    if raw is None:
        return
    mode = raw.get("mode") if isinstance(raw, dict) else None
    if mode not in _SOURCE_MODES:
        msg = "Input should be 'located' or 'cited'"
        issues.append(_issue("enum", ["sources", "mode"], msg, mode))


def placeholder_output() -> dict[str, Any]:
    """The ``output`` of an extraction that has none (in flight, failed, cancelled, light; D15)."""
    return {}


@dataclass(frozen=True)
class ExtractionResult:
    """What the stand-in model answers.

    Attributes:
        output: the extracted object (``{}`` when ``error`` is set).
        consensus: the record's ``consensus`` (``None`` for a single vote).
        error: a ``PrimitiveError`` body when the schema cannot be filled.
    """

    output: dict[str, Any]
    consensus: dict[str, Any] | None
    error: dict[str, Any] | None = None


def extract(request: ExtractionCreate) -> ExtractionResult:
    """Run the stand-in model on ``request``; deterministic."""
    try:
        result = consensus(request.json_schema, request.text, request.n_consensus)
    except UnfillableSchema as exc:
        error = {"code": "SCHEMA_UNSATISFIABLE", "message": str(exc), "details": None}
        return ExtractionResult(output={}, consensus=None, error=error)
    output = result.output if isinstance(result.output, dict) else {}
    if request.n_consensus <= 1:
        return ExtractionResult(output=output, consensus=None)
    return ExtractionResult(
        output=output,
        consensus={"choices": result.choices, "likelihoods": result.likelihoods},
    )


def partial_outputs(output: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The outputs a stream sends before its final record: ``{}``, then one more leaf
    each time, up to (not including) the complete ``output``."""
    partials = list(iter_partials(dict(output)))
    yield from partials[:-1]


STREAM_CONTENT_TYPE = "application/x-ndjson"
"""How the stream route labels its answer (D16)."""


def stream_lines(final_record: Mapping[str, Any]) -> Iterator[bytes]:
    """The NDJSON lines of ``POST /v1/extractions/stream`` for a run ending as ``final_record``.

    Each line before the last is the record ``in_progress`` with the output so far
    (and no consensus or usage yet); the last line is ``final_record`` itself. A
    record that did not complete (``failed``) is sent alone. The route writes the
    lines with its configured delay between them.
    """
    if final_record.get("status") == "completed":
        output = final_record.get("output") or {}
        for partial in partial_outputs(output):
            event = {**final_record, "status": "in_progress", "output": partial}
            yield _encode({**event, "consensus": None, "usage": None}) + b"\n"
    yield _encode(dict(final_record)) + b"\n"


_REGEX_CHARACTERS = frozenset("*+?[](){}|\\^$")


@dataclass(frozen=True)
class ExtractionFilters:
    """The list filters only extractions have (contract section 3)."""

    filename_contains: str | None = None
    filename_prefix: str | None = None
    document_types: frozenset[str] = frozenset()
    metadata: Mapping[str, str] | None = None

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Whether a stored extraction record passes every filter (names case-insensitively)."""
        file = record.get("file") or {}
        filename = str(file.get("filename", "")).lower()
        if self.filename_contains and self.filename_contains.lower() not in filename:
            return False
        if self.filename_prefix and not filename.startswith(self.filename_prefix.lower()):
            return False
        if self.document_types and filename.rpartition(".")[2] not in self.document_types:
            return False
        stored = record.get("metadata") or {}
        return all(stored.get(key) == value for key, value in (self.metadata or {}).items())


def parse_extraction_filters(query: Any) -> ExtractionFilters:
    """Read the extraction-only list filters from a query (an aiohttp ``MultiDict``:
    ``document_type`` repeats). ``filename_regex`` is the deprecated prefix match and
    refuses regular expressions.

    Raises :class:`QueryError` (``422``) for a regex or metadata that is not a JSON
    object of strings.
    """
    issues: list[Issue] = []
    prefix = query.get("filename_regex") or None
    if prefix is not None and _REGEX_CHARACTERS & set(prefix):
        msg = "filename_regex no longer accepts regular expressions; it is a prefix match"
        issues.append(_query_issue("filename_regex", msg, prefix))
    kinds = frozenset(k.strip(". ").lower() for k in query.getall("document_type", []) if k)
    metadata = _query_metadata(query.get("metadata"), issues)
    if issues:
        raise QueryError(422, issues)
    return ExtractionFilters(
        filename_contains=query.get("filename_contains") or None,
        filename_prefix=prefix,
        document_types=kinds,
        metadata=metadata,
    )


def _query_metadata(raw: str | None, issues: list[Issue]) -> dict[str, str] | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        msg = "metadata must be a JSON object of string values"
        issues.append(_query_issue("metadata", msg, raw))
        return None
    return value


_DOCUMENT_TYPES = (
    ("application/pdf", "pdf"),
    ("image/", "image"),
    ("text/csv", "csv"),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml", "xlsx"),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml", "docx"),
)


def sources_response(
    *,
    extraction_id: str,
    file: Mapping[str, Any],
    output: Mapping[str, Any],
    text: str,
) -> dict[str, Any]:
    """The body of ``GET /v1/extractions/{id}/sources``: the output again, with every
    leaf as ``{value, source}`` (``source`` locates the value in ``text``, or is
    ``None``), and per-field ``evidence`` keyed by path."""
    evidence: dict[str, Any] = {}
    locator = _Locator(text, str(file.get("id", "")))
    sources = locator.annotate(output, "", evidence)
    return {
        "object": "extraction.sources",
        "extraction_id": extraction_id,
        "document_type": _document_type(str(file.get("mime_type", ""))),
        "file": dict(file),
        "extraction": dict(output),
        "sources": sources,
        "evidence": evidence,
    }


def _document_type(mime_type: str) -> str:
    for prefix, name in _DOCUMENT_TYPES:
        if mime_type.startswith(prefix):
            return name
    return "txt"


class _Locator:
    def __init__(self, text: str, file_id: str) -> None:
        self.text = text
        self.lower = text.lower()
        self.file_id = file_id

    def annotate(self, value: Any, path: str, evidence: dict[str, Any]) -> Any:
        if isinstance(value, dict):
            return {
                k: self.annotate(v, f"{path}.{k}" if path else k, evidence)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.annotate(v, f"{path}[{i}]", evidence) for i, v in enumerate(value)]
        source = self.locate(value)
        evidence[path] = {
            "kind": "direct" if source else "unavailable",
            "status": "matched" if source else "missing",
            "sources": [{**source, "qualification": "direct", "role": "answer"}] if source else [],
        }
        return {"value": value, "source": source}

    def locate(self, value: Any) -> dict[str, Any] | None:
        if value is None or isinstance(value, bool):
            return None
        for needle in _spellings(value):
            start = self.lower.find(needle.lower())
            if start >= 0 and needle:
                return self.source(start, start + len(needle))
        return None

    def source(self, start: int, end: int) -> dict[str, Any]:
        before = self.text[:start]
        line = before.count("\n") + 1
        anchor = {
            "kind": "text_span",
            "char_start": start,
            "char_end": end,
            "page": before.count("\f") + 1,
            "line_start": line,
            "line_end": line + self.text[start:end].count("\n"),
        }
        return {"file_id": self.file_id, "content": self.text[start:end], "anchor": anchor}


def _spellings(value: Any) -> list[str]:
    if isinstance(value, float) and value.is_integer():
        return [str(int(value)), f"{value:,.2f}", str(value)]
    if isinstance(value, float):
        return [str(value), f"{value:,.2f}", f"{value:.2f}"]
    if isinstance(value, int):
        return [str(value), f"{value:,}"]
    return [str(value)]


# -- the description -----------------------------------------------------------------


def _compute(request: ExtractionCreate) -> Outcome:
    result = extract(request)
    return Outcome(
        output=result.output,
        consensus=result.consensus,
        error=result.error,
        credits=float(request.n_consensus),
        kept=request.text,  # what /sources locates values in
    )


def _record(request: ExtractionCreate) -> dict[str, Any]:
    return {
        "json_schema": request.json_schema,
        "n_consensus": request.n_consensus,
        "instructions": request.instructions,
        "metadata": request.metadata,
    }


def _list_filters(query: Any) -> RecordFilter | None:
    filters = parse_extraction_filters(query)
    if filters == _NO_FILTERS:
        return None
    return filters.matches


_NO_FILTERS = ExtractionFilters()


async def _stream(request: web.Request, routes: RunRoutes) -> web.StreamResponse:
    """``POST /v1/extractions/stream``: the run, streamed as NDJSON once it has finished."""
    parsed = await routes.parse(request)
    if isinstance(parsed, web.Response):
        return parsed
    assert isinstance(parsed.request, ExtractionCreate)
    refused = stream_conflict(parsed.request, stream_route=True)
    if refused is not None:
        return error_b(400, "INVALID_REQUEST", refused)
    started = routes.start_parsed(request, parsed)
    if isinstance(started, web.Response):
        return started
    run, _ = started
    await routes.until_terminal(run)
    return await routes.stream(
        request, stream_lines(run.to_dict()), content_type=STREAM_CONTENT_TYPE
    )


async def _sources(request: web.Request, routes: RunRoutes) -> web.StreamResponse:
    """``GET /v1/extractions/{id}/sources``: ``409`` until the run has completed."""
    run = routes.lookup(request)
    if isinstance(run, web.Response):
        return run
    if run.status != "completed":
        message = f"Extraction {run.id} is {run.status}; sources exist once it has completed"
        return error_b(409, "EXTRACTION_NOT_COMPLETED", message)
    body = sources_response(
        extraction_id=run.id, file=run.file, output=run.outcome.output, text=run.outcome.kept
    )
    return json_response(_encode(body))


EXTRACTIONS: ServerPrimitive[ExtractionCreate] = ServerPrimitive(
    name="extractions",
    noun="Extraction",
    id_prefix="extr_",
    parse_create=parse_extraction_create,
    check_create=lambda request: stream_conflict(request, stream_route=False),
    compute=_compute,
    record=_record,
    placeholder=placeholder_output(),
    empty_output=placeholder_output(),
    list_filters=_list_filters,
    extra_routes=(
        ExtraRoute(method="POST", path="/stream", operation="stream", handler=_stream),
        ExtraRoute(method="GET", path="/{id}/sources", operation="sources", handler=_sources),
    ),
)
"""Extractions: contract sections 3 and 5.2, D15 and D16."""
