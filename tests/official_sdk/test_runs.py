"""The official ``retab`` SDK on the run lifecycle the local server serves: classifications
in the background (sync and async clients), failed runs of every primitive, auto-paging
over cursors, and the error an unknown id raises. Its pydantic models validate each
response, so every call here is also a check of the server's wire shapes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

retab = pytest.importorskip("retab")

from retab.exceptions import NotFoundError  # noqa: E402
from retab.types.classifications import Classification  # noqa: E402
from retab.types.extractions import Extraction  # noqa: E402
from retab.types.parses import Parse  # noqa: E402

from retab_async.testing import FAIL_MARKER, LocalRetab  # noqa: E402

from .test_local_server import SCHEMA, document  # noqa: E402

CATEGORIES = [
    {"name": "invoice", "description": "a bill to pay"},
    {"name": "receipt", "description": "proof of payment"},
]
FAILING = document(f"unreadable {FAIL_MARKER}".encode(), "broken.txt")
TERMINAL = ("completed", "failed", "cancelled")


@pytest.fixture
def official(retab_server: LocalRetab) -> Iterator[Any]:
    with retab.Retab(api_key=retab_server.api_key, base_url=retab_server.base_url) as client:
        yield client


def _settle(get: Any, run_id: str) -> Any:
    """Poll with the SDK's own ``get`` until the run ends (runs take milliseconds here)."""
    deadline = time.monotonic() + 20
    record = get(run_id)
    while record.status not in TERMINAL:
        assert time.monotonic() < deadline, f"{run_id} still {record.status}"
        time.sleep(0.01)
        record = get(run_id)
    return record


@pytest.mark.retab_server(run_time=0.05)
def test_classification_lifecycle_sync(official: Any, retab_server: LocalRetab) -> None:
    classifications = official.classifications
    done = classifications.create(document=document(), categories=CATEGORIES, n_consensus=3)
    assert isinstance(done, Classification) and done.status == "completed"
    assert done.output is not None and done.output.category == "invoice"
    assert done.consensus is not None
    queued = classifications.create(document=document(), categories=CATEGORIES, background=True)
    assert queued.status in ("queued", "pending", "in_progress")
    assert queued.output.category == ""  # the contract's placeholder until completed
    light = classifications.get(queued.id, include_output=False)
    assert light.id == queued.id and light.output is None  # D9: no output when light
    finished = _settle(classifications.get, queued.id)
    assert finished.status == "completed" and finished.output.category == "invoice"
    unchanged = classifications.create_classification_cancel(queued.id)
    assert unchanged.status == "completed"  # a finished run comes back as it was
    running = classifications.create(
        document=document(filename="running.txt"), categories=CATEGORIES, background=True
    )
    assert classifications.create_classification_cancel(running.id).status in TERMINAL
    listed = classifications.list(status="completed", filename="invoice")
    assert {row.id for row in listed.data} == {done.id, queued.id}
    classifications.delete(done.id)
    with pytest.raises(NotFoundError):
        classifications.get(done.id)
    assert done.id not in {run.id for run in retab_server.runs}


def test_failed_runs_validate_on_every_primitive(official: Any) -> None:
    classification = official.classifications.create(document=FAILING, categories=CATEGORIES)
    extraction = official.extractions.create(document=FAILING, json_schema=SCHEMA)
    parse = official.parses.create(document=FAILING)
    for record in (classification, extraction, parse):
        assert record.status == "failed"
        assert record.error is not None and record.error.code and record.error.message
    assert isinstance(extraction, Extraction) and isinstance(parse, Parse)
    background = official.extractions.create(document=FAILING, json_schema=SCHEMA, background=True)
    failed = _settle(official.extractions.get, background.id)
    assert failed.status == "failed" and failed.error.code == extraction.error.code


def test_auto_paging_follows_the_cursors(official: Any) -> None:
    made = [
        official.extractions.create(document=document(filename=f"doc{i}.txt"), json_schema=SCHEMA)
        for i in range(5)
    ]
    first = official.extractions.list(limit=2)
    assert len(first.data) == 2 and first.list_metadata.after is not None
    assert [row.id for row in first] == [r.id for r in reversed(made)]  # newest first
    oldest = official.extractions.list(limit=2, order="asc")
    assert [row.id for row in oldest.data] == [r.id for r in made[:2]]
    parses = [official.parses.create(document=document(filename=f"p{i}.txt")) for i in range(3)]
    assert [row.id for row in official.parses.list(limit=1)] == [p.id for p in reversed(parses)]


@pytest.mark.parametrize("primitive", ["classifications", "extractions", "parses"])
def test_an_unknown_id_raises_the_sdks_not_found(official: Any, primitive: str) -> None:
    resource = getattr(official, primitive)
    with pytest.raises(NotFoundError):
        resource.get("unknown_run")
    with pytest.raises(NotFoundError):
        resource.delete("unknown_run")


@pytest.mark.anyio
@pytest.mark.retab_server(run_time=0.05)
async def test_classification_lifecycle_async(retab_server: LocalRetab) -> None:
    async with retab.AsyncRetab(
        api_key=retab_server.api_key, base_url=retab_server.base_url
    ) as client:
        classifications = client.classifications
        done = await classifications.create(document=document(), categories=CATEGORIES)
        assert done.output.category == "invoice"
        queued = await classifications.create(
            document=document(), categories=CATEGORIES, background=True
        )
        with anyio.fail_after(20):
            record = await classifications.get(queued.id)
            while record.status not in TERMINAL:
                await anyio.sleep(0.01)
                record = await classifications.get(queued.id)
        assert record.status == "completed"
        cancelled = await classifications.create_classification_cancel(queued.id)
        assert cancelled.status == "completed"
        ids = [row.id async for row in await classifications.list(limit=1)]
        assert ids == [queued.id, done.id]
        await classifications.delete(queued.id)
        with pytest.raises(NotFoundError):
            await classifications.get(queued.id)
        failed = await client.parses.create(document=FAILING, background=True)
        with anyio.fail_after(20):
            record = await client.parses.get(failed.id)
            while record.status not in TERMINAL:
                await anyio.sleep(0.01)
                record = await client.parses.get(failed.id)
        assert record.status == "failed" and record.error is not None
