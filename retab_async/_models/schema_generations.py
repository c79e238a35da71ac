"""Schema generations: the record, typed create options and the request body.

Contract section 3: ``POST /v1/schemas/generate`` takes example ``documents``
(several per run) and answers a :class:`SchemaGeneration` whose result is
``json_schema``, a JSON Schema inferred from them; the record has no ``output``,
no ``usage`` and no ``file``. Runs are read back with
``GET /v1/schemas/generate/{id}`` and cancelled with ``.../{id}/cancel``; they
cannot be listed or deleted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from .._errors import UsageError
from .checks import check_flag, check_model, check_optional_str, document_dict
from .common import MIMEData, PrimitiveError, RunState, _Model, no_output_error, stored

__all__ = [
    "SchemaGeneration",
    "SchemaGenerationOptions",
    "build_schema_generation_body",
]

_encode = msgspec.json.Encoder().encode


class _SchemaGenerationFields(_Model, RunState, frozen=True, kw_only=True):
    id: str
    object: str = "schema"
    json_schema: dict[str, Any] | None = None
    strict: bool = True
    status: str = "pending"
    error: PrimitiveError | None = None
    created_at: str | None = None


_schema_generation_json_schema = stored(_SchemaGenerationFields, "json_schema")


class SchemaGeneration(_SchemaGenerationFields, frozen=True, kw_only=True):
    """A schema generation run and, once ``completed``, the JSON Schema it inferred.

    ``json_schema`` is ``None`` unless ``status == "completed"`` and the record was
    fetched with its result: the ``{}`` the server sends while the run is in flight,
    after a failure, or with ``include_output=false`` is never exposed as a result
    (a generated schema is never empty). ``strict`` says whether the schema is meant
    for strict structured output.
    """

    @property  # type: ignore[misc]  # the field, normalised when read: see stored()
    def json_schema(self) -> dict[str, Any] | None:
        """The generated JSON Schema, once completed (``None`` before, after a failure or
        cancel, and for the ``{}`` of a record fetched without it)."""
        value: dict[str, Any] | None = _schema_generation_json_schema.__get__(self)
        return value if self.status == "completed" and value else None

    def require_output(self) -> dict[str, Any]:
        """The generated JSON Schema of a completed run, typed without ``None``.

        Raises:
            RunFailed: the run ended ``failed`` (``.error`` is the server's error).
            RunCancelled: the run ended ``cancelled``.
            RunError: the run has not finished, or was fetched with ``include_output=False``.
        """
        if self.json_schema is not None:
            return self.json_schema
        raise no_output_error(self)


class SchemaGenerationOptions(_Model, frozen=True, kw_only=True):
    """Everything a schema generation takes besides the documents (contract section 3).

    Fields are checked when the options are made.

    Raises:
        UsageError: a field is of the wrong type.
    """

    model: str = "retab-small"
    instructions: str | None = None
    background: bool = False

    def __post_init__(self) -> None:
        check_model(self.model)
        check_optional_str("instructions", self.instructions)
        check_flag("background", self.background)


def build_schema_generation_body(
    options: SchemaGenerationOptions, documents: Sequence[MIMEData | Mapping[str, Any]]
) -> bytes:
    """The JSON body of ``POST /v1/schemas/generate``.

    ``documents``, ``model`` and ``background`` are always sent; ``instructions``
    only when set.

    Raises:
        UsageError: no documents, or a document without ``filename`` and ``url``.
    """
    if not documents:
        raise UsageError("documents must hold at least one document to generate a schema from")
    body: dict[str, Any] = {
        "documents": [document_dict(document) for document in documents],
        "model": options.model,
        "background": options.background,
    }
    if options.instructions is not None:
        body["instructions"] = options.instructions
    return _encode(body)
