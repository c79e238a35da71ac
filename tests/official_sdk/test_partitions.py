"""The official ``retab`` SDK, unchanged, runs every partitions method (sync and async)
against the local server; its pydantic models validate each response."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

retab = pytest.importorskip("retab")

from retab.exceptions import NotFoundError  # noqa: E402
from retab.types.partitions import Partition  # noqa: E402

from retab_async.testing import FAIL_MARKER, LocalRetab  # noqa: E402

from .test_local_server import document  # noqa: E402

LEDGER = document(
    b"Invoice number: A\nTotal: 3\fcontinued\fInvoice number: B\nInvoice number: C", "ledger.txt"
)
KEY, INSTRUCTIONS = "invoice number", "One chunk per invoice."
TERMINAL = ("completed", "failed", "cancelled")
EXPECTED = [("A", [1, 2]), ("B", [3]), ("C", [3])]


@pytest.fixture
def official(retab_server: LocalRetab) -> Iterator[Any]:
    with retab.Retab(api_key=retab_server.api_key, base_url=retab_server.base_url) as client:
        yield client


def _chunks(record: Partition) -> list[tuple[str, list[int]]]:
    return [(chunk.key, chunk.pages or []) for chunk in record.output or []]


@pytest.mark.retab_server(run_time=0.05)
def test_partitions_sync(official: Any) -> None:
    partitions = official.partitions
    done = partitions.create(document=LEDGER, key=KEY, instructions=INSTRUCTIONS, n_consensus=3)
    assert isinstance(done, Partition) and done.status == "completed"
    assert _chunks(done) == EXPECTED and done.key == KEY and done.allow_overlap is True
    assert done.consensus is not None and len(done.consensus.choices or []) == 3
    assert len(done.consensus.likelihoods or []) == len(EXPECTED)
    apart = partitions.create(
        document=LEDGER, key=KEY, instructions=INSTRUCTIONS, allow_overlap=False
    )
    assert _chunks(apart) == [("A", [1, 2]), ("B", [3])] and apart.allow_overlap is False
    queued = partitions.create(document=LEDGER, key=KEY, instructions="", background=True)
    assert queued.status in ("queued", "pending", "in_progress") and queued.output == []
    assert partitions.get(queued.id, include_output=False).output == []
    deadline = time.monotonic() + 20
    record = partitions.get(queued.id)
    while record.status not in TERMINAL:
        assert time.monotonic() < deadline
        time.sleep(0.01)
        record = partitions.get(queued.id)
    assert record.status == "completed" and _chunks(record) == EXPECTED
    assert partitions.create_partition_cancel(queued.id).status == "completed"  # unchanged
    running = partitions.create(document=LEDGER, key=KEY, instructions="", background=True)
    assert partitions.create_partition_cancel(running.id).status in TERMINAL
    listed = partitions.list(status="completed", filename="ledger", to_date="2999-01-01")
    assert {row.id for row in listed.data} == {done.id, apart.id, queued.id}
    failed = partitions.create(
        document=document(b"x " + FAIL_MARKER), key=KEY, instructions=INSTRUCTIONS
    )
    assert failed.status == "failed" and failed.error is not None and failed.output == []
    partitions.delete(done.id)
    with pytest.raises(NotFoundError):
        partitions.get(done.id)


@pytest.mark.anyio
@pytest.mark.retab_server(run_time=0.05)
async def test_partitions_async(retab_server: LocalRetab) -> None:
    async with retab.AsyncRetab(
        api_key=retab_server.api_key, base_url=retab_server.base_url
    ) as client:
        partitions = client.partitions
        done = await partitions.create(document=LEDGER, key=KEY, instructions=INSTRUCTIONS)
        assert _chunks(done) == EXPECTED and done.consensus is None
        queued = await partitions.create(
            document=LEDGER, key=KEY, instructions=INSTRUCTIONS, background=True
        )
        with anyio.fail_after(20):
            record = await partitions.get(queued.id)
            while record.status not in TERMINAL:
                await anyio.sleep(0.01)
                record = await partitions.get(queued.id)
        assert _chunks(record) == EXPECTED
        assert (await partitions.create_partition_cancel(queued.id)).status == "completed"
        ids = [row.id async for row in await partitions.list(limit=1)]
        assert ids == [queued.id, done.id]
        await partitions.delete(queued.id)
        with pytest.raises(NotFoundError):
            await partitions.get(queued.id)
