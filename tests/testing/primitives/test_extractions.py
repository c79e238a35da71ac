"""The local server's extractions: validation, the stand-in model, streams and sources."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from multidict import MultiDict

from retab_async._models.extractions import (
    STREAM_CONTENT_TYPES,
    Extraction,
    ExtractionPartial,
    iter_extraction_stream,
)
from retab_async.testing._primitives.extractions import (
    STREAM_CONTENT_TYPE,
    ExtractionCreate,
    extract,
    parse_extraction_create,
    parse_extraction_filters,
    partial_outputs,
    placeholder_output,
    sources_response,
    stream_conflict,
    stream_lines,
)
from retab_async.testing._validation import QueryError

TEXT = b"INVOICE\nInvoice number: INV-2041\nTotal due: 1,234.50 EUR\fPage two: Customer: Acme"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "invoice_number": {"type": "string"},
        "total_due": {"type": "number"},
        "customer": {"type": "string"},
        "lines": {
            "type": "array",
            "items": {"type": "object", "properties": {"sku": {"type": "string"}}},
        },
        "po_number": {"type": ["string", "null"]},
    },
    "required": ["invoice_number", "total_due"],
}


def _doc(
    filename: str = "invoice.txt", content: bytes = TEXT, mime: str = "text/plain"
) -> dict[str, str]:
    return {"filename": filename, "url": f"data:{mime};base64,{base64.b64encode(content).decode()}"}


def _request(**fields: Any) -> ExtractionCreate:
    body = {"document": _doc(), "json_schema": SCHEMA, **fields}
    request = parse_extraction_create(body)
    assert isinstance(request, ExtractionCreate), request
    return request


# -- validation ------------------------------------------------------------------------


def test_defaults() -> None:
    request = _request()
    assert request.model == "retab-small" and request.n_consensus == 1
    assert request.metadata is None and request.additional_messages is None
    assert not request.bust_cache and not request.background and not request.stream
    assert request.deep_extraction is None and request.json_schema == SCHEMA


def test_every_field() -> None:
    request = _request(
        model="retab-large",
        instructions="EUR",
        n_consensus=4,
        metadata={"customer": "acme"},
        additional_messages=[{"role": "user", "content": "hi"}],
        bust_cache=True,
        background=True,
        stream=False,
        deep_extraction=True,
        sources={"mode": "cited"},
    )
    assert request.n_consensus == 4 and request.metadata == {"customer": "acme"}
    assert request.additional_messages == [{"role": "user", "content": "hi"}]
    assert request.deep_extraction is True and request.instructions == "EUR"


def test_schema_behind_a_root_ref() -> None:
    schema = {"$ref": "#/$defs/Invoice", "$defs": {"Invoice": SCHEMA}}
    assert isinstance(
        parse_extraction_create({"document": _doc(), "json_schema": schema}), ExtractionCreate
    )


@pytest.mark.parametrize(
    ("fields", "loc", "kind"),
    [
        ({"json_schema": None}, ["body", "json_schema"], "missing"),
        ({"json_schema": [1]}, ["body", "json_schema"], "dict_type"),
        ({"json_schema": {"type": "string"}}, ["body", "json_schema"], "value_error"),
        ({"json_schema": {"$ref": "#/$defs/X"}}, ["body", "json_schema"], "value_error"),
        ({"n_consensus": 0}, ["body", "n_consensus"], "greater_than_equal"),
        ({"n_consensus": 17}, ["body", "n_consensus"], "less_than_equal"),
        ({"metadata": {"a": 1}}, ["body", "metadata", "a"], "string_type"),
        ({"metadata": "a=b"}, ["body", "metadata"], "dict_type"),
        ({"additional_messages": {"role": "user"}}, ["body", "additional_messages"], "list_type"),
        ({"additional_messages": ["hi"]}, ["body", "additional_messages", 0], "dict_type"),
        ({"stream": "yes"}, ["body", "stream"], "type_error"),
        ({"deep_extraction": "yes"}, ["body", "deep_extraction"], "bool_type"),
        ({"sources": {"mode": "all"}}, ["body", "sources", "mode"], "enum"),
        ({"categories": ["a"]}, ["body", "categories"], "extra_forbidden"),
        ({"document": {"filename": "a.txt"}}, ["body", "document", "url"], "missing"),
    ],
)
def test_invalid(fields: dict[str, Any], loc: list[Any], kind: str) -> None:
    body = {"document": _doc(), "json_schema": SCHEMA, **fields}
    if body["json_schema"] is None:
        del body["json_schema"]
    issues = parse_extraction_create(body)
    assert isinstance(issues, list) and {"loc": loc, "type": kind}.items() <= issues[0].items()


def test_stream_conflicts() -> None:
    assert stream_conflict(_request(), stream_route=True) is None
    assert stream_conflict(_request(background=True), stream_route=False) is None
    assert stream_conflict(_request(background=True), stream_route=True)
    assert stream_conflict(_request(background=True, stream=True), stream_route=False)
    assert stream_conflict(_request(stream=True), stream_route=False) is None


# -- the stand-in model -----------------------------------------------------------------


def test_single_vote() -> None:
    result = extract(_request())
    Draft202012Validator(SCHEMA).validate(result.output)
    assert result.output["invoice_number"] == "INV-2041" and result.output["total_due"] == 1234.5
    assert result.output["customer"] == "Acme" and result.output["po_number"] is None
    assert result.consensus is None and result.error is None
    assert extract(_request()) == result


def test_consensus_shape() -> None:
    result = extract(_request(n_consensus=3))
    assert result.consensus is not None
    choices, likelihoods = result.consensus["choices"], result.consensus["likelihoods"]
    assert len(choices) == 3 and set(likelihoods) == set(result.output)
    assert likelihoods["invoice_number"] == 1.0 and isinstance(likelihoods["lines"], list)
    assert all(0 < value <= 1 for value in (likelihoods["total_due"], likelihoods["customer"]))


def test_unfillable_schema_fails_the_run() -> None:
    schema = {"type": "object", "properties": {"x": {"$ref": "#/$defs/Nope"}}}
    result = extract(_request(json_schema=schema))
    assert result.output == {} and result.error is not None
    assert result.error["code"] == "SCHEMA_UNSATISFIABLE"


def test_html_document_is_read_as_text() -> None:
    html = b"<html><body><p>Invoice number: <b>INV-9</b></p></body></html>"
    request = parse_extraction_create(
        {"document": _doc("a.html", html, "text/html"), "json_schema": SCHEMA}
    )
    assert isinstance(request, ExtractionCreate)
    assert extract(request).output["invoice_number"] == "INV-9"


def test_binary_document_uses_its_description() -> None:
    request = parse_extraction_create(
        {"document": _doc("scan_INV-7.png", b"\x89PNG", "image/png"), "json_schema": SCHEMA}
    )
    assert isinstance(request, ExtractionCreate) and "scan_INV-7.png" in request.text
    Draft202012Validator(SCHEMA).validate(extract(request).output)


def test_placeholder_and_partials() -> None:
    assert placeholder_output() == {}
    output = extract(_request()).output
    partials = list(partial_outputs(output))
    assert partials[0] == {} and partials[1] == {"invoice_number": "INV-2041"}
    assert partials[-1] != output and len(partials) == 6
    assert list(partial_outputs({})) == []


# -- sources ----------------------------------------------------------------------------

FILE = {"id": "file_1", "filename": "invoice.txt", "mime_type": "text/plain"}


def test_sources_locate_values() -> None:
    request = _request()
    output = extract(request).output
    body = sources_response(extraction_id="extr_1", file=FILE, output=output, text=request.text)
    assert body["object"] == "extraction.sources" and body["extraction_id"] == "extr_1"
    assert body["document_type"] == "txt" and body["file"] == FILE and body["extraction"] == output
    number = body["sources"]["invoice_number"]
    assert number["value"] == "INV-2041"
    anchor = number["source"]["anchor"]
    assert request.text[anchor["char_start"] : anchor["char_end"]] == "INV-2041"
    assert (
        anchor["page"] == 1
        and anchor["line_start"] == 2
        and number["source"]["file_id"] == "file_1"
    )
    total = body["sources"]["total_due"]["source"]
    assert total["content"] == "1,234.50"
    customer = body["sources"]["customer"]["source"]
    assert customer["anchor"]["page"] == 2
    assert body["sources"]["po_number"] == {"value": None, "source": None}
    assert body["evidence"]["invoice_number"]["status"] == "matched"
    assert body["evidence"]["po_number"] == {
        "kind": "unavailable",
        "status": "missing",
        "sources": [],
    }
    evidence = body["evidence"]["invoice_number"]["sources"][0]
    assert evidence["qualification"] == "direct" and evidence["role"] == "answer"


def test_sources_of_nested_values() -> None:
    output = {"lines": [{"sku": "AB-1"}, {"sku": "zz"}], "meta": {}}
    body = sources_response(extraction_id="e", file=FILE, output=output, text="sku AB-1")
    assert body["sources"]["lines"][0]["sku"]["source"]["content"] == "AB-1"
    assert body["sources"]["lines"][1]["sku"]["source"] is None
    assert (
        set(body["evidence"]) == {"lines[0].sku", "lines[1].sku"} and body["sources"]["meta"] == {}
    )


@pytest.mark.parametrize(
    ("mime", "kind"),
    [
        ("application/pdf", "pdf"),
        ("image/png", "image"),
        ("text/csv", "csv"),
        ("text/html", "txt"),
        ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    ],
)
def test_document_types(mime: str, kind: str) -> None:
    body = sources_response(extraction_id="e", file={**FILE, "mime_type": mime}, output={}, text="")
    assert body["document_type"] == kind


# -- streams, read back by the client's reader ---------------------------------------------


def _final_record(**changes: Any) -> dict[str, Any]:
    request = _request(n_consensus=3)
    result = extract(request)
    record = {
        "id": "extr_1",
        "file": FILE,
        "model": request.model,
        "json_schema": request.json_schema,
        "n_consensus": 3,
        "instructions": None,
        "output": result.output,
        "status": "completed",
        "error": None,
        "consensus": result.consensus,
        "metadata": None,
        "usage": {"credits": 3.0},
        "created_at": "2026-12-01T00:00:00Z",
    }
    return {**record, **changes}


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1 << 20])
async def test_stream_read_back_by_the_client(chunk_size: int) -> None:
    final = _final_record()
    body = b"".join(stream_lines(final))
    events = [e async for e in iter_extraction_stream(_chunks(body, chunk_size))]
    *partials, last = events
    assert all(isinstance(e, ExtractionPartial) and e.status == "in_progress" for e in partials)
    assert [e.output for e in partials] == list(partial_outputs(final["output"]))
    assert all(e.consensus is None and e.usage is None for e in partials)
    assert isinstance(last, Extraction) and last.output == final["output"]
    assert (
        last.consensus is not None
        and last.consensus.likelihoods == final["consensus"]["likelihoods"]
    )
    assert STREAM_CONTENT_TYPE in STREAM_CONTENT_TYPES


async def test_failed_stream_is_one_line() -> None:
    error = {"code": "X", "message": "boom", "details": None}
    lines = list(
        stream_lines(_final_record(status="failed", output={}, error=error, consensus=None))
    )
    assert len(lines) == 1
    [last] = [e async for e in iter_extraction_stream(_chunks(b"".join(lines), 5))]
    assert isinstance(last, Extraction) and last.failed


# -- list filters ---------------------------------------------------------------------------


def _row(filename: str, metadata: dict[str, str] | None = None) -> dict[str, Any]:
    return {"id": "e", "file": {"id": "f", "filename": filename}, "metadata": metadata}


def test_list_filters_match_records() -> None:
    query = MultiDict(
        [
            ("filename_contains", "INV"),
            ("document_type", "pdf"),
            ("document_type", ".TXT"),
            ("metadata", '{"customer": "acme"}'),
        ]
    )
    filters = parse_extraction_filters(query)
    assert filters.document_types == {"pdf", "txt"}
    assert filters.matches(_row("march_invoice.PDF", {"customer": "acme", "env": "prod"}))
    assert not filters.matches(_row("march_invoice.png", {"customer": "acme"}))
    assert not filters.matches(_row("receipt.pdf", {"customer": "acme"}))
    assert not filters.matches(_row("invoice.pdf", {"customer": "other"}))
    assert not filters.matches(_row("invoice.pdf"))
    assert parse_extraction_filters(MultiDict()).matches(_row("anything.bin"))


def test_filename_regex_is_a_prefix_match() -> None:
    filters = parse_extraction_filters(MultiDict([("filename_regex", "Inv")]))
    assert filters.matches(_row("invoice.pdf")) and not filters.matches(_row("my_invoice.pdf"))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("filename_regex", "inv.*"),
        ("metadata", "customer=acme"),
        ("metadata", '{"a": 1}'),
        ("metadata", "[]"),
    ],
)
def test_bad_list_filters(key: str, value: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_extraction_filters(MultiDict([(key, value)]))
    assert info.value.status == 422 and info.value.issues[0]["loc"] == ["query", key]
