"""Parses on the local server, over real loopback HTTP: real parsing of text documents,
the stand-in for binary ones, every route, and a list without a status filter."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import pytest

from retab_async.testing import LocalRetab, ManualClock

from ..conftest import Api

BASE = "/v1/parses"
EMPTY = {"pages": [], "text": ""}


def doc(
    content: bytes | str, filename: str = "notes.txt", mime: str = "text/plain"
) -> dict[str, str]:
    raw = content.encode() if isinstance(content, str) else content
    return {"filename": filename, "url": f"data:{mime};base64," + base64.b64encode(raw).decode()}


async def create(api: Api, document: dict[str, str], **extra: Any) -> dict[str, Any]:
    status, record, _ = await api.call("POST", BASE, json={"document": document, **extra})
    assert status == 201, record
    return record


async def test_text_pages_are_split_on_form_feeds(api: Api) -> None:
    record = await create(api, doc("Page one\nline two\fPage two\f\fPage four"))
    assert record["id"].startswith("prs_") and record["status"] == "completed"
    assert record["output"]["pages"] == ["Page one\nline two", "Page two", "", "Page four"]
    assert record["output"]["text"] == "Page one\nline two\n\nPage two\n\n\n\nPage four"
    assert record["table_parsing_format"] == "html" and record["instructions"] is None
    assert "consensus" not in record and "n_consensus" not in record
    assert record["usage"] == {"credits": 4.0} and record["error"] is None


CSV = "sku,qty\nA-1,2\nB|2,5\n"


@pytest.mark.parametrize(
    ("table_format", "page"),
    [
        ("markdown", "| sku | qty |\n| --- | --- |\n| A-1 | 2 |\n| B\\|2 | 5 |"),
        ("json", json.dumps([{"sku": "A-1", "qty": "2"}, {"sku": "B|2", "qty": "5"}])),
        ("yaml", '- "sku": "A-1"\n  "qty": "2"\n- "sku": "B|2"\n  "qty": "5"'),
        (
            "html",
            "<table>\n<tr><th>sku</th><th>qty</th></tr>\n"
            "<tr><td>A-1</td><td>2</td></tr>\n<tr><td>B|2</td><td>5</td></tr>\n</table>",
        ),
    ],
)
async def test_csv_tables_in_each_format(api: Api, table_format: str, page: str) -> None:
    record = await create(api, doc(CSV, "lines.csv", "text/csv"), table_parsing_format=table_format)
    assert record["output"]["pages"] == [page]
    assert record["table_parsing_format"] == table_format


async def test_html_is_read_as_text_with_its_tables(api: Api) -> None:
    page = (
        "<html><head><style>p{}</style><title>Bill</title></head><body><h1>Invoice</h1>"
        "<p>Total   due: <b>30</b></p><script>x()</script>"
        "<table><tr><th>a</th></tr><tr><td>1</td></tr></table></body></html>"
    )
    record = await create(api, doc(page, "bill.html", "text/html"), table_parsing_format="markdown")
    assert record["output"]["pages"] == ["Bill\nInvoice\nTotal due: 30\n| a |\n| --- |\n| 1 |"]


async def test_markdown_tables_follow_the_format(api: Api) -> None:
    text = "# Items\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    record = await create(api, doc(text, "items.md", "text/markdown"), table_parsing_format="json")
    assert record["output"]["pages"] == ['# Items\n\n[{"a": "1", "b": "2"}]']


async def test_binary_documents_get_a_stand_in_per_page(api: Api) -> None:
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Page >>\n2 0 obj << /Type /Page >>\n3 0 obj << /Type /Pages >>"
    record = await create(api, doc(pdf, "scan.pdf", "application/pdf"))
    pages = record["output"]["pages"]
    assert len(pages) == 2 and pages[0].startswith("scan.pdf, page 1 of 2: application/pdf")
    remote = await create(api, {"filename": "photo.png", "url": "https://files.test/photo.png"})
    assert len(remote["output"]["pages"]) == 1
    assert "not downloaded" in remote["output"]["text"]


async def test_background_parse_shows_an_empty_output_until_completed() -> None:
    clock = ManualClock()
    async with (
        LocalRetab(run_time=0.05, queue_time=0.05, clock=clock) as server,
        aiohttp.ClientSession() as session,
    ):
        api = Api(server, session)
        created = await create(api, doc("hello"), background=True)
        assert (created["status"], created["output"]) == ("queued", EMPTY)
        clock.advance(0.2)
        path = f"{BASE}/{created['id']}"
        status, light, _ = await api.call("GET", path, params={"include_output": "false"})
        assert (status, light["status"], light["output"]) == (200, "completed", EMPTY)
        status, full, _ = await api.call("GET", path)
        assert full["output"] == {"pages": ["hello"], "text": "hello"}


async def test_failure_marker_fails_the_parse(api: Api) -> None:
    record = await create(api, doc("[[retab:fail]]"))
    assert (record["status"], record["output"]) == ("failed", EMPTY)
    assert record["error"]["details"]["stage"] == "parse"


@pytest.mark.retab_server(run_time=5.0)
async def test_cancel_delete_and_unknown_ids(api: Api, server: LocalRetab) -> None:
    created = await create(api, doc("x"), background=True)
    path = f"{BASE}/{created['id']}"
    status, cancelled, _ = await api.call("POST", path + "/cancel")
    assert (status, cancelled["status"], cancelled["output"]) == (200, "cancelled", EMPTY)
    assert (await api.call("POST", path + "/cancel"))[:2] == (200, cancelled)
    assert (await api.call("DELETE", path))[0] == 204
    status, answer, _ = await api.call("GET", path)
    assert status == 404 and answer["detail"]["message"] == f"Parse {created['id']} not found"
    assert server.runs == []


@pytest.mark.parametrize(
    ("extra", "loc"),
    [
        ({"table_parsing_format": "xml"}, ["body", "table_parsing_format"]),
        ({"n_consensus": 2}, ["body", "n_consensus"]),
        ({"json_schema": {}}, ["body", "json_schema"]),
    ],
)
async def test_bad_bodies_are_422(api: Api, extra: dict[str, Any], loc: list[Any]) -> None:
    status, answer, _ = await api.call("POST", BASE, json={"document": doc("x"), **extra})
    assert status == 422 and json.loads(answer["message"])[0]["loc"] == loc


@pytest.mark.retab_server(run_time=5.0)
async def test_list_has_no_status_filter(api: Api) -> None:
    first = await create(api, doc("a", "Report-1.txt"), background=True)
    second = await create(api, doc("b", "memo.txt"), background=True)
    assert (await api.call("POST", f"{BASE}/{first['id']}/cancel"))[0] == 200

    async def ids(**params: str) -> list[str]:
        status, page, _ = await api.call("GET", BASE, params=params)
        assert status == 200, page
        return [row["id"] for row in page["data"]]

    both = [second["id"], first["id"]]
    assert await ids() == both
    assert await ids(status="cancelled") == both  # not a parse filter: ignored, as by the API
    assert await ids(filename="report") == [first["id"]]
    assert await ids(order="asc", limit="1") == [first["id"]]
    status, _, _ = await api.call("GET", BASE, params={"from_date": "yesterday"})
    assert status == 400
