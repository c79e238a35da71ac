"""client.file_blueprints: create, start, get, cancel, run, map and tokens, against the
local server (files are uploaded to it over plain HTTP first)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import anyio
import pytest

import retab_async._documents
from retab_async import (
    BatchItem,
    FileBlueprint,
    FileBlueprints,
    FileRef,
    NotFoundError,
    PollPolicy,
    RetabClient,
    RunFailed,
    UsageError,
)
from retab_async.testing import FAIL_MARKER, FaultConfig, LocalRetab

from ..conftest import make_client

TEXT = b"Invoice number: 42\nTotal: 12.50\fShip to: Lyon\n"


async def upload(server: LocalRetab, content: bytes = TEXT, filename: str = "inv.txt") -> str:
    """Upload ``content`` to the local server (reserve, PUT, complete); its file id."""
    auth = {"Authorization": f"Bearer {server.api_key}"}
    base = server.base_url
    async with aiohttp.ClientSession(headers=auth) as session:
        body = {"filename": filename, "size_bytes": len(content)}
        async with session.post(f"{base}/v1/files/upload", json=body) as resp:
            reserved = await resp.json()
        async with session.put(reserved["uploadUrl"], data=content) as resp:
            assert resp.status == 200
        file_id: str = reserved["fileId"]
        async with session.post(f"{base}/v1/files/upload/{file_id}/complete") as resp:
            assert resp.status == 200
    return file_id


async def test_create_sends_the_file_id_and_returns_the_blueprint(
    client: RetabClient, server: LocalRetab
) -> None:
    file_id = await upload(server)
    record = await client.file_blueprints.create(file_id, intent="invoices", mode="instant")
    assert isinstance(record, FileBlueprint) and record.status == "completed"
    assert record.object == "file.blueprint" and record.file is not None
    assert record.file.id == file_id and record.file.filename == "inv.txt"
    assert record.intent == "invoices" and record.mode == "instant"
    assert record.started_at and record.completed_at
    output = record.require_output()
    assert output["page_count"] == 2
    assert [f["name"] for f in output["fields"]] == ["invoice_number", "total", "ship_to"]
    sent = server.by_operation("create")[-1]
    assert sent.path == "/v1/files/blueprints"
    assert sent.json() == {
        "file_id": file_id,
        "intent": "invoices",
        "mode": "instant",
        "background": False,
    }


async def test_a_file_record_or_ref_names_its_file(client: RetabClient, server: LocalRetab) -> None:
    file_id = await upload(server)
    ref = FileRef(id=file_id, filename="inv.txt", mime_type="text/plain")
    record = await client.file_blueprints.create(ref)
    assert record.file is not None and record.file.id == file_id
    assert server.by_operation("create")[-1].json() == {"file_id": file_id, "background": False}


@pytest.mark.parametrize("file_id", ["", "a/b", "file 1", "../x", 42, None, Path("inv.txt")])
async def test_a_malformed_file_id_is_refused_before_sending(
    client: RetabClient, server: LocalRetab, file_id: object
) -> None:
    with pytest.raises(UsageError, match="file_id"):
        await client.file_blueprints.create(file_id)
    with pytest.raises(UsageError, match="file_id"):
        await client.file_blueprints.start(file_id)
    assert server.requests == []


async def test_bad_options_are_refused_before_sending(
    client: RetabClient, server: LocalRetab
) -> None:
    with pytest.raises(UsageError, match="mode"):
        await client.file_blueprints.create("file_1", mode="deep")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="intent"):
        await client.file_blueprints.create("file_1", intent=3)  # type: ignore[arg-type]
    assert server.requests == []


async def test_an_unknown_file_is_not_found(client: RetabClient) -> None:
    with pytest.raises(NotFoundError, match="file_000000000000 not found"):
        await client.file_blueprints.create("file_000000000000")
    with pytest.raises(NotFoundError):
        await client.file_blueprints.start("file_000000000000")


@pytest.mark.retab_server(run_time=0.05)
async def test_start_wait_get_cancel(client: RetabClient, server: LocalRetab) -> None:
    file_id = await upload(server)
    handle = await client.file_blueprints.start(file_id)
    assert handle.primitive.name == "file_blueprints"
    record = await handle.wait(timeout=10)
    assert record.output is not None and record.output["page_count"] == 2
    light = await client.file_blueprints.get(handle.id, include_output=False)
    assert light.status == "completed" and light.output is None  # the server's {}
    assert (await client.file_blueprints.get(handle.id)).output == record.output
    assert (await client.file_blueprints.cancel(handle.id)).status == "completed"


@pytest.mark.retab_server(run_time=30.0)
async def test_cancel_in_flight_and_run_block(client: RetabClient, server: LocalRetab) -> None:
    file_id = await upload(server)
    handle = await client.file_blueprints.start(file_id)
    cancelled = await client.file_blueprints.cancel(handle.id)
    assert cancelled.status == "cancelled" and cancelled.output is None
    assert cancelled.completed_at is not None
    with pytest.raises(RuntimeError, match="boom"):
        async with client.file_blueprints.run(file_id) as running:
            raise RuntimeError("boom")
    assert {run.id: run.status for run in server.runs}[running.id] == "cancelled"


async def test_a_failed_run_raises_run_failed(client: RetabClient, server: LocalRetab) -> None:
    file_id = await upload(server, b"Total: 1\n" + FAIL_MARKER)
    handle = await client.file_blueprints.start(file_id)
    with pytest.raises(RunFailed) as caught:
        await handle.wait(timeout=10)
    assert caught.value.error is not None and caught.value.error.code == "DOCUMENT_UNREADABLE"


async def test_a_token_resumes_the_run_in_a_fresh_client(server: LocalRetab) -> None:
    file_id = await upload(server)
    async with make_client(server) as first:
        handle = await first.file_blueprints.start(file_id)
        token = handle.token
    async with make_client(server) as second:
        resumed = second.resume(token)
        assert resumed.primitive.name == "file_blueprints" and resumed.id == handle.id
        record = await resumed.wait(timeout=10)
    assert isinstance(record, FileBlueprint) and record.output is not None


@pytest.mark.retab_server(run_time=0.05)
async def test_many_runs_are_watched_by_gets_only(server: LocalRetab) -> None:
    file_id = await upload(server)
    policy = PollPolicy(strategy="list", min_interval=0.005, max_interval=0.02, list_min_runs=2)
    async with make_client(server, poll=policy) as client:
        handles = [await client.file_blueprints.start(file_id) for _ in range(8)]
        async with anyio.create_task_group() as tg:
            for handle in handles:
                tg.start_soon(handle.wait, 10)
        assert client.poller.stats.list_rounds == 0
    assert server.by_operation("list") == [] and server.by_operation("get")


def test_no_list_and_no_delete() -> None:
    for name in ("list", "list_page", "delete"):
        assert not hasattr(FileBlueprints, name), name


async def test_map_makes_one_blueprint_per_file_and_resumes_from_a_checkpoint(
    client: RetabClient, server: LocalRetab, tmp_path: Path
) -> None:
    first = await upload(server)
    second = await upload(server, b"Name: Ada\n", "person.txt")
    journal = tmp_path / "blueprints.jsonl"
    inputs = [first, BatchItem("person", second), "bad/id"]  # type: ignore[arg-type]
    async with client.file_blueprints.map(inputs, checkpoint=journal) as batch:
        results = {r.key: r async for r in batch}
    assert results[first].ok and results["person"].ok
    assert results["person"].require_record().require_output()["fields"][0]["name"] == "name"
    assert isinstance(results["bad/id"].error, UsageError)
    creates = len(server.by_operation("create"))
    async with client.file_blueprints.map(
        [first, BatchItem("person", second)], checkpoint=journal
    ) as again:  # type: ignore[list-item]
        resumed = [r async for r in again]
    assert all(r.from_checkpoint for r in resumed)
    assert len(server.by_operation("create")) == creates


async def test_a_local_file_named_like_an_id_is_never_uploaded(
    client: RetabClient, server: LocalRetab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A blueprint's input is a file id, not a document: nothing is read or uploaded.
    monkeypatch.setattr(retab_async._documents, "MAX_INLINE_BYTES", 1)
    monkeypatch.chdir(tmp_path)
    Path("file_local").write_bytes(b"Total: 1\n" * 10)
    with pytest.raises(NotFoundError):
        await client.file_blueprints.create("file_local")
    assert [r.operation for r in server.requests] == ["create"]


async def test_faults_on_its_routes_are_retried_and_the_run_is_made_once(
    client: RetabClient, server: LocalRetab
) -> None:
    file_id = await upload(server)
    server.set_faults(FaultConfig(rate_limit=1.0, retry_after=0.0, operations=["create"], limit=1))
    record = await client.file_blueprints.create(file_id)
    assert record.status == "completed"
    assert len(server.runs) == 1 and len(server.by_operation("create")) == 2
