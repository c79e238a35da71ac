"""The official ``retab`` SDK, unchanged, runs its file blueprint methods (create_blueprint,
get_blueprint, create_blueprint_cancel) and schema generation (generate), sync and async,
against the local server; its pydantic models validate each response."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

retab = pytest.importorskip("retab")

from retab.exceptions import NotFoundError  # noqa: E402
from retab.types.files import FileBlueprint  # noqa: E402
from retab.types.schemas import SchemaGeneration  # noqa: E402

from retab_async.testing import FAIL_MARKER, LocalRetab  # noqa: E402

from .test_local_server import document  # noqa: E402

TEXT = b"Invoice number: 42\nTotal: 12.50\fShip to: Lyon\nPaid: no\n"
TERMINAL = ("completed", "failed", "cancelled")


@pytest.fixture
def official(retab_server: LocalRetab) -> Iterator[Any]:
    with retab.Retab(api_key=retab_server.api_key, base_url=retab_server.base_url) as client:
        yield client


def _upload(official: Any, content: bytes = TEXT, filename: str = "invoice.txt") -> str:
    """The official upload flow: reserve, PUT to the signed URL, complete."""
    reserved = official.files.create_upload(filename=filename, size_bytes=len(content))
    response = httpx.put(
        reserved.upload_url, content=content, headers=reserved.upload_headers or {}
    )
    assert response.status_code == 200
    official.files.complete_upload(reserved.file_id)
    file_id: str = reserved.file_id
    return file_id


def _status(record: Any) -> str:
    status = record.status
    return str(getattr(status, "value", status))


@pytest.mark.retab_server(run_time=0.05)
def test_file_blueprints_sync(official: Any) -> None:
    files = official.files
    file_id = _upload(official)
    done = files.create_blueprint(file_id=file_id, intent="invoices", mode="instant")
    assert isinstance(done, FileBlueprint) and _status(done) == "completed"
    assert done.object == "file.blueprint" and done.file.id == file_id
    assert done.output is not None and done.output["page_count"] == 2
    assert done.started_at is not None and done.completed_at is not None
    queued = files.create_blueprint(file_id=file_id, background=True)
    assert _status(queued) in ("queued", "in_progress") and queued.output == {}
    light = files.get_blueprint(queued.id, include_output=False)
    assert light.id == queued.id and light.output == {}
    deadline = time.monotonic() + 20
    record = files.get_blueprint(queued.id)
    while _status(record) not in TERMINAL:
        assert time.monotonic() < deadline
        time.sleep(0.01)
        record = files.get_blueprint(queued.id)
    assert _status(record) == "completed" and record.output is not None
    assert record.output["fields"] == done.output["fields"] and record.intent is None
    unchanged = files.create_blueprint_cancel(record.id)  # terminal: returned unchanged
    assert _status(unchanged) == "completed"
    failing = _upload(official, b"Total: 1\n" + FAIL_MARKER, "bad.txt")
    failed = files.create_blueprint(file_id=failing)
    assert _status(failed) == "failed" and failed.error is not None
    assert failed.error.code == "DOCUMENT_UNREADABLE" and failed.output == {}
    with pytest.raises(NotFoundError):
        files.create_blueprint(file_id="file_000000000000")
    with pytest.raises(NotFoundError):
        files.get_blueprint("fbp_0000000000000000")


@pytest.mark.retab_server(run_time=30.0)
def test_file_blueprint_cancel(official: Any) -> None:
    files = official.files
    queued = files.create_blueprint(file_id=_upload(official), background=True)
    cancelled = files.create_blueprint_cancel(queued.id)
    assert _status(cancelled) == "cancelled" and cancelled.completed_at is not None
    assert _status(files.create_blueprint_cancel(queued.id)) == "cancelled"
    assert files.get_blueprint(queued.id).output == {}


@pytest.mark.retab_server(run_time=0.0)
def test_schema_generation_sync(official: Any) -> None:
    examples = [document(TEXT, "a.txt"), document(b"Invoice number: 43\nTotal: 7\n", "b.txt")]
    generated = official.schemas.generate(documents=examples, instructions="Invoices")
    assert isinstance(generated, SchemaGeneration) and _status(generated) == "completed"
    assert generated.object == "schema" and generated.strict is True
    schema = generated.json_schema
    assert schema is not None and schema["description"] == "Invoices"
    assert list(schema["properties"])[:2] == ["invoice_number", "total"]
    queued = official.schemas.generate(documents=examples, background=True)
    assert isinstance(queued, SchemaGeneration) and queued.id.startswith("schgen_")
    failed = official.schemas.generate(documents=[document(FAIL_MARKER, "bad.txt")])
    assert _status(failed) == "failed" and failed.error is not None
    assert failed.json_schema == {}


@pytest.mark.anyio
@pytest.mark.retab_server(run_time=0.0)
async def test_async_client_blueprints_and_schemas(retab_server: LocalRetab) -> None:
    with retab.Retab(api_key=retab_server.api_key, base_url=retab_server.base_url) as sync:
        file_id = _upload(sync)
    async with retab.AsyncRetab(
        api_key=retab_server.api_key, base_url=retab_server.base_url
    ) as client:
        done = await client.files.create_blueprint(file_id=file_id)
        assert isinstance(done, FileBlueprint) and _status(done) == "completed"
        again = await client.files.get_blueprint(done.id)
        assert again.output == done.output
        cancelled = await client.files.create_blueprint_cancel(done.id)
        assert _status(cancelled) == "completed"
        generated = await client.schemas.generate(documents=[document(TEXT, "a.txt")])
        assert isinstance(generated, SchemaGeneration) and generated.json_schema
