"""File blueprints on the local server, over real loopback HTTP: the uploaded file's
blueprint, validation, unknown files, the record's shape and the routes it has
(no list, no delete)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from retab_async.testing import FAIL_MARKER
from retab_async.testing._primitives.file_blueprints import blueprint

from ..conftest import Api
from ..test_files import reserve, upload

BASE = "/v1/files/blueprints"
TEXT = b"Invoice number: 42\nTotal: 12.50\fShip to: Lyon\nPaid: no\n"


async def create(api: Api, file_id: str, **extra: Any) -> dict[str, Any]:
    status, record, _ = await api.call("POST", BASE, json={"file_id": file_id, **extra})
    assert status == 201, record
    return record


async def test_the_blueprint_describes_the_uploaded_file(api: Api) -> None:
    file_id, _ = await upload(api, TEXT, "invoice.txt")
    record = await create(api, file_id, intent="invoices", mode="instant")
    assert list(record) == [
        "object",
        "id",
        "file",
        "intent",
        "mode",
        "output",
        "status",
        "error",
        "created_at",
        "started_at",
        "completed_at",
    ]
    assert record["object"] == "file.blueprint" and record["id"].startswith("fbp_")
    assert record["file"] == {"id": file_id, "filename": "invoice.txt", "mime_type": "text/plain"}
    assert record["intent"] == "invoices" and record["mode"] == "instant"
    assert record["status"] == "completed" and record["started_at"] and record["completed_at"]
    output = record["output"]
    assert output["page_count"] == 2 and output["intent"] == "invoices"
    assert [p["fields"] for p in output["pages"]] == [
        ["invoice_number", "total"],
        ["ship_to", "paid"],
    ]
    assert output["fields"][1] == {
        "name": "total",
        "label": "Total",
        "kind": "number",
        "page": 1,
        "example": "12.50",
    }
    again = await create(api, file_id, intent="invoices", mode="instant")
    assert again["output"] == output  # deterministic


async def test_an_unknown_or_unfinished_file_is_404_shape_b(api: Api) -> None:
    status, body, _ = await api.call("POST", BASE, json={"file_id": "file_000000000000"})
    assert status == 404
    assert body["detail"]["code"] == "NOT_FOUND"
    assert body["detail"]["message"] == "File file_000000000000 not found"
    reserved = await reserve(api, TEXT)  # reserved, never uploaded nor completed
    status, _, _ = await api.call("POST", BASE, json={"file_id": reserved["fileId"]})
    assert status == 404
    assert api.server.runs == []


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, ["body", "file_id"]),
        ({"file_id": ""}, ["body", "file_id"]),
        ({"file_id": "a/b"}, ["body", "file_id"]),
        ({"file_id": 3}, ["body", "file_id"]),
        ({"file_id": "file_1", "mode": "deep"}, ["body", "mode"]),
        ({"file_id": "file_1", "intent": 1}, ["body", "intent"]),
        ({"file_id": "file_1", "background": "no"}, ["body", "background"]),
        ({"file_id": "file_1", "model": "retab-small"}, ["body", "model"]),
    ],
)
async def test_bad_bodies_are_422_shape_d(api: Api, body: dict[str, Any], loc: list[Any]) -> None:
    status, answer, _ = await api.call("POST", BASE, json=body)
    assert status == 422
    assert loc in [issue["loc"] for issue in json.loads(answer["message"])]


@pytest.mark.retab_server(run_time=60.0)
async def test_background_get_cancel_and_no_list_or_delete(api: Api) -> None:
    file_id, _ = await upload(api, TEXT, "invoice.txt")
    record = await create(api, file_id, background=True)
    assert record["status"] in ("queued", "in_progress") and record["output"] == {}
    assert record["completed_at"] is None
    run = f"{BASE}/{record['id']}"
    status, light, _ = await api.call("GET", run, params={"include_output": "false"})
    assert status == 200 and light["output"] == {} and "usage" not in light
    assert "model" not in light
    assert (await api.call("GET", BASE))[0] in (404, 405)  # no list
    assert (await api.call("DELETE", run))[0] == 405  # no delete
    status, cancelled, _ = await api.call("POST", f"{run}/cancel")
    assert status == 200 and cancelled["status"] == "cancelled" and cancelled["completed_at"]
    assert (await api.call("POST", f"{run}/cancel"))[1] == cancelled  # idempotent
    operations = [r.operation for r in api.server.requests if r.path.startswith(BASE)]
    assert "list" not in operations and "delete" not in operations


async def test_a_file_with_the_failure_marker_fails_the_run(api: Api) -> None:
    file_id, _ = await upload(api, b"Total: 1\n" + FAIL_MARKER, "bad.txt")
    record = await create(api, file_id)
    assert record["status"] == "failed" and record["output"] == {}
    assert record["error"]["details"]["stage"] == "file blueprint"


def test_a_document_without_fields_has_pages_only() -> None:
    result = blueprint("plain\fprose", filename="a.txt", mime_type="text/plain", intent=None)
    assert result["page_count"] == 2 and result["fields"] == []
    assert [p["characters"] for p in result["pages"]] == [5, 5]
