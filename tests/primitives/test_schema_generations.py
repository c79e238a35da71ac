"""client.schemas: generate, start, get, cancel, run, map and tokens, against the local server."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

import retab_async._documents
from retab_async import (
    BatchItem,
    PollPolicy,
    RetabClient,
    RunFailed,
    SchemaGeneration,
    Schemas,
    UsageError,
)
from retab_async.testing import FAIL_MARKER, FaultConfig, LocalRetab

from ..conftest import make_client

INVOICE = ("invoice.txt", b"Invoice number: 42\nTotal: 12.50\nIssued: 2026-01-02\n")
RECEIPT = ("receipt.txt", b"Invoice number: 43\nTotal: 7\nPaid: yes\n")


async def test_generate_sends_every_document_and_returns_the_schema(
    client: RetabClient, server: LocalRetab
) -> None:
    record = await client.schemas.generate([INVOICE, RECEIPT], instructions="invoices")
    assert isinstance(record, SchemaGeneration) and record.status == "completed"
    schema = record.require_output()
    assert schema is record.json_schema and schema["description"] == "invoices"
    assert list(schema["properties"]) == ["invoice_number", "total", "issued", "paid"]
    sent = server.requests[0]
    assert sent.path == "/v1/schemas/generate"
    body = sent.json()
    assert [d["filename"] for d in body["documents"]] == ["invoice.txt", "receipt.txt"]
    assert body["model"] == "retab-small" and body["background"] is False
    assert body["instructions"] == "invoices"
    assert "instructions" not in (await _body_of(client, server))


async def _body_of(client: RetabClient, server: LocalRetab) -> dict[str, object]:
    await client.schemas.generate([INVOICE])
    body: dict[str, object] = server.requests[-1].json()
    return body


@pytest.mark.parametrize(
    ("documents", "match"),
    [
        ([], "at least one document"),
        ("invoice.txt", "list of documents"),
        (INVOICE, "list of documents"),
        (Path("invoice.txt"), "list of documents"),
        (None, "list of documents"),
    ],
)
async def test_bad_documents_are_refused_before_sending(
    client: RetabClient, server: LocalRetab, documents: object, match: str
) -> None:
    with pytest.raises(UsageError, match=match):
        await client.schemas.generate(documents)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=match):
        await client.schemas.start(documents)  # type: ignore[arg-type]
    assert server.requests == []


async def test_bad_options_are_refused_before_sending(
    client: RetabClient, server: LocalRetab
) -> None:
    with pytest.raises(UsageError, match="model"):
        await client.schemas.generate([INVOICE], model="")
    with pytest.raises(UsageError, match="instructions"):
        await client.schemas.generate([INVOICE], instructions=3)  # type: ignore[arg-type]
    assert server.requests == []


@pytest.mark.retab_server(run_time=0.05)
async def test_start_wait_get_cancel(client: RetabClient, server: LocalRetab) -> None:
    handle = await client.schemas.start([INVOICE])
    assert handle.primitive.name == "schemas"
    record = await handle.wait(timeout=10)
    assert record.json_schema is not None and "total" in record.json_schema["properties"]
    light = await client.schemas.get(handle.id, include_output=False)
    assert light.status == "completed" and light.json_schema is None  # the server's {}
    assert (await client.schemas.get(handle.id)).json_schema == record.json_schema
    assert (await client.schemas.cancel(handle.id)).status == "completed"  # terminal: unchanged
    await handle.cancel()
    assert handle.status == "completed"
    paths = {r.path for r in server.requests}
    assert paths <= {"/v1/schemas/generate", f"/v1/schemas/generate/{handle.id}"} | {
        f"/v1/schemas/generate/{handle.id}/cancel"
    }


@pytest.mark.retab_server(run_time=30.0)
async def test_cancel_in_flight_and_run_block(client: RetabClient, server: LocalRetab) -> None:
    handle = await client.schemas.start([INVOICE])
    cancelled = await client.schemas.cancel(handle.id)
    assert cancelled.status == "cancelled" and cancelled.json_schema is None
    with pytest.raises(RuntimeError, match="boom"):
        async with client.schemas.run([RECEIPT]) as running:
            raise RuntimeError("boom")
    assert {run.id: run.status for run in server.runs}[running.id] == "cancelled"


async def test_a_failed_run_raises_run_failed(client: RetabClient) -> None:
    handle = await client.schemas.start([INVOICE, ("bad.txt", FAIL_MARKER)])
    with pytest.raises(RunFailed) as caught:
        await handle.wait(timeout=10)
    assert caught.value.error is not None
    assert caught.value.error.code == "DOCUMENT_UNREADABLE"


async def test_a_token_resumes_the_run_in_a_fresh_client(server: LocalRetab) -> None:
    async with make_client(server) as first:
        handle = await first.schemas.start([INVOICE])
        token = handle.token
    async with make_client(server) as second:
        resumed = second.resume(token)
        assert resumed.primitive.name == "schemas" and resumed.id == handle.id
        record = await resumed.wait(timeout=10)
    assert isinstance(record, SchemaGeneration) and record.json_schema is not None


@pytest.mark.retab_server(run_time=0.05)
async def test_many_runs_are_watched_by_gets_only(server: LocalRetab) -> None:
    # Told to poll by list rounds, the poller still has no list to read for these.
    policy = PollPolicy(strategy="list", min_interval=0.005, max_interval=0.02, list_min_runs=2)
    async with make_client(server, poll=policy) as client:
        handles = [await client.schemas.start([INVOICE]) for _ in range(8)]
        async with anyio.create_task_group() as tg:
            for handle in handles:
                tg.start_soon(handle.wait, 10)
        assert client.poller.stats.list_rounds == 0
    assert server.by_operation("list") == [] and server.by_operation("get")


def test_no_list_and_no_delete() -> None:
    for name in ("list", "list_page", "delete"):
        assert not hasattr(Schemas, name), name


async def test_map_generates_one_schema_per_set_and_resumes_from_a_checkpoint(
    client: RetabClient, server: LocalRetab, tmp_path: Path
) -> None:
    sets = [BatchItem("invoices", [INVOICE]), BatchItem("both", [INVOICE, RECEIPT])]
    journal = tmp_path / "schemas.jsonl"
    async with client.schemas.map(sets, checkpoint=journal) as batch:
        results = {r.key: r async for r in batch}
    assert all(r.ok for r in results.values())
    both = results["both"].require_record().require_output()
    assert "paid" in both["properties"]
    creates = len(server.by_operation("create"))
    async with client.schemas.map(sets, checkpoint=journal) as again:
        resumed = [r async for r in again]
    assert all(r.from_checkpoint for r in resumed)
    assert len(server.by_operation("create")) == creates  # nothing sent again
    changed = [BatchItem("invoices", [RECEIPT]), BatchItem("both", [INVOICE, RECEIPT])]
    with pytest.raises(UsageError, match="invoices"):
        async with client.schemas.map(changed, checkpoint=journal) as stale:
            [r async for r in stale]


async def test_map_turns_a_bad_input_into_a_result(client: RetabClient) -> None:
    async with client.schemas.map([[INVOICE], []]) as batch:
        results = sorted([r async for r in batch], key=lambda r: r.key)
    assert [r.ok for r in results] == [True, False]
    assert isinstance(results[1].error, UsageError)


async def test_a_document_too_large_to_inline_is_uploaded_first(
    client: RetabClient, server: LocalRetab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retab_async._documents, "MAX_INLINE_BYTES", 64)
    big = tmp_path / "big.txt"
    big.write_bytes(b"Invoice number: 42\nTotal: 12.50\n" + b"Note: padding\n" * 10)
    record = await client.schemas.generate([big, INVOICE])
    assert "note" in record.require_output()["properties"]
    ops = [r.operation for r in server.requests]
    assert ops == ["upload", "upload_content", "complete_upload", "create"]
    sent = server.by_operation("create")[0].json()["documents"]
    assert sent[0]["url"].startswith("https://") and sent[1]["url"].startswith("data:")


async def test_faults_on_its_routes_are_retried_and_the_run_is_made_once(
    client: RetabClient, server: LocalRetab
) -> None:
    # A dropped answer to the create, then a 503 on a poll: the create's key replays it.
    server.set_faults(FaultConfig(disconnect=1.0, operations=["create"], limit=1))
    handle = await client.schemas.start([INVOICE])
    server.set_faults(FaultConfig(server_error=1.0, operations=["get"], limit=1))
    record = await handle.wait(timeout=10)
    assert record.json_schema is not None
    assert len(server.runs) == 1 and len(server.by_operation("create")) == 2
    assert server.state.faults_injected == 1  # counted since the second set_faults
