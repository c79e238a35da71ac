"""Edits on the local server, over real loopback HTTP: every route, the refusals of
contract 4.1 (400 for both or neither input, 404 for an unknown template), D17's
inputs (PDF, DOCX, XLSX, PPTX, a minimal one-page PDF), templates, list filters."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from typing import Any

import pytest

from retab_async.testing import LocalRetab, ManualClock

from ..conftest import Api
from .test_edits import MINIMAL_PDF, check_pdf

BASE = "/v1/edits"
TEMPLATE = "edtpl_contact_form"
OFFICE = "application/vnd.openxmlformats-officedocument."


def doc(content: bytes | str, filename: str = "form.txt", mime: str = "text/plain") -> Any:
    raw = content.encode() if isinstance(content, str) else content
    return {"filename": filename, "url": f"data:{mime};base64," + base64.b64encode(raw).decode()}


def office(kind: str, part: str, xml: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(part, xml)
    return buffer.getvalue()


async def create(api: Api, **body: Any) -> dict[str, Any]:
    body.setdefault("instructions", "Name: Ada")
    status, record, _ = await api.call("POST", BASE, json=body)
    assert status == 201, record
    return record


def error_of(body: Any) -> tuple[str, str]:
    return body["detail"]["code"], body["detail"]["message"]


async def test_sync_edit_record_has_every_field(api: Api) -> None:
    record = await create(api, document=doc("Name:\n[ ] Agree"), instructions="Name: Ada")
    assert record["id"].startswith("edit_") and record["status"] == "completed"
    assert record["config"] == {"color": "#000080"} and record["template_id"] is None
    assert record["instructions"] == "Name: Ada" and record["filled_document_ref"] is None
    assert record["usage"] == {"credits": 1.0} and record["error"] is None
    assert "consensus" not in record
    fields = record["output"]["form_data"]
    assert [(f["key"], f["type"], f["value"]) for f in fields] == [
        ("name", "text", "Ada"),
        ("agree", "checkbox", None),
    ]
    filled = record["output"]["filled_document"]
    assert filled["filename"] == "form_filled.pdf"
    assert filled["url"].startswith("data:application/pdf;base64,")
    check_pdf(base64.b64decode(filled["url"].split(",", 1)[1]))


@pytest.mark.parametrize(
    ("filename", "mime", "content"),
    [
        ("minimal.pdf", "application/pdf", MINIMAL_PDF),
        (
            "form.docx",
            OFFICE + "wordprocessingml.document",
            office("docx", "word/document.xml", "<w:p><w:r><w:t>Name:</w:t></w:r></w:p>"),
        ),
        (
            "sheet.xlsx",
            OFFICE + "spreadsheetml.sheet",
            office("xlsx", "xl/sharedStrings.xml", "<sst><si><t>Name:</t></si></sst>"),
        ),
        (
            "deck.pptx",
            OFFICE + "presentationml.presentation",
            office("pptx", "ppt/slides/slide1.xml", "<a:p><a:r><a:t>Name:</a:t></a:r></a:p>"),
        ),
        ("garbage.docx", OFFICE + "wordprocessingml.document", b"not a zip"),
    ],
)
async def test_every_input_kind_gets_a_filled_field_on_page_1(
    api: Api, filename: str, mime: str, content: bytes
) -> None:
    record = await create(api, document=doc(content, filename, mime), instructions="Name: Ada")
    fields = record["output"]["form_data"]
    assert fields and fields[0]["value"] is not None and fields[0]["bbox"]["page"] == 1
    assert record["file"]["mime_type"] == mime
    pdf = base64.b64decode(record["output"]["filled_document"]["url"].split(",", 1)[1])
    assert fields[0]["value"].encode() in b"".join(check_pdf(pdf))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"document": doc("Name:"), "template_id": TEMPLATE}, "not both"),
        ({}, "exactly one of document or template_id"),
        ({"document": None, "template_id": None}, "exactly one of document or template_id"),
        ({"document": doc(b"\x89PNG", "photo.png", "image/png")}, "Invalid document format"),
    ],
)
async def test_refused_with_400(api: Api, body: dict[str, Any], message: str) -> None:
    status, answer, _ = await api.call("POST", BASE, json={"instructions": "x", **body})
    assert status == 400
    code, text = error_of(answer)
    assert code == "INVALID_REQUEST" and message in text
    assert api.server.runs == []


async def test_unknown_template_is_404_shape_b(api: Api) -> None:
    body = {"instructions": "x", "template_id": "edtpl_nope"}
    status, answer, _ = await api.call("POST", BASE, json=body)
    assert status == 404 and error_of(answer) == ("NOT_FOUND", "Edit template edtpl_nope not found")


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"template_id": TEMPLATE}, ["body", "instructions"]),
        ({"instructions": 3, "template_id": TEMPLATE}, ["body", "instructions"]),
        ({"instructions": "x", "template_id": TEMPLATE, "config": {"color": "navy"}}, None),
        ({"instructions": "x", "template_id": TEMPLATE, "config": "red"}, ["body", "config"]),
        ({"instructions": "x", "template_id": 7}, ["body", "template_id"]),
        ({"instructions": "x", "template_id": TEMPLATE, "n_consensus": 2}, ["body", "n_consensus"]),
    ],
)
async def test_bad_bodies_are_422_shape_d(api: Api, body: dict[str, Any], loc: Any) -> None:
    status, answer, _ = await api.call("POST", BASE, json=body)
    assert status == 422 and answer["status_code"] == 10422
    issues = json.loads(answer["message"])
    assert issues[0]["loc"] == (loc or ["body", "config", "color"])


async def test_config_color_may_be_left_out_or_null(api: Api) -> None:
    for config in ({}, {"color": None}, None):
        record = await create(api, template_id=TEMPLATE, config=config)
        assert record["config"] == {"color": "#000080"}
    record = await create(api, template_id=TEMPLATE, config={"color": "#f00"})
    pdf = base64.b64decode(record["output"]["filled_document"]["url"].split(",", 1)[1])
    assert b"1 0 0 rg" in pdf


async def test_output_is_null_until_completed_and_when_light(api: Api) -> None:
    clock = ManualClock()
    async with LocalRetab(run_time=10.0, queue_time=1.0, clock=clock) as server:
        local = Api(server, api.session)
        record = await create(local, template_id=TEMPLATE, background=True)
        assert record["status"] == "queued" and record["output"] is None
        assert record["usage"] is None
        clock.advance(2.0)
        _, running, _ = await local.call("GET", f"{BASE}/{record['id']}")
        assert running["status"] == "in_progress" and running["output"] is None
        clock.advance(10.0)
        status, done, _ = await local.call("GET", f"{BASE}/{record['id']}")
        assert status == 200 and done["status"] == "completed" and done["output"] is not None
        params = {"include_output": "false"}
        _, light, _ = await local.call("GET", f"{BASE}/{record['id']}", params=params)
        assert light["output"] is None and light["status"] == "completed"


async def test_template_edit_record(api: Api) -> None:
    record = await create(api, template_id=TEMPLATE, instructions="Email: ada@example.com")
    assert record["template_id"] == TEMPLATE
    assert record["file"]["filename"] == "contact_form.pdf"
    assert record["file"]["mime_type"] == "application/pdf"
    values = {f["key"]: f["value"] for f in record["output"]["form_data"]}
    assert values["email"] == "ada@example.com" and values["full_name"] is None


async def test_templates_are_listed_and_shown(api: Api) -> None:
    status, page, _ = await api.call("GET", f"{BASE}/templates")
    assert status == 200 and page["list_metadata"] == {"before": None, "after": None}
    ids = [t["id"] for t in page["data"]]
    assert TEMPLATE in ids and "edtpl_expense_claim" in ids
    status, one, _ = await api.call("GET", f"{BASE}/templates/{TEMPLATE}")
    assert status == 200 and one["name"] == "Contact form"
    assert [f["key"] for f in one["form_fields"]][:2] == ["full_name", "email"]
    status, missing, _ = await api.call("GET", f"{BASE}/templates/edtpl_nope")
    assert status == 404 and error_of(missing)[0] == "NOT_FOUND"


async def test_list_filters_by_template_status_and_filename(api: Api) -> None:
    from_doc = await create(api, document=doc("Name:", "alpha.txt"))
    from_template = await create(api, template_id=TEMPLATE)
    other_template = await create(api, template_id="edtpl_expense_claim")

    async def ids(**params: str) -> list[str]:
        status, page, _ = await api.call("GET", BASE, params=params)
        assert status == 200, page
        return [row["id"] for row in page["data"]]

    assert await ids(template_id=TEMPLATE) == [from_template["id"]]
    assert await ids(filename="ALPHA") == [from_doc["id"]]
    assert await ids(status="completed", order="asc") == [
        from_doc["id"],
        from_template["id"],
        other_template["id"],
    ]
    assert await ids(status="failed") == []


async def test_failure_marker_in_document_or_instructions(api: Api) -> None:
    by_document = await create(api, document=doc("Name: [[retab:fail]]"))
    by_instructions = await create(api, template_id=TEMPLATE, instructions="[[retab:fail]]")
    for record in (by_document, by_instructions):
        assert record["status"] == "failed" and record["output"] is None
        assert record["error"]["message"]
    assert by_instructions["error"]["code"] == "EDIT_FAILED"


async def test_cancel_and_delete(api: Api) -> None:
    record = await create(api, template_id=TEMPLATE)
    status, cancelled, _ = await api.call("POST", f"{BASE}/{record['id']}/cancel")
    assert status == 200 and cancelled["status"] == "completed"  # terminal: unchanged (D4)
    status, _, _ = await api.call("DELETE", f"{BASE}/{record['id']}")
    assert status == 204
    status, gone, _ = await api.call("GET", f"{BASE}/{record['id']}")
    assert status == 404 and error_of(gone)[0] == "NOT_FOUND"
