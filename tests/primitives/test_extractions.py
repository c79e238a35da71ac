"""client.extractions: every endpoint, the stream and the sources, against the local server."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import msgspec
import pytest

from retab_async import (
    Extraction,
    ExtractionPartial,
    NotFoundError,
    OutputValidationError,
    RetabClient,
    RunFailed,
    UsageError,
)
from retab_async.testing import FAIL_MARKER, LocalRetab

from ..conftest import INVOICE, RECEIPT

SCHEMA = {
    "type": "object",
    "properties": {
        "number": {"type": "integer"},
        "currency": {"type": "string"},
        "paid": {"type": "boolean"},
    },
    "required": ["number", "currency", "paid"],
}


class Invoice(msgspec.Struct):
    number: int
    currency: str
    paid: bool


class WrongShape(msgspec.Struct):
    number: str


async def test_sync_create_sends_the_schema_and_returns_an_object(
    client: RetabClient, server: LocalRetab
) -> None:
    record = await client.extractions.create(INVOICE, SCHEMA)
    assert isinstance(record, Extraction)
    assert record.status == "completed"
    output = record.require_output()
    assert set(output) == {"number", "currency", "paid"}
    assert isinstance(output["number"], int)
    sent = server.requests[0].json()
    assert sent["json_schema"] == SCHEMA
    assert sent["background"] is False and sent["stream"] is False
    assert sent["model"] == "retab-small" and sent["n_consensus"] == 1


async def test_the_schema_may_be_a_struct_type_or_a_file(
    client: RetabClient, server: LocalRetab, tmp_path: Path
) -> None:
    from_type = await client.extractions.create(INVOICE, Invoice)
    assert from_type.output_as(Invoice).currency == from_type.require_output()["currency"]
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(SCHEMA))
    from_file = await client.extractions.create(INVOICE, path)
    assert server.requests[-1].json()["json_schema"] == SCHEMA
    assert from_file.output_as(Invoice).number == from_file.require_output()["number"]


async def test_output_as_names_the_field_that_does_not_fit(client: RetabClient) -> None:
    record = await client.extractions.create(INVOICE, SCHEMA)
    with pytest.raises(OutputValidationError) as caught:
        record.output_as(WrongShape)
    assert caught.value.path == "$.number"


async def test_bad_schemas_are_refused_before_sending(
    client: RetabClient, server: LocalRetab, tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match=r"missing\.json"):
        await client.extractions.create(INVOICE, tmp_path / "missing.json")
    with pytest.raises(UsageError, match="object"):
        await client.extractions.create(INVOICE, {"type": "string"})
    with pytest.raises(UsageError, match="n_consensus"):
        await client.extractions.create(INVOICE, SCHEMA, n_consensus=0)
    assert server.requests == []


async def test_background_run_waits_through_the_shared_poller(
    client: RetabClient, server: LocalRetab
) -> None:
    handle = await client.extractions.start(INVOICE, SCHEMA, metadata={"batch": "7"})
    assert handle.primitive.name == "extractions"
    record = await handle.wait(timeout=10)
    assert record.status == "completed" and record.output is not None
    assert server.by_operation("create")[0].json()["metadata"] == {"batch": "7"}
    again = await client.resume(handle.token).wait(timeout=10)
    assert again.id == record.id


async def test_a_failed_run_raises_run_failed(client: RetabClient) -> None:
    failing = ("bad.txt", f"broken {FAIL_MARKER}".encode())
    handle = await client.extractions.start(failing, SCHEMA)
    with pytest.raises(RunFailed):
        await handle.wait(timeout=10)


async def test_get_cancel_delete(client: RetabClient) -> None:
    handle = await client.extractions.start(RECEIPT, SCHEMA)
    fetched = await client.extractions.get(handle.id, include_output=False)
    assert fetched.id == handle.id and fetched.output is None
    cancelled = await client.extractions.cancel(handle.id)
    assert cancelled.status in ("cancelled", "completed")
    await client.extractions.delete(handle.id)
    with pytest.raises(NotFoundError):
        await client.extractions.get(handle.id)


async def test_list_sends_every_filter(client: RetabClient, server: LocalRetab) -> None:
    await client.extractions.create(INVOICE, SCHEMA, metadata={"team": "a"})
    await client.extractions.create(RECEIPT, SCHEMA, metadata={"team": "b"})
    found = [
        e
        async for e in client.extractions.list(
            status="completed",
            filename_contains="invoice",
            document_type=["txt", "pdf"],
            metadata={"team": "a"},
            from_date="2000-01-01",
        )
    ]
    assert [e.file.filename for e in found if e.file is not None] == ["invoice.txt"]
    query = server.by_operation("list")[-1].query
    assert ("document_type", "txt") in query and ("document_type", "pdf") in query
    assert ("metadata", '{"team":"a"}') in query
    assert ("filename_contains", "invoice") in query
    page = await client.extractions.list_page(limit=1)
    assert len(page.data) == 1 and page.list_metadata.after is not None


async def test_sources_name_where_each_value_was_found(client: RetabClient) -> None:
    record = await client.extractions.create(INVOICE, SCHEMA)
    sources = await client.extractions.sources(record.id)
    assert sources.extraction_id == record.id
    assert set(sources.extraction) == set(record.require_output())


async def test_stream_yields_partials_then_the_final_record(
    client: RetabClient, server: LocalRetab
) -> None:
    events = []
    async with client.extractions.stream(INVOICE, SCHEMA) as stream:
        async for event in stream:
            events.append(event)
    assert events and all(isinstance(e, ExtractionPartial) for e in events[:-1])
    final = events[-1]
    assert isinstance(final, Extraction) and final.status == "completed"
    sent = server.by_operation("stream")[0].json() if server.by_operation("stream") else None
    assert sent is None or sent["stream"] is True


async def test_leaving_a_stream_early_releases_its_connection(
    client: RetabClient, server: LocalRetab
) -> None:
    async with client.extractions.stream(INVOICE, SCHEMA) as stream:
        async for _ in stream:
            break
    # The connection went back: the client still works and closes without a leak warning.
    record = await client.extractions.create(RECEIPT, SCHEMA)
    assert record.status == "completed"


async def test_a_cancelled_stream_releases_its_connection(client: RetabClient) -> None:
    with anyio.move_on_after(0.001):
        async with client.extractions.stream(INVOICE, SCHEMA) as stream:
            async for _ in stream:
                await anyio.sleep(10)
    record = await client.extractions.create(RECEIPT, SCHEMA)
    assert record.status == "completed"


async def test_map_runs_a_batch_of_extractions(client: RetabClient) -> None:
    async with client.extractions.map([INVOICE, RECEIPT], SCHEMA, concurrency=2) as results:
        outcomes = {r.key: r.ok async for r in results}
    assert outcomes == {"invoice.txt": True, "receipt.txt": True}
