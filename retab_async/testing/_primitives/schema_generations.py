"""Schema generation on the local server: validation and a schema inferred from the text.

``POST /v1/schemas/generate`` takes ``documents`` (at least one), ``model``,
``instructions`` and ``background``. The stand-in reads every document's text
(binary documents get the parser's stand-in text) and turns its ``key: value``
lines (see :mod:`.text_fields`) into properties: ``"Total: 30.50"`` becomes
``total: {"type": "number"}``. A key found in several documents with different
kinds is a ``number`` when they are all numeric, else a ``string``; a key missing
from some documents may be ``null``. Every property is required and no others
are allowed, so the schema also suits strict structured output (``strict: true``).
A document without such lines gives a schema with one ``text`` property.

Records have ``object: "schema"``, ``strict`` and the result in ``json_schema``
(``{}`` until completed); no ``file``, ``model``, ``usage``, list or delete.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._primitive import Issue, Outcome, ServerPrimitive
from .._validation import _check_document, _check_type, _issue
from .parses import document_text
from .text_fields import TextField, text_fields

__all__ = [
    "SCHEMA_GENERATIONS",
    "SchemaGenerationCreate",
    "generate_schema",
    "parse_schema_generation_create",
]

_CREATE_FIELDS = frozenset({"documents", "model", "instructions", "background"})
_JSON_TYPES = {"date": "string", "email": "string"}
_FORMATS = {"date": "date", "email": "email"}


@dataclass(frozen=True)
class ExampleDocument:
    """One decoded example document."""

    filename: str
    url: str
    mime_type: str
    content: bytes | None


@dataclass(frozen=True)
class SchemaGenerationCreate:
    """A valid schema generation body. ``filename``, ``url``, ``mime_type`` and
    ``content`` stand for all documents to the machinery: the first one's name,
    and every document's bytes (or URL) for the failure marker."""

    documents: tuple[ExampleDocument, ...]
    model: str
    instructions: str | None
    background: bool

    @property
    def filename(self) -> str:
        return self.documents[0].filename

    @property
    def url(self) -> str:
        return self.documents[0].url

    @property
    def mime_type(self) -> str:
        return self.documents[0].mime_type

    @property
    def content(self) -> bytes:
        return b"\n".join(d.content or d.url.encode() for d in self.documents)


def parse_schema_generation_create(body: Any) -> SchemaGenerationCreate | list[Issue]:
    """Validate a decoded ``POST /v1/schemas/generate`` body: the request, or the problems
    (answered ``422``)."""
    if not isinstance(body, dict):
        return [_issue("model_attributes_type", [], "Input should be a valid dictionary", body)]
    issues = [
        _issue("extra_forbidden", [key], "Extra inputs are not permitted", body[key])
        for key in body
        if key not in _CREATE_FIELDS
    ]
    documents = _check_documents(body.get("documents"), issues)
    model = _check_type(body, "model", str, "retab-small", issues)
    instructions = _check_type(body, "instructions", (str, type(None)), None, issues)
    background = _check_type(body, "background", bool, False, issues)
    if issues or not documents:
        return issues
    return SchemaGenerationCreate(
        documents=tuple(documents),
        model=model,
        instructions=instructions,
        background=background,
    )


def _check_documents(raw: Any, issues: list[Issue]) -> list[ExampleDocument]:
    if raw is None:
        issues.append(_issue("missing", ["documents"], "Field required"))
        return []
    if not isinstance(raw, list):
        issues.append(_issue("list_type", ["documents"], "Input should be a valid list", raw))
        return []
    if not raw:
        msg = "List should have at least 1 item after validation, not 0"
        issues.append(_issue("too_short", ["documents"], msg, raw))
        return []
    documents: list[ExampleDocument] = []
    for index, item in enumerate(raw):
        found: list[Issue] = []
        document = _check_document(item, found)
        for issue in found:  # ["body", "document", ...] -> ["body", "documents", index, ...]
            issue["loc"] = ["body", "documents", index, *issue["loc"][2:]]
        issues.extend(found)
        if document is not None:
            documents.append(ExampleDocument(*document))
    return documents


def generate_schema(texts: list[str], instructions: str | None = None) -> dict[str, Any]:
    """The JSON Schema inferred from the texts of the example documents (see the module
    docstring); the same texts give the same schema."""
    per_document = [_first_of_each(text_fields(text)) for text in texts]
    kinds: dict[str, list[str]] = {}
    for fields in per_document:
        for name, field in fields.items():
            kinds.setdefault(name, []).append(field.kind)
    if not kinds:
        properties: dict[str, Any] = {
            "text": {"type": "string", "description": "The document's text."}
        }
    else:
        properties = {
            name: _property(name, found, present=sum(name in f for f in per_document))
            for name, found in kinds.items()
        }
        for name, prop in properties.items():
            if sum(name in f for f in per_document) < len(per_document):
                prop["type"] = [prop["type"], "null"]
    schema: dict[str, Any] = {
        "type": "object",
        "title": "GeneratedSchema",
        "description": instructions or f"Fields found in {len(texts)} example document(s).",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    return schema


def _first_of_each(fields: list[TextField]) -> dict[str, TextField]:
    first: dict[str, TextField] = {}
    for field in fields:
        first.setdefault(field.name, field)
    return first


def _property(name: str, kinds: list[str], *, present: int) -> dict[str, Any]:
    unique = set(kinds)
    if len(unique) == 1:
        kind = kinds[0]
    elif unique <= {"integer", "number"}:
        kind = "number"
    else:
        kind = "string"
    prop: dict[str, Any] = {
        "type": _JSON_TYPES.get(kind, kind),
        "description": f"{name.replace('_', ' ').capitalize()}, seen in {present} document(s).",
    }
    if kind in _FORMATS:
        prop["format"] = _FORMATS[kind]
    return prop


def _compute(request: SchemaGenerationCreate) -> Outcome:
    texts = [
        document_text(d.content, filename=d.filename, mime_type=d.mime_type)
        for d in request.documents
    ]
    return Outcome(output=generate_schema(texts, request.instructions))


SCHEMA_GENERATIONS: ServerPrimitive[SchemaGenerationCreate] = ServerPrimitive(
    name="schemas",
    noun="Schema generation",
    id_prefix="schgen_",
    parse_create=parse_schema_generation_create,
    compute=_compute,
    record=lambda request: {"strict": True},
    placeholder={},
    empty_output={},
    has_consensus=False,
    has_list=False,
    has_delete=False,
    has_status_filter=False,
    collection="schemas/generate",
    result_field="json_schema",
    has_file=False,
    has_model=False,
    has_usage=False,
    object_name="schema",
)
"""Schema generation: contract section 3 (no list, no delete, no usage)."""
