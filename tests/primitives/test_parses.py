"""client.parses: every endpoint, against the local server."""

from __future__ import annotations

import pytest

from retab_async import NotFoundError, Parse, RetabClient, UsageError
from retab_async.testing import LocalRetab

PAGES = ("report.txt", b"first page\fsecond page")
TABLE = ("table.csv", b"name,qty\nbolts,3\nnuts,5\n")


async def test_sync_parse_splits_pages_on_form_feeds(
    client: RetabClient, server: LocalRetab
) -> None:
    record = await client.parses.create(PAGES)
    assert isinstance(record, Parse) and record.status == "completed"
    output = record.require_output()
    assert output.pages == ["first page", "second page"]
    assert "first page" in output.text and "second page" in output.text
    sent = server.requests[0].json()
    assert sent["table_parsing_format"] == "html" and sent["background"] is False


async def test_table_parsing_format_is_sent_and_honoured(
    client: RetabClient, server: LocalRetab
) -> None:
    record = await client.parses.create(TABLE, table_parsing_format="markdown")
    assert server.requests[0].json()["table_parsing_format"] == "markdown"
    assert "| name" in record.require_output().text
    with pytest.raises(UsageError, match="table_parsing_format"):
        await client.parses.create(TABLE, table_parsing_format="latex")  # type: ignore[arg-type]


async def test_background_parse_get_list_delete(client: RetabClient) -> None:
    handle = await client.parses.start(PAGES)
    record = await handle.wait(timeout=10)
    assert record.pages == ["first page", "second page"]
    listed = [p.id async for p in client.parses.list(filename="report")]
    assert record.id in listed
    await client.parses.delete(record.id)
    with pytest.raises(NotFoundError):
        await client.parses.get(record.id)


async def test_parses_cannot_be_listed_by_status(client: RetabClient) -> None:
    with pytest.raises(TypeError):
        client.parses.list(status="completed")  # type: ignore[call-arg]


async def test_cancel_is_idempotent(client: RetabClient) -> None:
    handle = await client.parses.start(PAGES)
    first = await client.parses.cancel(handle.id)
    second = await client.parses.cancel(handle.id)
    assert first.status == second.status
