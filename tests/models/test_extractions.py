"""Extraction records, sources, create options, request bodies and the event stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from retab_async import DecodeError, MIMEData, UsageError
from retab_async._models.extractions import (
    STREAM_CONTENT_TYPES,
    Extraction,
    ExtractionOptions,
    ExtractionPartial,
    SourcesResponse,
    build_extraction_body,
    extraction_list_filters,
    iter_extraction_stream,
)
from retab_async._models.ndjson import StreamLineTooLong

SCHEMA = {
    "type": "object",
    "properties": {"number": {"type": "string"}, "total": {"type": "number"}},
    "required": ["number", "total"],
}
DOC = MIMEData(filename="invoice.txt", url="data:text/plain;base64,SU5WT0lDRQ==")

COMPLETED = b"""{
  "id": "extr_01", "file": {"id": "file_1", "filename": "invoice.txt", "mime_type": "text/plain"},
  "model": "retab-small", "json_schema": {"type": "object"}, "n_consensus": 3,
  "instructions": null, "output": {"number": "INV-1", "total": 42.5},
  "status": "completed", "error": null,
  "consensus": {"choices": [{"number": "INV-1", "total": 42.5}, {"number": "INV-1", "total": 40}],
                "likelihoods": {"number": 1.0, "total": 0.5}},
  "metadata": {"batch": "7"}, "usage": {"credits": 3.0},
  "created_at": "2026-08-03T14:21:07.512Z", "updated_at": "2026-08-03T14:21:09Z", "new": 1
}"""

decode = msgspec.json.Decoder(Extraction).decode


def test_completed_record() -> None:
    record = decode(COMPLETED)
    assert record.done and not record.failed and record.output == {"number": "INV-1", "total": 42.5}
    assert record.consensus is not None and record.consensus.likelihoods == {
        "number": 1.0,
        "total": 0.5,
    }
    assert record.consensus.choices[1]["total"] == 40
    assert record.metadata == {"batch": "7"} and record.usage is not None


@pytest.mark.parametrize("output", [b'"output": {},', b'"output": null,', b""])
@pytest.mark.parametrize("status", ["queued", "in_progress", "failed", "cancelled"])
def test_placeholder_output_is_never_a_result(output: bytes, status: str) -> None:
    record = decode(b'{"id": "e1", ' + output + b' "status": "' + status.encode() + b'"}')
    assert record.output is None


def test_light_record_of_a_completed_run() -> None:
    record = decode(b'{"id": "e1", "status": "completed", "output": {}, "consensus": null}')
    assert record.done and record.output == {}


def test_minimal_and_unknown_status() -> None:
    record = decode(b'{"id": "e1", "status": "paused"}')
    assert record.status == "paused" and not record.done and record.json_schema is None


def test_likelihood_alias() -> None:
    record = decode(b'{"id": "e1", "status": "completed", "consensus": {"likelihood": {"a": 1}}}')
    assert record.consensus is not None and record.consensus.likelihoods == {"a": 1}


def test_likelihoods_as_a_single_number() -> None:
    record = decode(b'{"id": "e1", "status": "completed", "consensus": {"likelihoods": 0.5}}')
    assert record.consensus is not None and record.consensus.likelihoods == 0.5


def test_failed_record() -> None:
    record = decode(
        b'{"id": "e1", "status": "failed", "output": {}, '
        b'"error": {"code": "DOCUMENT_UNREADABLE", "message": "no", "details": null}}'
    )
    assert record.failed and record.error is not None and record.error.code == "DOCUMENT_UNREADABLE"


def test_sources_response() -> None:
    body = b"""{"object": "extraction.sources", "extraction_id": "extr_01", "document_type": "txt",
      "file": {"id": "file_1", "filename": "a.txt", "mime_type": "text/plain"},
      "extraction": {"number": "INV-1"},
      "sources": {"number": {"value": "INV-1", "source": {"file_id": "file_1", "content": "INV-1",
                  "anchor": {"kind": "text_span", "char_start": 8, "char_end": 13}}}},
      "evidence": {}, "future": true}"""
    sources = msgspec.json.decode(body, type=SourcesResponse)
    assert sources.extraction_id == "extr_01" and sources.document_type == "txt"
    assert sources.sources["number"]["source"]["anchor"]["char_start"] == 8
    assert msgspec.json.decode(b'{"extraction_id": "x"}', type=SourcesResponse).sources == {}


def _body(options: ExtractionOptions, **kw: Any) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.json.decode(build_extraction_body(options, DOC, **kw))
    return result


def test_minimal_body() -> None:
    assert _body(ExtractionOptions(json_schema=SCHEMA)) == {
        "document": {"filename": "invoice.txt", "url": DOC.url},
        "json_schema": SCHEMA,
        "model": "retab-small",
        "n_consensus": 1,
        "bust_cache": False,
        "background": False,
        "stream": False,
    }


def test_full_body() -> None:
    options = ExtractionOptions(
        json_schema=SCHEMA,
        model="retab-large",
        instructions="Amounts in EUR.",
        n_consensus=5,
        metadata={"customer": "acme"},
        additional_messages=[{"role": "user", "content": "Be careful."}],
        bust_cache=True,
        background=True,
        deep_extraction=True,
    )
    body = _body(options)
    assert body["model"] == "retab-large" and body["instructions"] == "Amounts in EUR."
    assert body["n_consensus"] == 5 and body["metadata"] == {"customer": "acme"}
    assert body["additional_messages"] == [{"role": "user", "content": "Be careful."}]
    assert body["bust_cache"] is True and body["background"] is True
    assert body["deep_extraction"] is True and body["stream"] is False


def test_stream_body() -> None:
    assert _body(ExtractionOptions(json_schema=SCHEMA), stream=True)["stream"] is True


def test_stream_with_background_is_refused() -> None:
    with pytest.raises(UsageError, match="both stream and run in the background"):
        build_extraction_body(
            ExtractionOptions(json_schema=SCHEMA, background=True), DOC, stream=True
        )


def test_document_as_mapping() -> None:
    body = msgspec.json.decode(
        build_extraction_body(
            ExtractionOptions(json_schema=SCHEMA), {"filename": "a.pdf", "url": "https://x/a.pdf"}
        )
    )
    assert body["document"] == {"filename": "a.pdf", "url": "https://x/a.pdf"}


@pytest.mark.parametrize("document", [{"filename": "a.pdf"}, {"url": "https://x"}, "a.pdf", None])
def test_bad_document(document: Any) -> None:
    with pytest.raises(UsageError, match="document must be"):
        build_extraction_body(ExtractionOptions(json_schema=SCHEMA), document)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"json_schema": {"type": "array"}}, "json_schema must be a dict describing an object"),
        ({"json_schema": "schema.json"}, "json_schema must be a dict"),
        ({"model": " "}, "model must be a non-empty string"),
        ({"n_consensus": 0}, "n_consensus must be an integer from 1 to 16"),
        ({"n_consensus": 17}, "n_consensus"),
        ({"n_consensus": True}, "n_consensus"),
        ({"instructions": 3}, "instructions must be a string"),
        ({"metadata": {"a": 1}}, "metadata must map strings to strings"),
        ({"metadata": ["a"]}, "metadata must be a dict"),
        ({"additional_messages": {"role": "user"}}, "additional_messages must be a list"),
        ({"additional_messages": ["hi"]}, r"additional_messages\[0\] must be a dict"),
        ({"bust_cache": 1}, "bust_cache must be True or False"),
        ({"background": "yes"}, "background must be True or False"),
        ({"deep_extraction": None}, "deep_extraction must be True or False"),
    ],
)
def test_bad_options(options: dict[str, Any], message: str) -> None:
    options.setdefault("json_schema", SCHEMA)
    with pytest.raises(UsageError, match=message):
        ExtractionOptions(**options)


def test_stream_content_types() -> None:
    assert {"application/x-ndjson", "application/json", "application/stream+json"} == set(
        STREAM_CONTENT_TYPES
    )


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _line(status: str, output: dict[str, Any], **extra: Any) -> bytes:
    record = {"id": "extr_1", "status": status, "output": output, **extra}
    return msgspec.json.encode(record) + b"\n"


async def test_stream_partials_then_final_record() -> None:
    events = [
        e
        async for e in iter_extraction_stream(
            _chunks(
                _line("in_progress", {}),
                b"data: " + _line("in_progress", {"number": "INV-1"}),
                _line("completed", {"number": "INV-1", "total": 4.0}, usage={"credits": 1.0}),
                _line("completed", {"ignored": True}),
            )
        )
    ]
    assert [type(e) for e in events] == [ExtractionPartial, ExtractionPartial, Extraction]
    assert [e.output for e in events] == [
        {},
        {"number": "INV-1"},
        {"number": "INV-1", "total": 4.0},
    ]
    final = events[-1]
    assert isinstance(final, Extraction) and final.done and final.usage is not None


async def test_stream_ending_failed() -> None:
    events = [
        e
        async for e in iter_extraction_stream(
            _chunks(_line("failed", {}, error={"code": "X", "message": "boom"}))
        )
    ]
    [final] = events
    assert isinstance(final, Extraction) and final.failed and final.output is None
    assert final.error is not None and final.error.message == "boom"


async def test_stream_cut_before_the_final_record() -> None:
    seen = []
    with pytest.raises(DecodeError, match="ended before its final record") as info:
        async for event in iter_extraction_stream(_chunks(_line("in_progress", {"a": 1}))):
            seen.append(event)
    assert info.value.malformed and len(seen) == 1


async def test_stream_line_that_is_not_a_record() -> None:
    with pytest.raises(DecodeError, match="stream line 1 is not a valid event"):
        async for _ in iter_extraction_stream(_chunks(b'{"status": "in_progress"}\n')):
            pass


async def test_stream_line_limit() -> None:
    with pytest.raises(StreamLineTooLong):
        async for _ in iter_extraction_stream(
            _chunks(_line("in_progress", {"a": "x" * 200})), max_line_bytes=100
        ):
            pass


async def test_stream_closes_its_reader_when_left_early() -> None:
    closed = False

    async def source() -> AsyncIterator[bytes]:
        nonlocal closed
        try:
            yield _line("in_progress", {})
            yield _line("in_progress", {"a": 1})
        finally:
            closed = True

    stream = iter_extraction_stream(source())
    async for _ in stream:
        break
    await stream.aclose()
    assert closed


def test_list_filters() -> None:
    assert extraction_list_filters() == []
    assert extraction_list_filters(
        filename_contains="inv",
        document_type=["pdf", ".PNG"],
        metadata={"customer": "acme", "env": "prod"},
    ) == [
        ("filename_contains", "inv"),
        ("document_type", "pdf"),
        ("document_type", "png"),
        ("metadata", '{"customer":"acme","env":"prod"}'),
    ]
    assert extraction_list_filters(document_type="txt") == [("document_type", "txt")]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"filename_contains": ""}, "filename_contains must be a non-empty string"),
        ({"document_type": [""]}, "document_type must be a file type"),
        ({"document_type": [3]}, "document_type must be a file type"),
        ({"metadata": {"a": 1}}, "metadata must map strings to strings"),
        ({"metadata": "a=b"}, "metadata must be a dict"),
    ],
)
def test_bad_list_filters(filters: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        extraction_list_filters(**filters)
