"""Extractions on the local server, over real loopback HTTP: every route, the stream's
framing and timing, sources, list filters, consensus, failures."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import itertools
import json
from typing import Any

import aiohttp
import pytest
from jsonschema import Draft202012Validator

from retab_async.testing import FaultConfig, LocalRetab, ManualClock

from ..conftest import Api

TEXT = "INVOICE\nInvoice number: INV-2041\nTotal due: 1,234.50 EUR\fCustomer: Acme Corp\n"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "invoice_number": {"type": "string"},
        "total_due": {"type": "number"},
        "customer": {"type": "string"},
        "paid": {"type": "boolean"},
        "currency": {"enum": ["USD", "EUR"]},
        "lines": {
            "type": "array",
            "items": {"type": "object", "properties": {"sku": {"type": "string"}}},
        },
        "po_number": {"type": ["string", "null"]},
    },
    "required": ["invoice_number", "total_due", "customer"],
}
BASE = "/v1/extractions"


def doc(
    text: str = TEXT, filename: str = "invoice.txt", mime: str = "text/plain"
) -> dict[str, str]:
    return {
        "filename": filename,
        "url": f"data:{mime};base64," + base64.b64encode(text.encode()).decode(),
    }


def body(**extra: Any) -> dict[str, Any]:
    return {"document": doc(), "json_schema": SCHEMA, **extra}


async def create(api: Api, **extra: Any) -> dict[str, Any]:
    status, record, _ = await api.call("POST", BASE, json=body(**extra))
    assert status == 201, record
    return record


async def test_sync_create_fills_the_schema_from_the_document(api: Api) -> None:
    record = await create(api, metadata={"batch": "7"}, instructions="amounts in EUR")
    assert record["id"].startswith("extr_") and record["status"] == "completed"
    Draft202012Validator(SCHEMA).validate(record["output"])
    assert record["output"]["invoice_number"] == "INV-2041"
    assert record["output"]["total_due"] == 1234.5
    assert record["output"]["currency"] == "EUR"
    assert record["json_schema"] == SCHEMA and record["metadata"] == {"batch": "7"}
    assert record["instructions"] == "amounts in EUR" and record["n_consensus"] == 1
    assert record["consensus"] is None and record["error"] is None
    assert record["usage"] == {"credits": 1.0}
    assert record["file"]["filename"] == "invoice.txt"
    assert record["file"]["mime_type"] == "text/plain"


async def test_background_run_moves_through_its_lifecycle_with_empty_output() -> None:
    clock = ManualClock()
    async with (
        LocalRetab(run_time=0.05, queue_time=0.05, clock=clock) as server,
        aiohttp.ClientSession() as session,
    ):
        api = Api(server, session)
        created = await create(api, background=True)
        assert (created["status"], created["output"], created["usage"]) == ("queued", {}, None)
        seen = []
        for step in (0.07, 0.04):
            clock.advance(step)
            status, record, _ = await api.call("GET", f"{BASE}/{created['id']}")
            assert status == 200
            seen.append((record["status"], record["output"] == {}))
    assert seen == [("in_progress", True), ("completed", False)]


async def test_consensus_votes_and_a_likelihood_tree(api: Api) -> None:
    record = await create(api, n_consensus=3)
    consensus = record["consensus"]
    assert len(consensus["choices"]) == 3
    for choice in consensus["choices"]:
        Draft202012Validator(SCHEMA).validate(choice)
    likelihoods = consensus["likelihoods"]
    assert set(likelihoods) == set(record["output"])
    assert all(0 <= likelihoods[key] <= 1 for key in ("invoice_number", "total_due"))
    assert record["usage"] == {"credits": 3.0}
    status, light, _ = await api.call(
        "GET", f"{BASE}/{record['id']}", params={"include_output": "false"}
    )
    assert status == 200
    assert light["output"] == {} and light["consensus"] is None  # D15, D9
    assert light["status"] == "completed" and light["json_schema"] == SCHEMA


async def test_failure_marker_fails_with_an_empty_output(api: Api) -> None:
    record = await create(api, document=doc("see [[retab:fail]]"))
    assert record["status"] == "failed" and record["output"] == {}
    assert record["error"]["code"] == "DOCUMENT_UNREADABLE"
    assert record["error"]["details"]["stage"] == "extraction"
    assert record["usage"] is None


async def test_a_schema_with_no_finite_instance_fails_the_run(api: Api) -> None:
    endless = {
        "type": "object",
        "properties": {"next": {"$ref": "#"}},
        "required": ["next"],
    }
    record = await create(api, json_schema=endless)
    assert record["status"] == "failed" and record["error"]["code"] == "SCHEMA_UNSATISFIABLE"


@pytest.mark.parametrize(
    ("extra", "loc"),
    [
        ({"json_schema": {"type": "string"}}, ["body", "json_schema"]),
        ({"categories": [{"name": "a"}]}, ["body", "categories"]),
        ({"n_consensus": 0}, ["body", "n_consensus"]),
        ({"metadata": {"a": 1}}, ["body", "metadata", "a"]),
    ],
)
async def test_bad_bodies_are_422_shape_d(api: Api, extra: dict[str, Any], loc: list[Any]) -> None:
    status, answer, _ = await api.call("POST", BASE, json=body(**extra))
    assert status == 422 and answer["status_code"] == 10422
    assert json.loads(answer["message"])[0]["loc"] == loc


async def test_stream_and_background_together_are_refused(api: Api) -> None:
    for path, extra in (
        (BASE, {"stream": True, "background": True}),
        (BASE + "/stream", {"background": True}),
        (BASE + "/stream", {"stream": True, "background": True}),
    ):
        status, answer, _ = await api.call("POST", path, json=body(**extra))
        assert status == 400, (path, extra)
        assert "stream and background" in answer["detail"]["message"]
    assert api.server.runs == []


@pytest.mark.retab_server(run_time=5.0)
async def test_cancel_is_idempotent_and_delete_removes(api: Api, server: LocalRetab) -> None:
    created = await create(api, background=True)
    path = f"{BASE}/{created['id']}"
    status, first, _ = await api.call("POST", path + "/cancel")
    assert (status, first["status"], first["output"]) == (200, "cancelled", {})
    assert (await api.call("POST", path + "/cancel"))[:2] == (200, first)
    status, gone, _ = await api.call("DELETE", path)
    assert (status, gone) == (204, None)
    status, answer, _ = await api.call("GET", path)
    assert status == 404 and answer["detail"]["message"] == f"Extraction {created['id']} not found"
    assert server.runs == []


async def test_ids_belong_to_their_own_collection(api: Api) -> None:
    created = await create(api)
    status, _, _ = await api.call("GET", f"/v1/classifications/{created['id']}")
    assert status == 404
    _, page, _ = await api.call("GET", "/v1/classifications")
    assert page["data"] == []


async def test_the_same_idempotency_key_replays_the_run(api: Api) -> None:
    headers = {"Idempotency-Key": "extract-once"}
    status, first, _ = await api.call("POST", BASE, json=body(), headers=headers)
    status, again, answer_headers = await api.call("POST", BASE, json=body(), headers=headers)
    assert status == 201 and again["id"] == first["id"]
    assert answer_headers["Idempotent-Replayed"] == "true"
    status, _, _ = await api.call("POST", BASE, json=body(n_consensus=2), headers=headers)
    assert status == 409


# -- list ------------------------------------------------------------------------------


async def _ids(api: Api, params: Any) -> list[str]:
    status, page, _ = await api.call("GET", BASE, params=params)
    assert status == 200, page
    return [row["id"] for row in page["data"]]


async def test_list_filters(api: Api) -> None:
    invoice = await create(api, document=doc(filename="Invoice-7.txt"), metadata={"team": "ap"})
    scan = await create(api, document=doc(filename="scan_invoice.csv", mime="text/csv"))
    notes = await create(
        api, document=doc(filename="notes.md", mime="text/markdown"), metadata={"team": "ar"}
    )
    newest_first = [notes["id"], scan["id"], invoice["id"]]
    assert await _ids(api, {}) == newest_first
    assert await _ids(api, {"filename": "invoice"}) == [invoice["id"]]
    assert await _ids(api, {"filename_contains": "INVOICE"}) == [scan["id"], invoice["id"]]
    assert await _ids(api, {"filename_regex": "scan"}) == [scan["id"]]
    repeated = [("document_type", "csv"), ("document_type", "md")]
    assert await _ids(api, repeated) == [notes["id"], scan["id"]]
    assert await _ids(api, {"metadata": json.dumps({"team": "ap"})}) == [invoice["id"]]
    assert await _ids(api, {"status": "completed", "order": "asc"}) == newest_first[::-1]
    assert await _ids(api, {"status": "failed"}) == []
    today = dt.datetime.now(dt.timezone.utc).date()
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    assert await _ids(api, {"from_date": today.isoformat()}) == newest_first
    assert await _ids(api, {"from_date": tomorrow}) == []


async def test_list_pages_with_filters(api: Api) -> None:
    ids = [(await create(api, metadata={"n": str(i % 2)}))["id"] for i in range(5)]
    params = {"metadata": json.dumps({"n": "0"}), "limit": "2", "order": "asc"}
    status, page, _ = await api.call("GET", BASE, params=params)
    assert status == 200
    assert [row["id"] for row in page["data"]] == [ids[0], ids[2]]
    after = page["list_metadata"]["after"]
    _, page, _ = await api.call("GET", BASE, params={**params, "after": after})
    assert [row["id"] for row in page["data"]] == [ids[4]]
    assert page["list_metadata"]["after"] is None


@pytest.mark.parametrize(
    ("key", "value"),
    [("metadata", "team=ap"), ("metadata", '{"n": 1}'), ("filename_regex", "inv.*")],
)
async def test_bad_list_filters_are_422(api: Api, key: str, value: str) -> None:
    status, answer, _ = await api.call("GET", BASE, params={key: value})
    assert status == 422 and answer["detail"][0]["loc"] == ["query", key]


# -- sources ---------------------------------------------------------------------------


async def test_sources_locate_each_value_in_the_document(api: Api, server: LocalRetab) -> None:
    record = await create(api)
    status, sources, headers = await api.call("GET", f"{BASE}/{record['id']}/sources")
    assert status == 200 and headers["x-request-id"].startswith("req_")
    assert sources["object"] == "extraction.sources" and sources["extraction_id"] == record["id"]
    assert sources["file"] == record["file"] and sources["extraction"] == record["output"]
    assert sources["document_type"] == "txt"
    number = sources["sources"]["invoice_number"]
    assert number["value"] == "INV-2041"
    anchor = number["source"]["anchor"]
    assert TEXT[anchor["char_start"] : anchor["char_end"]] == "INV-2041"
    assert anchor["page"] == 1 and anchor["line_start"] == 2
    customer = sources["sources"]["customer"]["source"]
    assert customer is not None and customer["anchor"]["page"] == 2  # after the form feed
    assert sources["evidence"]["invoice_number"]["status"] == "matched"
    assert [r.operation for r in server.requests][-1] == "sources"


@pytest.mark.retab_server(run_time=5.0)
async def test_sources_of_an_unfinished_run_are_409(api: Api) -> None:
    created = await create(api, background=True)
    status, answer, _ = await api.call("GET", f"{BASE}/{created['id']}/sources")
    assert status == 409 and answer["detail"]["code"] == "EXTRACTION_NOT_COMPLETED"
    status, _, _ = await api.call("GET", f"{BASE}/extr_unknown/sources")
    assert status == 404


# -- stream ----------------------------------------------------------------------------


async def _stream(
    api: Api, payload: dict[str, Any]
) -> tuple[int, aiohttp.typedefs.LooseHeaders, list[bytes]]:
    async with api.session.post(
        api.server.base_url + BASE + "/stream", json=payload, headers=api.auth
    ) as response:
        lines = [line async for line in response.content]
        return response.status, response.headers, lines


async def test_stream_sends_partials_field_by_field_then_the_record(
    api: Api, server: LocalRetab
) -> None:
    status, headers, lines = await _stream(api, body(stream=True, n_consensus=2))
    assert status == 200
    assert headers["Content-Type"] == "application/x-ndjson"
    assert headers["x-request-id"].startswith("req_")
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)
    *partials, final = [json.loads(line) for line in lines]
    assert final["status"] == "completed" and final["consensus"] is not None
    assert partials[0]["output"] == {} and len(partials) >= len(SCHEMA["properties"])
    for earlier, later in itertools.pairwise(partials):
        assert _leaves(earlier["output"]) < _leaves(later["output"])  # one field more each time
    assert all(p["status"] == "in_progress" and p["id"] == final["id"] for p in partials)
    assert all(p["usage"] is None and p["consensus"] is None for p in partials)
    status, stored, _ = await api.call("GET", f"{BASE}/{final['id']}")
    assert stored == final
    assert [r.operation for r in server.requests] == ["stream", "get"]


async def test_the_stream_route_streams_whatever_its_flag_says(api: Api) -> None:
    for payload in (body(), body(stream=False)):
        status, _, lines = await _stream(api, payload)
        assert status == 200 and len(lines) > 1
        assert json.loads(lines[-1])["status"] == "completed"


async def test_a_failed_stream_is_the_failed_record_alone(api: Api) -> None:
    status, _, lines = await _stream(api, body(document=doc("[[retab:fail]]")))
    assert status == 200 and len(lines) == 1
    assert json.loads(lines[0])["status"] == "failed"


async def test_a_refused_stream_is_an_ordinary_error(api: Api) -> None:
    status, answer, headers = await api.call("POST", BASE + "/stream", json=body(n_consensus=99))
    assert status == 422 and headers["Content-Type"].startswith("application/json")
    assert json.loads(answer["message"])[0]["loc"] == ["body", "n_consensus"]


async def test_stream_lines_are_stream_delay_apart_on_the_server_clock() -> None:
    clock = ManualClock()
    async with (
        LocalRetab(run_time=0.0, stream_delay=0.25, clock=clock) as server,
        aiohttp.ClientSession() as session,
    ):
        reading = asyncio.ensure_future(_stream(Api(server, session), body()))
        advances = 0
        while not reading.done():
            if clock.pending:
                clock.advance(0.25)
                advances += 1
            await asyncio.sleep(0.001)
        status, _, lines = reading.result()
    assert status == 200 and advances == len(lines) - 1 and clock.now() == 0.25 * advances


def _leaves(value: Any, path: str = "") -> set[str]:
    if isinstance(value, dict):
        return {leaf for key, item in value.items() for leaf in _leaves(item, f"{path}.{key}")}
    if isinstance(value, list):
        return {leaf for i, item in enumerate(value) for leaf in _leaves(item, f"{path}[{i}]")}
    return {path}


# -- faults ----------------------------------------------------------------------------


async def test_faults_reach_the_extraction_only_routes(api: Api, server: LocalRetab) -> None:
    record = await create(api)
    server.set_faults(FaultConfig(rate_limit=1.0, operations=("stream", "sources")))
    status, _, headers = await api.call("POST", BASE + "/stream", json=body())
    assert status == 429 and "Retry-After" in headers
    status, _, _ = await api.call("GET", f"{BASE}/{record['id']}/sources")
    assert status == 429
    assert [r.fault for r in server.requests[-2:]] == ["rate_limit", "rate_limit"]
    assert (await api.call("GET", f"{BASE}/{record['id']}"))[0] == 200  # not a chosen operation


async def test_a_truncated_stream_ends_inside_a_line(api: Api, server: LocalRetab) -> None:
    _, _, whole = await _stream(api, body())
    server.set_faults(FaultConfig(truncated=1.0, operations=("stream",)))
    status, _, lines = await _stream(api, body())
    assert status == 200 and not lines[-1].endswith(b"\n")
    assert len(b"".join(lines)) == len(b"".join(whole)) // 2


async def test_a_disconnected_stream_drops_midway(api: Api, server: LocalRetab) -> None:
    server.set_faults(FaultConfig(disconnect=1.0, operations=("stream",)))
    with pytest.raises(aiohttp.ClientPayloadError):
        await _stream(api, body())
    assert server.requests[-1].fault == "disconnect" and server.requests[-1].status is None
    assert len(server.runs) == 1  # the work was done
