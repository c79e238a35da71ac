"""The official ``retab`` SDK, unchanged, runs every edits method (sync and async) against
the local server: create from a document and from a template, in the background,
get (with and without the output), list with its filters, cancel, delete, and the
templates' list and get. Its pydantic models validate every response."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

retab = pytest.importorskip("retab")

from retab.exceptions import APIError, NotFoundError  # noqa: E402
from retab.types.edits import Edit, EditConfig, EditTemplate  # noqa: E402

from retab_async.testing import LocalRetab  # noqa: E402

from .test_local_server import document  # noqa: E402

FORM = document(b"APPLICATION\nFull name:\nEmail:\n[ ] I agree\n", "application.txt")
FILL = "Full name: Ada Lovelace\nI agree: yes"
TEMPLATE = "edtpl_contact_form"
TERMINAL = ("completed", "failed", "cancelled")


@pytest.fixture
def official(retab_server: LocalRetab) -> Iterator[Any]:
    with retab.Retab(api_key=retab_server.api_key, base_url=retab_server.base_url) as client:
        yield client


def _filled_pdf(record: Edit) -> bytes:
    assert record.output is not None
    return base64.b64decode(record.output.filled_document.content)


@pytest.mark.retab_server(run_time=0.05)
def test_edits_sync(official: Any, retab_server: LocalRetab) -> None:
    edits = official.edits
    done = edits.create(instructions=FILL, document=FORM, config=EditConfig(color="#FF0000"))
    assert isinstance(done, Edit) and done.status == "completed"
    assert done.config.color == "#FF0000" and done.template_id is None
    assert done.output is not None
    values = {field.key: field.value for field in done.output.form_data}
    assert values == {"full_name": "Ada Lovelace", "email": None, "i_agree": "true"}
    assert all(field.bbox.page == 1 for field in done.output.form_data)
    assert _filled_pdf(done).startswith(b"%PDF-")
    assert done.output.filled_document.mime_type == "application/pdf"
    assert done.usage is not None and done.created_at is not None

    from_template = edits.create(instructions="Email: ada@example.com", template_id=TEMPLATE)
    assert from_template.template_id == TEMPLATE and from_template.file.filename.endswith(".pdf")

    queued = edits.create(instructions=FILL, document=FORM, background=True)
    assert queued.status in ("queued", "in_progress") and queued.output is None
    light = edits.get(queued.id, include_output=False)
    assert light.output is None
    deadline = time.monotonic() + 20
    while (record := edits.get(queued.id)).status not in TERMINAL:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert record.status == "completed" and record.output is not None
    assert edits.create_edit_cancel(queued.id).status == "completed"  # terminal: unchanged

    assert [e.id for e in edits.list(template_id=TEMPLATE).data] == [from_template.id]
    assert [e.id for e in edits.list(filename="applic", limit=1).data] == [queued.id]
    assert {e.id for e in edits.list(status="completed").data} == {
        done.id,
        from_template.id,
        queued.id,
    }
    edits.delete(queued.id)
    with pytest.raises(NotFoundError):
        edits.get(queued.id)
    assert {run.id for run in retab_server.runs} == {done.id, from_template.id}


def test_edit_refusals_are_the_sdks_errors(official: Any) -> None:
    with pytest.raises(APIError) as both:
        official.edits.create(instructions="x", document=FORM, template_id=TEMPLATE)
    assert both.value.status_code == 400
    with pytest.raises(APIError) as neither:
        official.edits.create(instructions="x")
    assert neither.value.status_code == 400
    with pytest.raises(NotFoundError):
        official.edits.create(instructions="x", template_id="edtpl_missing")
    with pytest.raises(NotFoundError):
        official.edits.get("edit_unknown")


@pytest.mark.retab_server(run_time=30.0)
def test_cancelled_edits_validate(official: Any) -> None:
    queued = official.edits.create(instructions="x", template_id=TEMPLATE, background=True)
    cancelled = official.edits.create_edit_cancel(queued.id)
    assert cancelled.status == "cancelled" and cancelled.output is None


def test_failed_edits_validate(official: Any) -> None:
    failing = document(b"Name: [[retab:fail]]", "broken.txt")
    failed = official.edits.create(instructions="x", document=failing)
    assert failed.status == "failed" and failed.error is not None and failed.output is None


def test_templates_list_and_get(official: Any) -> None:
    templates = official.edits.templates.list()
    ids = [template.id for template in templates.data]
    assert TEMPLATE in ids
    template = official.edits.templates.get(TEMPLATE)
    assert isinstance(template, EditTemplate) and template.field_count == 4
    assert template.form_fields is not None and template.form_fields[0].key == "full_name"


@pytest.mark.anyio
@pytest.mark.retab_server(run_time=0.05)
async def test_edits_async(retab_server: LocalRetab) -> None:
    async with retab.AsyncRetab(
        api_key=retab_server.api_key, base_url=retab_server.base_url
    ) as client:
        edits = client.edits
        done = await edits.create(instructions=FILL, document=FORM)
        assert done.output is not None and done.output.form_data[0].value == "Ada Lovelace"
        queued = await edits.create(instructions="x", template_id=TEMPLATE, background=True)
        with anyio.fail_after(20):
            record = await edits.get(queued.id)
            while record.status not in TERMINAL:
                await anyio.sleep(0.01)
                record = await edits.get(queued.id)
        assert record.status == "completed" and _filled_pdf(record).startswith(b"%PDF-")
        assert (await edits.create_edit_cancel(queued.id)).status == "completed"
        ids = [row.id async for row in await edits.list(limit=1)]
        assert ids == [queued.id, done.id]
        template = await edits.templates.get(TEMPLATE)
        assert template.name == "Contact form"
        await edits.delete(queued.id)
        with pytest.raises(NotFoundError):
            await edits.get(queued.id)
