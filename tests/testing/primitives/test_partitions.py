"""Partitions on the local server: the partitioner's rules, and every route over real
loopback HTTP."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import pytest

from retab_async.testing import FAIL_MARKER, FaultConfig, LocalRetab, ManualClock
from retab_async.testing._primitives.partitions import partition_pages

from ..conftest import Api

BASE = "/v1/partitions"


def doc(
    content: str | bytes, filename: str = "ledger.txt", mime: str = "text/plain"
) -> dict[str, str]:
    raw = content.encode() if isinstance(content, str) else content
    return {"filename": filename, "url": f"data:{mime};base64," + base64.b64encode(raw).decode()}


async def create(api: Api, document: dict[str, str], **extra: Any) -> dict[str, Any]:
    body = {"document": document, "key": "invoice number", "instructions": "", **extra}
    status, record, _ = await api.call("POST", BASE, json=body)
    assert status == 201, record
    return record


def chunks(
    pages: list[str], key: str = "invoice number", **options: Any
) -> list[tuple[str, list[int]]]:
    output, consensus = partition_pages(pages, key, **options)
    assert consensus is None
    return [(chunk["key"], chunk["pages"]) for chunk in output]


# -- the partitioner's rules ------------------------------------------------------


def test_values_are_read_from_key_lines() -> None:
    pages = [
        "Invoice number: INV-1",
        "- INVOICE_NUMBER = INV-2 ",
        "**invoice-number**: INV-3",
        "The invoice number is INV-4",  # not a `key: value` line
    ]
    assert chunks(pages) == [("INV-1", [1]), ("INV-2", [2]), ("INV-3", [3, 4])]
    assert chunks(["Invoice number: INV-1"], key="patient") == []


def test_pages_without_a_value_continue_the_last_one() -> None:
    pages = ["cover", "Invoice number: A", "more", "Invoice number: B", "end"]
    assert chunks(pages) == [("A", [1, 2, 3]), ("B", [4, 5])]


def test_one_chunk_per_value_spelled_as_first_seen() -> None:
    pages = ["Invoice number: abc-1", "Invoice number: B", "Invoice number: ABC-1"]
    assert chunks(pages) == [("abc-1", [1, 3]), ("B", [2])]


def test_overlap_is_honoured() -> None:
    pages = ["Invoice number: A\nInvoice number: B", "tail"]
    assert chunks(pages) == [("A", [1]), ("B", [1, 2])]
    assert chunks(pages, allow_overlap=False) == [("A", [1, 2])]


def test_consensus_moves_only_continuation_pages_in_a_minority_of_votes() -> None:
    pages = ["Invoice number: A", "x", "y", "Invoice number: B", "z"]
    output, consensus = partition_pages(pages, "invoice number", n_consensus=7)
    assert [(c["key"], c["pages"]) for c in output] == [("A", [1, 2, 3]), ("B", [4, 5])]
    assert consensus is not None and len(consensus["choices"]) == 7
    for choice in consensus["choices"]:
        by_key = {c["key"]: c["pages"] for c in choice}
        assert 1 in by_key["A"] and 4 in by_key["B"]  # named pages never move
    for chunk, likely in zip(output, consensus["likelihoods"], strict=True):
        assert likely["key"] == 1.0 and len(likely["pages"]) == len(chunk["pages"])
        assert all(share > 0.5 for share in likely["pages"])
    assert partition_pages(pages, "invoice number", n_consensus=7) == (output, consensus)


# -- the routes ---------------------------------------------------------------------


async def test_create_echoes_the_request_and_answers_chunks(api: Api) -> None:
    record = await create(
        api,
        doc("Invoice number: A\fInvoice number: B\nInvoice number: A"),
        instructions="split by invoice",
        n_consensus=3,
        allow_overlap=None,
    )
    assert record["id"].startswith("prtn_") and record["status"] == "completed"
    assert (record["key"], record["instructions"]) == ("invoice number", "split by invoice")
    assert record["allow_overlap"] is True and record["n_consensus"] == 3
    assert record["output"] == [{"key": "A", "pages": [1, 2]}, {"key": "B", "pages": [2]}]
    assert len(record["consensus"]["choices"]) == 3
    assert record["usage"] == {"credits": 6.0} and record["error"] is None


async def test_background_partition_shows_an_empty_output_until_completed() -> None:
    clock = ManualClock()
    async with (
        LocalRetab(run_time=0.05, queue_time=0.05, clock=clock) as server,
        aiohttp.ClientSession() as session,
    ):
        api = Api(server, session)
        created = await create(api, doc("Invoice number: A"), background=True)
        assert (created["status"], created["output"]) == ("queued", [])
        clock.advance(0.2)
        path = f"{BASE}/{created['id']}"
        status, light, _ = await api.call("GET", path, params={"include_output": "false"})
        assert (status, light["status"], light["output"], light["consensus"]) == (
            200,
            "completed",
            [],
            None,
        )
        status, full, _ = await api.call("GET", path)
        assert full["output"] == [{"key": "A", "pages": [1]}]


async def test_failure_marker_fails_the_partition(api: Api) -> None:
    record = await create(api, doc(b"Invoice number: A " + FAIL_MARKER))
    assert (record["status"], record["output"]) == ("failed", [])
    assert record["error"]["details"]["stage"] == "partition"


@pytest.mark.retab_server(run_time=5.0)
async def test_cancel_delete_and_unknown_ids(api: Api, server: LocalRetab) -> None:
    created = await create(api, doc("x"), background=True)
    path = f"{BASE}/{created['id']}"
    status, cancelled, _ = await api.call("POST", path + "/cancel")
    assert (status, cancelled["status"], cancelled["output"]) == (200, "cancelled", [])
    assert (await api.call("POST", path + "/cancel"))[:2] == (200, cancelled)
    assert (await api.call("DELETE", path))[0] == 204
    status, answer, _ = await api.call("GET", path)
    assert status == 404 and answer["detail"]["message"] == f"Partition {created['id']} not found"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"instructions": "x"}, ["body", "key"]),
        ({"key": " ", "instructions": "x"}, ["body", "key"]),
        ({"key": 3, "instructions": "x"}, ["body", "key"]),
        ({"key": "k"}, ["body", "instructions"]),
        ({"key": "k", "instructions": "x", "allow_overlap": "yes"}, ["body", "allow_overlap"]),
        ({"key": "k", "instructions": "x", "n_consensus": 17}, ["body", "n_consensus"]),
        ({"key": "k", "instructions": "x", "subdocuments": []}, ["body", "subdocuments"]),
    ],
)
async def test_bad_bodies_are_422(api: Api, body: dict[str, Any], loc: list[Any]) -> None:
    status, answer, _ = await api.call("POST", BASE, json={"document": doc("x"), **body})
    assert status == 422 and json.loads(answer["message"])[0]["loc"] == loc


@pytest.mark.retab_server(run_time=5.0)
async def test_list_filters_by_filename_status_and_dates(api: Api) -> None:
    first = await create(api, doc("a", "Ledger-1.txt"), background=True)
    second = await create(api, doc("b", "memo.txt"), background=True)
    assert (await api.call("POST", f"{BASE}/{first['id']}/cancel"))[0] == 200

    async def ids(**params: str) -> list[str]:
        status, page, _ = await api.call("GET", BASE, params=params)
        assert status == 200, page
        return [row["id"] for row in page["data"]]

    assert await ids() == [second["id"], first["id"]]
    assert await ids(status="cancelled") == [first["id"]]
    assert await ids(filename="ledger") == [first["id"]]
    assert await ids(to_date="2000-01-01") == []
    assert (await api.call("GET", BASE, params={"status": "done"}))[0] == 422


async def test_faults_hit_partition_routes(api: Api, server: LocalRetab) -> None:
    server.set_faults(FaultConfig(server_error=1.0, operations={"create"}))
    body = {"document": doc("x"), "key": "k", "instructions": ""}
    status, _, _ = await api.call("POST", BASE, json=body)
    assert status >= 500 and server.runs == []
