"""Schema generation on the local server, over real loopback HTTP: validation, the
inferred schema, the record's shape, and the routes it has (no list, no delete)."""

from __future__ import annotations

import base64
import json
from typing import Any

import jsonschema
import pytest

from retab_async.testing import FAIL_MARKER
from retab_async.testing._primitives.schema_generations import generate_schema
from retab_async.testing._primitives.text_fields import text_fields

from ..conftest import Api

BASE = "/v1/schemas/generate"
INVOICE = "Invoice number: 42\nTotal: $1,234.50\nIssued: 2026-01-02\nContact: ap@acme.test\n"
RECEIPT = "Invoice number: 43\nTotal: 7\fPaid: yes\nNote: thanks"


def doc(text: str | bytes, filename: str = "example.txt") -> dict[str, str]:
    raw = text.encode() if isinstance(text, str) else text
    return {"filename": filename, "url": "data:text/plain;base64," + base64.b64encode(raw).decode()}


async def create(api: Api, *texts: str, **extra: Any) -> dict[str, Any]:
    body = {"documents": [doc(text, f"d{i}.txt") for i, text in enumerate(texts)], **extra}
    status, record, _ = await api.call("POST", BASE, json=body)
    assert status == 201, record
    return record


async def test_a_schema_is_inferred_from_key_value_lines(api: Api) -> None:
    record = await create(api, INVOICE, RECEIPT)
    assert list(record) == [
        "object",
        "id",
        "strict",
        "json_schema",
        "status",
        "error",
        "created_at",
    ]
    assert record["object"] == "schema" and record["id"].startswith("schgen_")
    assert record["status"] == "completed" and record["strict"] is True and record["error"] is None
    schema = record["json_schema"]
    jsonschema.Draft202012Validator.check_schema(schema)
    props = schema["properties"]
    assert list(props) == ["invoice_number", "total", "issued", "contact", "paid", "note"]
    assert props["invoice_number"]["type"] == "integer"
    assert props["total"]["type"] == "number"  # $1,234.50 and 7
    assert props["issued"] == {
        "type": ["string", "null"],
        "description": "Issued, seen in 1 document(s).",
        "format": "date",
    }
    assert props["contact"]["format"] == "email" and props["paid"]["type"] == ["boolean", "null"]
    assert schema["required"] == list(props) and schema["additionalProperties"] is False
    validator = jsonschema.Draft202012Validator(schema)
    example = {"invoice_number": 1, "total": 2.5, "issued": None, "contact": None}
    assert validator.is_valid({**example, "paid": True, "note": "x"})
    assert not validator.is_valid({**example, "paid": True})  # every property is required


async def test_the_same_documents_give_the_same_schema(api: Api) -> None:
    first = await create(api, INVOICE, instructions="Invoices")
    second = await create(api, INVOICE, instructions="Invoices")
    assert first["id"] != second["id"]
    assert first["json_schema"] == second["json_schema"]
    assert first["json_schema"]["description"] == "Invoices"


async def test_documents_without_fields_give_a_text_property(api: Api) -> None:
    record = await create(api, "just prose, no fields at all")
    assert record["json_schema"]["properties"] == {
        "text": {"type": "string", "description": "The document's text."}
    }


async def test_binary_documents_get_a_valid_schema(api: Api) -> None:
    pdf = {"filename": "scan.pdf", "url": "data:application/pdf;base64,JVBERi0xLjQK"}
    status, record, _ = await api.call("POST", BASE, json={"documents": [pdf]})
    assert status == 201
    jsonschema.Draft202012Validator.check_schema(record["json_schema"])


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, ["body", "documents"]),
        ({"documents": []}, ["body", "documents"]),
        ({"documents": "a.txt"}, ["body", "documents"]),
        ({"documents": [{"filename": "a.txt"}]}, ["body", "documents", 0, "url"]),
        ({"documents": [doc("x"), {"url": "data:,x"}]}, ["body", "documents", 1, "filename"]),
        ({"documents": [doc("x")], "instructions": 3}, ["body", "instructions"]),
        ({"documents": [doc("x")], "background": "yes"}, ["body", "background"]),
        ({"documents": [doc("x")], "n_consensus": 2}, ["body", "n_consensus"]),
    ],
)
async def test_bad_bodies_are_422_shape_d(api: Api, body: dict[str, Any], loc: list[Any]) -> None:
    status, answer, _ = await api.call("POST", BASE, json=body)
    assert status == 422
    assert answer["status_code"] == 10422 and answer["data"] is None
    assert loc in [issue["loc"] for issue in json.loads(answer["message"])]


@pytest.mark.retab_server(run_time=60.0)
async def test_background_run_get_cancel_and_no_list_or_delete(api: Api) -> None:
    record = await create(api, INVOICE, background=True)
    assert record["status"] in ("queued", "in_progress") and record["json_schema"] == {}
    run = f"{BASE}/{record['id']}"
    status, got, _ = await api.call("GET", run, params={"include_output": "false"})
    assert status == 200 and got["json_schema"] == {} and "usage" not in got
    assert (await api.call("GET", BASE))[0] == 405  # no list
    assert (await api.call("DELETE", run))[0] == 405  # no delete
    status, cancelled, _ = await api.call("POST", f"{run}/cancel")
    assert status == 200 and cancelled["status"] == "cancelled" and cancelled["json_schema"] == {}
    assert (await api.call("POST", f"{run}/cancel"))[1] == cancelled  # idempotent
    status, missing, _ = await api.call("GET", f"{BASE}/schgen_0000000000000000")
    assert status == 404 and missing["detail"]["code"] == "NOT_FOUND"
    assert [r.operation for r in api.server.requests] == [
        "create",
        "get",
        "cancel",
        "cancel",
        "get",
    ]


async def test_a_document_with_the_failure_marker_fails_the_run(api: Api) -> None:
    status, record, _ = await api.call(
        "POST", BASE, json={"documents": [doc(INVOICE), doc(FAIL_MARKER)]}
    )
    assert status == 201 and record["status"] == "failed"
    assert record["error"]["details"]["stage"] == "schema generation"
    assert record["json_schema"] == {}


async def test_idempotency_key_replays_the_run(api: Api) -> None:
    body = {"documents": [doc(INVOICE)], "background": True}
    headers = {"Idempotency-Key": "gen-1"}
    _, first, _ = await api.call("POST", BASE, json=body, headers=headers)
    status, again, seen = await api.call("POST", BASE, json=body, headers=headers)
    assert status == 201 and again["id"] == first["id"] and seen["Idempotent-Replayed"] == "true"


def test_fields_are_read_per_page_and_typed() -> None:
    fields = text_fields(
        "Total: 30 EUR\nSee: https://x.test\nhttps://y.test\fDue: 2026-02-30\nCount: 007"
    )
    assert [(f.name, f.kind, f.page) for f in fields] == [
        ("total", "number", 1),
        ("see", "string", 1),  # a URL is a value; "https://..." alone is no field
        ("due", "string", 2),  # not a real date
        ("count", "string", 2),  # a leading zero: an identifier
    ]


def test_kinds_that_disagree_become_strings() -> None:
    schema = generate_schema(["Ref: 12", "Ref: A-12"])
    assert schema["properties"]["ref"]["type"] == "string"
