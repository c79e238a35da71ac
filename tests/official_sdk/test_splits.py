"""The official ``retab`` SDK, unchanged, runs every splits method (sync and async) against
the local server; its pydantic models validate each response."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

retab = pytest.importorskip("retab")

from retab.exceptions import NotFoundError  # noqa: E402
from retab.types.splits import Split, Subdocument  # noqa: E402

from retab_async.testing import FAIL_MARKER, LocalRetab  # noqa: E402

from .test_local_server import document  # noqa: E402

BUNDLE = document(b"INVOICE 1\nDue: 30 EUR\fcontinued\fLetter\nDear Sir\fInvoice 2", "bundle.txt")
SUBDOCUMENTS = [
    Subdocument(name="invoice", description="a bill", allow_multiple_instances=True),
    Subdocument(name="letter"),
]
TERMINAL = ("completed", "failed", "cancelled")
EXPECTED = [("invoice", [1, 2]), ("letter", [3]), ("invoice", [4])]


@pytest.fixture
def official(retab_server: LocalRetab) -> Iterator[Any]:
    with retab.Retab(api_key=retab_server.api_key, base_url=retab_server.base_url) as client:
        yield client


def _entries(record: Split) -> list[tuple[str, list[int]]]:
    return [(entry.name, entry.pages) for entry in record.output or []]


@pytest.mark.retab_server(run_time=0.05)
def test_splits_sync(official: Any, retab_server: LocalRetab) -> None:
    splits = official.splits
    done = splits.create(document=BUNDLE, subdocuments=SUBDOCUMENTS, n_consensus=3)
    assert isinstance(done, Split) and done.status == "completed"
    assert _entries(done) == EXPECTED
    assert done.consensus is not None and len(done.consensus.choices or []) == 3
    assert len(done.consensus.likelihoods or []) == len(EXPECTED)
    assert done.subdocuments[0].allow_multiple_instances is True
    queued = splits.create(document=BUNDLE, subdocuments=SUBDOCUMENTS, background=True)
    assert queued.status in ("queued", "pending", "in_progress") and queued.output == []
    light = splits.get(queued.id, include_output=False)
    assert light.id == queued.id and light.output == []
    deadline = time.monotonic() + 20
    record = splits.get(queued.id)
    while record.status not in TERMINAL:
        assert time.monotonic() < deadline
        time.sleep(0.01)
        record = splits.get(queued.id)
    assert record.status == "completed" and _entries(record) == EXPECTED
    assert splits.create_split_cancel(queued.id).status == "completed"  # unchanged
    running = splits.create(document=BUNDLE, subdocuments=SUBDOCUMENTS, background=True)
    assert splits.create_split_cancel(running.id).status in TERMINAL
    listed = splits.list(status="completed", filename="bundle", from_date="2000-01-01")
    assert {row.id for row in listed.data} == {done.id, queued.id}
    failed = splits.create(document=document(b"x " + FAIL_MARKER), subdocuments=SUBDOCUMENTS)
    assert failed.status == "failed" and failed.error is not None and failed.output == []
    splits.delete(done.id)
    with pytest.raises(NotFoundError):
        splits.get(done.id)


@pytest.mark.anyio
@pytest.mark.retab_server(run_time=0.05)
async def test_splits_async(retab_server: LocalRetab) -> None:
    async with retab.AsyncRetab(
        api_key=retab_server.api_key, base_url=retab_server.base_url
    ) as client:
        splits = client.splits
        done = await splits.create(document=BUNDLE, subdocuments=SUBDOCUMENTS)
        assert _entries(done) == EXPECTED and done.consensus is None
        queued = await splits.create(document=BUNDLE, subdocuments=SUBDOCUMENTS, background=True)
        with anyio.fail_after(20):
            record = await splits.get(queued.id)
            while record.status not in TERMINAL:
                await anyio.sleep(0.01)
                record = await splits.get(queued.id)
        assert _entries(record) == EXPECTED
        assert (await splits.create_split_cancel(queued.id)).status == "completed"
        ids = [row.id async for row in await splits.list(limit=1)]
        assert ids == [queued.id, done.id]
        await splits.delete(queued.id)
        with pytest.raises(NotFoundError):
            await splits.get(queued.id)
