"""client.partitions: every endpoint against the local server, over loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from retab_async import (
    NotFoundError,
    Partition,
    RetabClient,
    RunCancelled,
    RunFailed,
    UsageError,
)
from retab_async.testing import FAIL_MARKER, LocalRetab

LEDGER = (
    "ledger.txt",
    b"Statement\fInvoice number: INV-1\nTotal: 30\fnotes\fInvoice number: INV-2\n"
    b"Invoice number: INV-3\fInvoice number: inv-1",
)
KEY, INSTRUCTIONS = "invoice number", "One chunk per invoice."


async def test_sync_partition_has_a_chunk_per_value(
    client: RetabClient, server: LocalRetab
) -> None:
    record = await client.partitions.create(LEDGER, KEY, INSTRUCTIONS)
    assert isinstance(record, Partition) and record.status == "completed"
    assert [(c.key, c.pages) for c in record.require_output()] == [
        ("INV-1", [1, 2, 3, 5]),
        ("INV-2", [4]),
        ("INV-3", [4]),  # pages may overlap by default
    ]
    assert record.key == KEY and record.instructions == INSTRUCTIONS and record.allow_overlap
    sent = server.requests[0].json()
    assert sent["key"] == KEY and sent["instructions"] == INSTRUCTIONS
    assert sent["allow_overlap"] is True and sent["n_consensus"] == 1
    assert sent["background"] is False and sent["model"] == "retab-small"


async def test_without_overlap_a_page_has_one_chunk(client: RetabClient) -> None:
    record = await client.partitions.create(LEDGER, KEY, INSTRUCTIONS, allow_overlap=False)
    assert record.allow_overlap is False
    assert record.pages_of("INV-2") == [4] and record.pages_of("INV-3") == []


async def test_consensus_has_a_choice_per_vote_and_a_likelihood_per_chunk(
    client: RetabClient,
) -> None:
    record = await client.partitions.create(LEDGER, KEY, INSTRUCTIONS, n_consensus=5)
    consensus = record.consensus
    assert consensus is not None and consensus.choices is not None and len(consensus.choices) == 5
    chunks = record.require_output()
    assert consensus.likelihoods is not None and len(consensus.likelihoods) == len(chunks)
    for chunk, likely in zip(chunks, consensus.likelihoods, strict=True):
        assert likely.pages is not None and len(likely.pages) == len(chunk.pages)


async def test_bad_input_is_refused_before_sending(client: RetabClient, server: LocalRetab) -> None:
    with pytest.raises(UsageError, match="key must be a non-empty string"):
        await client.partitions.create(LEDGER, " ", INSTRUCTIONS)
    with pytest.raises(UsageError, match="instructions must be a string"):
        await client.partitions.start(LEDGER, KEY, None)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="n_consensus"):
        client.partitions.map([LEDGER], KEY, INSTRUCTIONS, n_consensus=17)
    with pytest.raises(UsageError, match="allow_overlap"):
        client.partitions.run(LEDGER, KEY, INSTRUCTIONS, allow_overlap=None)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="from_date"):
        client.partitions.list(from_date="yesterday")
    assert server.requests == []


async def test_background_partition_get_list_filters_delete(
    client: RetabClient, server: LocalRetab
) -> None:
    handle = await client.partitions.start(LEDGER, KEY, INSTRUCTIONS)
    assert handle.primitive.name == "partitions" and handle.id.startswith("prtn_")
    record = await handle.wait(timeout=10)
    assert record.pages_of("INV-1") == [1, 2, 3, 5]
    other = await client.partitions.create(("memo.txt", b"no keys here"), KEY, INSTRUCTIONS)
    assert other.require_output() == []  # the key is never named: no chunks
    assert [p.id async for p in client.partitions.list(filename="LEDGER")] == [record.id]
    listed = [p.id async for p in client.partitions.list(status="completed", to_date="2999-12-31")]
    assert listed == [other.id, record.id]
    assert [p.id async for p in client.partitions.list(status="cancelled")] == []
    query = server.by_operation("list")[1].query
    assert ("status", "completed") in query and ("to_date", "2999-12-31") in query
    page = await client.partitions.list_page(limit=1)
    assert [p.id for p in page.data] == [other.id] and page.next_cursor is not None
    await client.partitions.delete(record.id)
    with pytest.raises(NotFoundError):
        await client.partitions.get(record.id)


@pytest.mark.retab_server(run_time=5.0)
async def test_cancel_is_idempotent_and_wait_raises_run_cancelled(client: RetabClient) -> None:
    handle = await client.partitions.start(LEDGER, KEY, INSTRUCTIONS)
    first = await client.partitions.cancel(handle.id)
    second = await client.partitions.cancel(handle.id)
    assert first.status == second.status == "cancelled" and first.output is None
    with pytest.raises(RunCancelled):
        await handle.wait(timeout=10)


async def test_a_failed_partition_raises_run_failed(client: RetabClient) -> None:
    handle = await client.partitions.start(("bad.txt", b"x " + FAIL_MARKER), KEY, INSTRUCTIONS)
    with pytest.raises(RunFailed):
        await handle.wait(timeout=10)


async def test_run_block_resume_and_map(client: RetabClient) -> None:
    async with client.partitions.run(LEDGER, KEY, INSTRUCTIONS) as handle:
        record = await handle.wait(timeout=10)
    resumed = await client.resume(handle.token).wait(timeout=10)
    assert isinstance(resumed, Partition) and resumed.id == record.id
    documents = [LEDGER, ("one.txt", b"Invoice number: A\fmore")]
    async with client.partitions.map(documents, KEY, INSTRUCTIONS, concurrency=2) as results:
        found = {r.key: r.record async for r in results}
    one = found["one.txt"]
    assert one is not None and one.pages_of("A") == [1, 2]


async def test_a_checkpointed_batch_resumes_and_refuses_another_key(
    client: RetabClient, server: LocalRetab, tmp_path: Path
) -> None:
    journal = tmp_path / "partitions.jsonl"
    documents = [LEDGER, ("one.txt", b"Invoice number: A")]
    async with client.partitions.map(documents, KEY, INSTRUCTIONS, checkpoint=journal) as results:
        first = {r.key: r.run_id async for r in results}
    creates = len(server.by_operation("create"))
    async with client.partitions.map(documents, KEY, INSTRUCTIONS, checkpoint=journal) as results:
        again = [r async for r in results]
    assert all(r.from_checkpoint and r.ok for r in again)
    assert {r.key: r.run_id for r in again} == first
    assert len(server.by_operation("create")) == creates  # nothing started twice
    with pytest.raises(UsageError, match="checkpoint"):
        async with client.partitions.map(documents, "patient", "x", checkpoint=journal) as results:
            [r async for r in results]
