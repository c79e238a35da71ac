"""client.splits: every endpoint against the local server, over loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from retab_async import (
    NotFoundError,
    RetabClient,
    RunCancelled,
    RunFailed,
    Split,
    Subdocument,
    UsageError,
)
from retab_async.testing import FAIL_MARKER, LocalRetab

BUNDLE = (
    "bundle.txt",
    b"INVOICE 1\nAmount due: 300 EUR\fcontinued: thank you\fBank statement\nBalance: 20"
    b"\fInvoice 2\nAmount due: 20 EUR",
)
SUBDOCUMENTS = [
    Subdocument(name="invoice", allow_multiple_instances=True),
    {"name": "bank_statement", "description": "balance and transactions"},
]


async def test_sync_split_finds_each_subdocument_with_its_pages(
    client: RetabClient, server: LocalRetab
) -> None:
    record = await client.splits.create(BUNDLE, SUBDOCUMENTS)
    assert isinstance(record, Split) and record.status == "completed"
    assert [(r.name, r.pages) for r in record.require_output()] == [
        ("invoice", [1, 2]),
        ("bank_statement", [3]),
        ("invoice", [4]),
    ]
    assert record.pages_of("invoice") == [[1, 2], [4]] and record.consensus is None
    sent = server.requests[0].json()
    assert sent["subdocuments"] == [
        {"name": "invoice", "description": "", "allow_multiple_instances": True},
        {
            "name": "bank_statement",
            "description": "balance and transactions",
            "allow_multiple_instances": False,
        },
    ]
    assert sent["background"] is False and sent["n_consensus"] == 1
    assert sent["model"] == "retab-small" and "instructions" not in sent


async def test_consensus_has_a_choice_per_vote_and_a_likelihood_per_entry(
    client: RetabClient,
) -> None:
    record = await client.splits.create(
        BUNDLE, SUBDOCUMENTS, n_consensus=4, instructions="One invoice per heading."
    )
    consensus = record.consensus
    assert consensus is not None and consensus.choices is not None
    assert len(consensus.choices) == 4
    likelihoods = consensus.likelihoods
    assert likelihoods is not None and len(likelihoods) == len(record.require_output())
    for entry, likely in zip(record.require_output(), likelihoods, strict=True):
        assert likely.pages is not None and len(likely.pages) == len(entry.pages)
        assert likely.name is not None and 0.0 < likely.name <= 1.0
    assert record.instructions == "One invoice per heading." and record.n_consensus == 4


async def test_bad_input_is_refused_before_sending(client: RetabClient, server: LocalRetab) -> None:
    with pytest.raises(UsageError, match="must not be empty"):
        await client.splits.create(BUNDLE, [])
    with pytest.raises(UsageError, match="'invoice' is listed twice"):
        await client.splits.start(BUNDLE, ["invoice", {"name": "invoice"}])
    with pytest.raises(UsageError, match="blank name"):
        client.splits.map([BUNDLE], ["invoice", ""])
    with pytest.raises(UsageError, match="n_consensus"):
        client.splits.run(BUNDLE, ["invoice"], n_consensus=0)
    with pytest.raises(UsageError, match="status"):
        client.splits.list(status="done")
    assert server.requests == []


async def test_background_split_get_list_filters_delete(
    client: RetabClient, server: LocalRetab
) -> None:
    handle = await client.splits.start(BUNDLE, SUBDOCUMENTS)
    assert handle.primitive.name == "splits" and handle.id.startswith("splt_")
    record = await handle.wait(timeout=10)
    assert record.pages_of("bank_statement") == [[3]]
    other = await client.splits.create(("memo.txt", b"a memo"), ["memo"])
    light = await client.splits.get(record.id, include_output=False)
    assert light.status == "completed" and light.output == []  # D15: the placeholder
    assert [s.id async for s in client.splits.list(filename="BUND")] == [record.id]
    listed = [s.id async for s in client.splits.list(status="completed", from_date="2000-01-01")]
    assert listed == [other.id, record.id]
    assert [s.id async for s in client.splits.list(status="failed")] == []
    assert [s.id async for s in client.splits.list(to_date="2000-01-01")] == []
    query = server.by_operation("list")[1].query
    assert ("status", "completed") in query and ("from_date", "2000-01-01") in query
    page = await client.splits.list_page(limit=1, order="asc")
    assert [s.id for s in page.data] == [record.id] and page.next_cursor is not None
    await client.splits.delete(record.id)
    with pytest.raises(NotFoundError):
        await client.splits.get(record.id)


@pytest.mark.retab_server(run_time=5.0)
async def test_cancel_is_idempotent_and_wait_raises_run_cancelled(client: RetabClient) -> None:
    handle = await client.splits.start(BUNDLE, SUBDOCUMENTS)
    first = await client.splits.cancel(handle.id)
    second = await client.splits.cancel(handle.id)
    assert first.status == second.status == "cancelled" and first.output is None
    with pytest.raises(RunCancelled):
        await handle.wait(timeout=10)


async def test_a_failed_split_raises_run_failed(client: RetabClient) -> None:
    failing = ("bad.txt", b"broken " + FAIL_MARKER)
    handle = await client.splits.start(failing, ["invoice"])
    with pytest.raises(RunFailed) as caught:
        await handle.wait(timeout=10)
    assert caught.value.error is not None and caught.value.error.code


async def test_run_block_and_resume_token(client: RetabClient) -> None:
    async with client.splits.run(BUNDLE, ["invoice"]) as handle:
        record = await handle.wait(timeout=10)
    assert record.pages_of("invoice") == [[1, 2, 3, 4]]
    resumed = await client.resume(handle.token).wait(timeout=10)
    assert isinstance(resumed, Split) and resumed.id == record.id


@pytest.mark.retab_server(run_time=5.0)
async def test_leaving_a_run_block_by_an_error_cancels_the_split(client: RetabClient) -> None:
    with pytest.raises(LookupError):
        async with client.splits.run(BUNDLE, ["invoice"]) as handle:
            raise LookupError
    assert (await client.splits.get(handle.id)).status == "cancelled"


async def test_map_splits_a_batch(client: RetabClient) -> None:
    documents = [BUNDLE, ("memo.txt", b"memo\fmore memo")]
    async with client.splits.map(documents, SUBDOCUMENTS, concurrency=2) as results:
        outcomes = {r.key: r.record async for r in results}
    assert set(outcomes) == {"bundle.txt", "memo.txt"}
    memo = outcomes["memo.txt"]
    assert memo is not None and memo.pages_of("invoice") == [[1, 2]]  # nothing named: the first


async def test_a_checkpointed_batch_resumes_and_refuses_other_subdocuments(
    client: RetabClient, server: LocalRetab, tmp_path: Path
) -> None:
    journal = tmp_path / "splits.jsonl"
    documents = [BUNDLE, ("memo.txt", b"memo")]
    async with client.splits.map(documents, SUBDOCUMENTS, checkpoint=journal) as results:
        first = {r.key: r.run_id async for r in results}
    creates = len(server.by_operation("create"))
    async with client.splits.map(documents, SUBDOCUMENTS, checkpoint=journal) as results:
        again = [r async for r in results]
    assert all(r.from_checkpoint and r.ok for r in again)
    assert {r.key: r.run_id for r in again} == first
    assert len(server.by_operation("create")) == creates  # nothing started twice
    with pytest.raises(UsageError, match="checkpoint"):
        async with client.splits.map(documents, ["letter"], checkpoint=journal) as results:
            [r async for r in results]
