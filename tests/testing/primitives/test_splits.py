"""Splits on the local server: the splitter's rules, and every route over real loopback HTTP."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import pytest

from retab_async.testing import FAIL_MARKER, FaultConfig, LocalRetab, ManualClock
from retab_async.testing._primitives.splits import split_pages

from ..conftest import Api

BASE = "/v1/splits"


def sub(name: str, description: str = "", multiple: bool = False) -> dict[str, Any]:
    return {"name": name, "description": description, "allow_multiple_instances": multiple}


def doc(
    content: bytes | str, filename: str = "bundle.txt", mime: str = "text/plain"
) -> dict[str, str]:
    raw = content.encode() if isinstance(content, str) else content
    return {"filename": filename, "url": f"data:{mime};base64," + base64.b64encode(raw).decode()}


async def create(api: Api, document: dict[str, str], **extra: Any) -> dict[str, Any]:
    body = {"document": document, "subdocuments": [sub("invoice")], **extra}
    status, record, _ = await api.call("POST", BASE, json=body)
    assert status == 201, record
    return record


def split(pages: list[str], subdocuments: list[dict[str, Any]]) -> list[tuple[str, list[int]]]:
    output, consensus = split_pages(pages, subdocuments)
    assert consensus is None
    return [(entry["name"], entry["pages"]) for entry in output]


# -- the splitter's rules ---------------------------------------------------------


def test_the_first_subdocument_named_in_a_page_wins() -> None:
    pages = ["Receipt for invoice 7", "RECEIPT", "Bank-Statement of May"]
    subdocuments = [sub("receipt"), sub("invoice"), sub("bank_statement")]
    assert split(pages, subdocuments) == [("receipt", [1, 2]), ("bank_statement", [3])]


def test_names_match_whole_words_only() -> None:
    assert split(["invoices and receipts"], [sub("letter"), sub("invoice")]) == [("letter", [1])]


def test_description_words_decide_when_no_name_is_found() -> None:
    pages = ["Dear Sir", "Balance: 20, transactions below"]
    subdocuments = [sub("letter"), sub("statement", "balance and transactions")]
    assert split(pages, subdocuments) == [("letter", [1]), ("statement", [2])]


def test_a_page_that_names_nothing_continues_the_previous_one() -> None:
    pages = ["nothing here", "Invoice", "more lines", "Letter", "signature"]
    assert split(pages, [sub("letter"), sub("invoice")]) == [
        ("letter", [1, 4, 5]),  # one instance: all its pages together
        ("invoice", [2, 3]),
    ]


def test_multiple_instances_split_on_gaps_and_headings() -> None:
    pages = ["Invoice 1", "Terms\nas on invoice 1", "Invoice 2", "Letter", "Invoice 3"]
    assert split(pages, [sub("invoice", multiple=True), sub("letter")]) == [
        ("invoice", [1, 2]),  # page 2 names the invoice, but not in its first line
        ("invoice", [3]),  # a heading starts a new instance
        ("letter", [4]),
        ("invoice", [5]),
    ]


def test_consensus_votes_only_move_pages_that_were_guessed() -> None:
    pages = ["Invoice", "continued", "Letter", "signature"]
    subdocuments = [sub("invoice"), sub("letter")]
    output, consensus = split_pages(pages, subdocuments, n_consensus=8)
    assert consensus is not None and len(consensus["choices"]) == 8
    assert consensus["choices"][0] == output or len(output) == 2
    for choice in consensus["choices"]:
        pages_of = {entry["name"]: entry["pages"] for entry in choice}
        assert 1 in pages_of["invoice"] and 3 in pages_of["letter"]  # named pages never move
    for entry, likely in zip(output, consensus["likelihoods"], strict=True):
        assert len(likely["pages"]) == len(entry["pages"]) and likely["name"] == 1.0
        assert likely["pages"][0] == 1.0  # each entry's first page is a named one
    assert split_pages(pages, subdocuments, n_consensus=8) == (output, consensus)  # deterministic


# -- the routes ---------------------------------------------------------------------


async def test_create_echoes_the_request_and_answers_pages(api: Api) -> None:
    subdocuments = [sub("invoice", "a bill", True), {"name": "letter", "description": None}]
    record = await create(
        api, doc("Invoice\fLetter\f"), subdocuments=subdocuments, instructions="x", n_consensus=2
    )
    assert record["id"].startswith("splt_") and record["status"] == "completed"
    assert record["subdocuments"] == [sub("invoice", "a bill", True), sub("letter")]
    assert record["instructions"] == "x" and record["n_consensus"] == 2
    assert record["output"] == [
        {"name": "invoice", "pages": [1]},
        {"name": "letter", "pages": [2, 3]},  # a trailing form feed leaves an empty page 3
    ]
    assert len(record["consensus"]["choices"]) == 2 and len(record["consensus"]["likelihoods"]) == 2
    assert record["usage"] == {"credits": 6.0} and record["error"] is None


async def test_binary_documents_are_split_on_their_stand_in_pages(api: Api) -> None:
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Page >>\n2 0 obj << /Type /Page >>"
    subdocuments = [sub("letter"), sub("scan")]
    record = await create(api, doc(pdf, "scan.pdf", "application/pdf"), subdocuments=subdocuments)
    assert record["output"] == [{"name": "scan", "pages": [1, 2]}]  # the pages name the file


async def test_background_split_shows_an_empty_output_until_completed() -> None:
    clock = ManualClock()
    async with (
        LocalRetab(run_time=0.05, queue_time=0.05, clock=clock) as server,
        aiohttp.ClientSession() as session,
    ):
        api = Api(server, session)
        created = await create(api, doc("Invoice"), background=True)
        assert (created["status"], created["output"], created["consensus"]) == ("queued", [], None)
        clock.advance(0.2)
        path = f"{BASE}/{created['id']}"
        status, light, _ = await api.call("GET", path, params={"include_output": "false"})
        assert (status, light["status"], light["output"]) == (200, "completed", [])
        status, full, _ = await api.call("GET", path)
        assert full["output"] == [{"name": "invoice", "pages": [1]}]


async def test_failure_marker_fails_the_split(api: Api) -> None:
    record = await create(api, doc(b"page\f" + FAIL_MARKER))
    assert (record["status"], record["output"]) == ("failed", [])
    assert record["error"]["details"]["stage"] == "split" and record["usage"] is None


@pytest.mark.retab_server(run_time=5.0)
async def test_cancel_delete_and_unknown_ids(api: Api, server: LocalRetab) -> None:
    created = await create(api, doc("Invoice"), background=True)
    path = f"{BASE}/{created['id']}"
    status, cancelled, _ = await api.call("POST", path + "/cancel")
    assert (status, cancelled["status"], cancelled["output"]) == (200, "cancelled", [])
    assert (await api.call("POST", path + "/cancel"))[:2] == (200, cancelled)
    assert (await api.call("DELETE", path))[0] == 204
    status, answer, _ = await api.call("GET", path)
    assert status == 404 and answer["detail"]["message"] == f"Split {created['id']} not found"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"subdocuments": []}, ["body", "subdocuments"]),
        ({"subdocuments": None}, ["body", "subdocuments"]),
        ({"subdocuments": [{"description": "x"}]}, ["body", "subdocuments", 0, "name"]),
        ({"subdocuments": [sub("a"), sub("a")]}, ["body", "subdocuments", 1, "name"]),
        (
            {"subdocuments": [{"name": "a", "allow_multiple_instances": "yes"}]},
            ["body", "subdocuments", 0, "allow_multiple_instances"],
        ),
        ({"subdocuments": [sub("a")], "n_consensus": 0}, ["body", "n_consensus"]),
        ({"subdocuments": [sub("a")], "categories": []}, ["body", "categories"]),
    ],
)
async def test_bad_bodies_are_422(api: Api, body: dict[str, Any], loc: list[Any]) -> None:
    status, answer, _ = await api.call("POST", BASE, json={"document": doc("x"), **body})
    assert status == 422 and json.loads(answer["message"])[0]["loc"] == loc


@pytest.mark.retab_server(run_time=5.0)
async def test_list_filters_by_filename_status_and_dates(api: Api) -> None:
    first = await create(api, doc("a", "Bundle-1.txt"), background=True)
    second = await create(api, doc("b", "memo.txt"), background=True)
    assert (await api.call("POST", f"{BASE}/{first['id']}/cancel"))[0] == 200

    async def ids(**params: str) -> list[str]:
        status, page, _ = await api.call("GET", BASE, params=params)
        assert status == 200, page
        return [row["id"] for row in page["data"]]

    assert await ids() == [second["id"], first["id"]]
    assert await ids(status="cancelled") == [first["id"]]
    assert await ids(filename="bundle") == [first["id"]]
    assert await ids(from_date="2999-01-01") == []
    status, _, _ = await api.call("GET", BASE, params={"to_date": "soon"})
    assert status == 400


async def test_faults_hit_split_routes(api: Api, server: LocalRetab) -> None:
    server.set_faults(FaultConfig(server_error=1.0, operations={"create"}))
    status, _, _ = await api.call(
        "POST", BASE, json={"document": doc("x"), "subdocuments": [sub("a")]}
    )
    assert status >= 500 and server.runs == []
