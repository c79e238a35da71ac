"""Schema generation records, create options and request bodies."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from retab_async import MIMEData, RunCancelled, RunError, RunFailed, UsageError
from retab_async._models.schema_generations import (
    SchemaGeneration,
    SchemaGenerationOptions,
    build_schema_generation_body,
)
from retab_async._runs.primitive import PRIMITIVES, SCHEMA_GENERATIONS

DOC = MIMEData(filename="a.txt", url="data:text/plain;base64,eA==")
decode = msgspec.json.Decoder(SchemaGeneration).decode


def test_completed_record() -> None:
    record = decode(
        b'{"object": "schema", "id": "schgen_1", "strict": false, "status": "completed",'
        b' "json_schema": {"type": "object", "properties": {}}, "error": null,'
        b' "created_at": "2026-08-03T14:21:07Z", "updated_at": "x"}'
    )
    assert record.done and record.strict is False and record.object == "schema"
    assert record.require_output() == {"type": "object", "properties": {}}
    assert SCHEMA_GENERATIONS.has_result(record)


@pytest.mark.parametrize("schema", [b'"json_schema": {},', b'"json_schema": null,', b""])
@pytest.mark.parametrize("status", ["queued", "in_progress", "completed", "failed", "cancelled"])
def test_an_empty_schema_is_never_a_result(schema: bytes, status: str) -> None:
    record = decode(b'{"id": "s", ' + schema + b' "status": "' + status.encode() + b'"}')
    assert record.json_schema is None and not SCHEMA_GENERATIONS.has_result(record)


@pytest.mark.parametrize(
    ("status", "error"),
    [("failed", RunFailed), ("cancelled", RunCancelled), ("in_progress", RunError)],
)
def test_require_output_says_why_there_is_none(status: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        SchemaGeneration(id="s", status=status).require_output()


def test_unknown_status_decodes() -> None:
    record = decode(b'{"id": "s", "status": "thinking", "json_schema": {"type": "object"}}')
    assert record.status == "thinking" and not record.done and record.json_schema is None


def test_body_carries_every_document_in_order() -> None:
    other = {"filename": "b.txt", "url": "https://example.test/b.txt"}
    body: dict[str, Any] = msgspec.json.decode(
        build_schema_generation_body(SchemaGenerationOptions(), [DOC, other])
    )
    assert body == {
        "documents": [{"filename": "a.txt", "url": DOC.url}, other],
        "model": "retab-small",
        "background": False,
    }
    options = SchemaGenerationOptions(model="retab-large", instructions="Invoices", background=True)
    body = msgspec.json.decode(build_schema_generation_body(options, [DOC]))
    assert body["instructions"] == "Invoices" and body["background"] is True


def test_body_refuses_no_documents_and_bad_ones() -> None:
    with pytest.raises(UsageError, match="at least one"):
        build_schema_generation_body(SchemaGenerationOptions(), [])
    with pytest.raises(UsageError, match="filename"):
        build_schema_generation_body(SchemaGenerationOptions(), [{"url": "https://x.test/a"}])


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"model": ""}, "model"),
        ({"instructions": 3}, "instructions"),
        ({"background": "yes"}, "background"),
    ],
)
def test_options_are_checked(options: dict[str, Any], match: str) -> None:
    with pytest.raises(UsageError, match=match):
        SchemaGenerationOptions(**options)


def test_the_description_names_its_differences() -> None:
    assert SCHEMA_GENERATIONS.path == "/v1/schemas/generate"
    assert SCHEMA_GENERATIONS.cancel_path("schgen_1") == "/v1/schemas/generate/schgen_1/cancel"
    assert SCHEMA_GENERATIONS.result_field == "json_schema"
    assert not SCHEMA_GENERATIONS.listable and not SCHEMA_GENERATIONS.deletable
    assert not SCHEMA_GENERATIONS.list_rounds
    assert PRIMITIVES["schemas"] is SCHEMA_GENERATIONS
