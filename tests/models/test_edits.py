"""Edit records, create options and request bodies."""

from __future__ import annotations

import base64
from typing import Any

import msgspec
import pytest

from retab_async import (
    DocumentError,
    EditResult,
    MIMEData,
    RunCancelled,
    RunError,
    RunFailed,
    UsageError,
)
from retab_async._models.edits import (
    Edit,
    EditOptions,
    build_edit_body,
    check_color,
    data_uri_bytes,
)

DOC = MIMEData(filename="form.pdf", url="data:application/pdf;base64,JVBERi0xLjQK")
PDF = b"%PDF-1.4\n%%EOF\n"
decode = msgspec.json.Decoder(Edit).decode

COMPLETED = (
    b'{"id": "edit_1", "file": {"id": "f", "filename": "form.pdf", "mime_type": "application/pdf"},'
    b' "model": "retab-small", "instructions": "Name: Ada", "config": {"color": "#FF0000"},'
    b' "template_id": null, "output": {"form_data": [{"bbox": {"left": 0.1, "top": 0.2,'
    b' "width": 0.5, "height": 0.02, "page": 1}, "description": "Name", "type": "text",'
    b' "key": "name", "value": "Ada"}, {"bbox": {"left": 0.1, "top": 0.3, "width": 0.02,'
    b' "height": 0.02, "page": 2}, "description": "Agree", "type": "checkbox", "key": "agree"}],'
    b' "filled_document": {"filename": "form_filled.pdf", "url": "data:application/pdf;base64,'
    + base64.b64encode(PDF)
    + b'"}}, "status": "completed", "error": null,'
    b' "filled_document_ref": {"id": "file_9", "filename": "form_filled.pdf",'
    b' "mime_type": "application/pdf"}, "usage": {"credits": 1.0},'
    b' "created_at": "2026-08-03T14:21:07Z", "updated_at": "x"}'
)


def test_completed_record() -> None:
    record = decode(COMPLETED)
    assert record.done and record.config.color == "#FF0000" and record.template_id is None
    output = record.require_output()
    name, agree = output.form_data
    assert name.bbox is not None and name.bbox.page == 1 and name.bbox.width == 0.5
    assert (name.key, name.type, name.value) == ("name", "text", "Ada")
    assert (agree.type, agree.value) == ("checkbox", None)
    assert output.values() == {"name": "Ada", "agree": None}
    assert record.form_data == output.form_data
    assert record.filled_document is not None
    assert record.filled_document.filename == "form_filled.pdf"
    assert output.filled_document_bytes() == PDF
    assert record.filled_document_ref is not None and record.filled_document_ref.id == "file_9"


def test_minimal_record_has_defaults() -> None:
    record = decode(b'{"id": "edit_2"}')
    assert record.status == "pending" and record.config.color == "#000080"
    assert record.output is None and record.filled_document_ref is None and record.usage is None


@pytest.mark.parametrize("output", [b'"output": null,', b'"output": {"form_data": []},', b""])
@pytest.mark.parametrize("status", ["queued", "in_progress", "failed", "cancelled"])
def test_placeholder_output_is_never_a_result(output: bytes, status: str) -> None:
    record = decode(b'{"id": "e", ' + output + b' "status": "' + status.encode() + b'"}')
    assert record.output is None and record.form_data is None and record.filled_document is None


def test_unknown_field_type_and_status_decode() -> None:
    record = decode(
        b'{"id": "e", "status": "paused", "output": {"form_data": [{"key": "k",'
        b' "type": "signature"}]}}'
    )
    assert record.status == "paused" and record.output is None and not record.done


@pytest.mark.parametrize(
    ("status", "error"),
    [("failed", RunFailed), ("cancelled", RunCancelled), ("in_progress", RunError)],
)
def test_require_output_says_why_there_is_none(status: str, error: type[Exception]) -> None:
    record = decode(b'{"id": "e", "status": "' + status.encode() + b'"}')
    with pytest.raises(error):
        record.require_output()


def test_filled_document_bytes_errors() -> None:
    with pytest.raises(DocumentError, match="no filled document"):
        EditResult().filled_document_bytes()
    remote = MIMEData(filename="f.pdf", url="https://storage.retab.com/org/file_1.pdf")
    with pytest.raises(DocumentError, match=r"https://storage\.retab\.com"):
        EditResult(filled_document=remote).filled_document_bytes()
    with pytest.raises(DocumentError, match="base64"):
        data_uri_bytes("data:application/pdf;base64,@@@")


def _body(options: EditOptions, document: Any = DOC) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.json.decode(build_edit_body(options, document))
    return result


def test_body_with_a_document_has_every_field() -> None:
    body = _body(EditOptions(instructions="Name: Ada", color="#FF0000", bust_cache=True))
    assert body == {
        "instructions": "Name: Ada",
        "document": {"filename": "form.pdf", "url": DOC.url},
        "model": "retab-small",
        "config": {"color": "#FF0000"},
        "bust_cache": True,
        "background": False,
    }


def test_body_with_a_template_sends_no_document() -> None:
    body = _body(EditOptions(instructions="x", template_id="edtpl_1"), None)
    assert body["template_id"] == "edtpl_1" and "document" not in body


def test_both_or_neither_document_and_template_are_refused() -> None:
    with pytest.raises(UsageError, match="not both"):
        build_edit_body(EditOptions(instructions="x", template_id="t"), DOC)
    with pytest.raises(UsageError, match="neither"):
        build_edit_body(EditOptions(instructions="x"), None)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"instructions": ""},
        {"instructions": "   "},
        {"instructions": 3},
        {"instructions": "x", "color": "navy"},
        {"instructions": "x", "color": "#12345"},
        {"instructions": "x", "color": "000080"},
        {"instructions": "x", "model": ""},
        {"instructions": "x", "template_id": ""},
        {"instructions": "x", "bust_cache": 1},
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        EditOptions(**kwargs)


@pytest.mark.parametrize("color", ["#000080", "#fff", "#A1b2C3"])
def test_hex_colors_are_accepted(color: str) -> None:
    assert check_color(color) == color
