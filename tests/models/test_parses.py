"""Parse records, create options and request bodies."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from retab_async import MIMEData, UsageError
from retab_async._models.parses import (
    TABLE_PARSING_FORMATS,
    Parse,
    ParseOptions,
    build_parse_body,
)

DOC = MIMEData(filename="report.md", url="data:text/markdown;base64,IyBUaXRsZQ==")
decode = msgspec.json.Decoder(Parse).decode


def test_completed_record() -> None:
    record = decode(
        b'{"id": "prs_1", "file": {"id": "f", "filename": "r.md", "mime_type": "text/markdown"},'
        b' "model": "retab-small", "table_parsing_format": "markdown", "instructions": null,'
        b' "output": {"pages": ["# Title", "Two"], "text": "# Title\\n\\nTwo"},'
        b' "status": "completed", "error": null, "usage": {"credits": 0.5},'
        b' "created_at": "2026-08-03T14:21:07Z", "updated_at": "x"}'
    )
    assert record.done and record.pages == ["# Title", "Two"] and record.text == "# Title\n\nTwo"
    assert record.table_parsing_format == "markdown"


@pytest.mark.parametrize(
    "output", [b'"output": {"pages": [], "text": ""},', b'"output": null,', b""]
)
@pytest.mark.parametrize("status", ["queued", "in_progress", "failed", "cancelled"])
def test_placeholder_output_is_never_a_result(output: bytes, status: str) -> None:
    record = decode(b'{"id": "p", ' + output + b' "status": "' + status.encode() + b'"}')
    assert record.output is None and record.text is None and record.pages is None


def test_unknown_table_format_decodes() -> None:
    assert decode(b'{"id": "p", "table_parsing_format": "latex"}').table_parsing_format == "latex"


def _body(options: ParseOptions) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.json.decode(build_parse_body(options, DOC))
    return result


def test_minimal_body() -> None:
    assert _body(ParseOptions()) == {
        "document": {"filename": "report.md", "url": DOC.url},
        "model": "retab-small",
        "table_parsing_format": "html",
        "bust_cache": False,
        "background": False,
    }


@pytest.mark.parametrize("table_format", TABLE_PARSING_FORMATS)
def test_full_body(table_format: Any) -> None:
    body = _body(
        ParseOptions(
            model="retab-large",
            table_parsing_format=table_format,
            instructions="Keep headers.",
            bust_cache=True,
            background=True,
        )
    )
    assert body["table_parsing_format"] == table_format and body["instructions"] == "Keep headers."
    assert body["model"] == "retab-large" and body["bust_cache"] and body["background"]


def test_formats_are_the_contracts() -> None:
    assert set(TABLE_PARSING_FORMATS) == {"markdown", "yaml", "html", "json"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"table_parsing_format": "csv"},
            "table_parsing_format must be one of markdown, yaml, html, json",
        ),
        ({"model": ""}, "model must be a non-empty string"),
        ({"instructions": b"x"}, "instructions must be a string"),
        ({"bust_cache": "no"}, "bust_cache must be True or False"),
        ({"background": 0}, "background must be True or False"),
    ],
)
def test_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        ParseOptions(**options)
