"""client.edits: every endpoint and the filled-document helper, against the local server."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from retab_async import (
    DocumentError,
    Edit,
    NotFoundError,
    RetabClient,
    RunCancelled,
    RunError,
    RunFailed,
    UsageError,
)
from retab_async.testing import LocalRetab

FORM = (
    "application.txt",
    b"APPLICATION\nFull name:\nDate of birth: ____\n[ ] I agree to the terms\n\fSignature:\n",
)
FILL = "Full name: Ada Lovelace\nDate of birth = 1815-12-10; I agree: yes"
TEMPLATE = "edtpl_contact_form"


async def test_sync_edit_fills_the_fields_the_instructions_name(
    client: RetabClient, server: LocalRetab
) -> None:
    record = await client.edits.create(FORM, instructions=FILL)
    assert isinstance(record, Edit) and record.status == "completed"
    output = record.require_output()
    assert output.values() == {
        "full_name": "Ada Lovelace",
        "date_of_birth": "1815-12-10",
        "i_agree_to_the_terms": "true",
        "signature": None,
    }
    boxes = {field.key: field.bbox for field in output.form_data}
    assert boxes["full_name"] is not None and boxes["full_name"].page == 1
    assert boxes["signature"] is not None and boxes["signature"].page == 2
    assert record.file is not None and record.file.filename == "application.txt"
    assert record.instructions == FILL and record.template_id is None
    sent = server.requests[0].json()
    assert sent["config"] == {"color": "#000080"} and "template_id" not in sent
    assert sent["document"]["filename"] == "application.txt" and sent["background"] is False


async def test_the_filled_pdf_holds_the_values_in_the_colour_asked(
    client: RetabClient, server: LocalRetab
) -> None:
    record = await client.edits.create(FORM, instructions=FILL, color="#FF0000")
    assert server.requests[0].json()["config"] == {"color": "#FF0000"}
    assert record.config.color == "#FF0000"
    pdf = record.require_output().filled_document_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert b"1 0 0 rg" in pdf and b"(Ada Lovelace) Tj" in pdf


async def test_template_edit_sends_the_template_and_no_document(
    client: RetabClient, server: LocalRetab
) -> None:
    record = await client.edits.create(template_id=TEMPLATE, instructions="Full name: Bob")
    sent = server.requests[0].json()
    assert sent["template_id"] == TEMPLATE and "document" not in sent
    assert record.template_id == TEMPLATE
    assert record.file is not None and record.file.filename == "contact_form.pdf"
    assert record.require_output().values()["full_name"] == "Bob"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"template_id": TEMPLATE, "document": FORM}, "not both"), ({}, "neither")],
)
async def test_both_or_neither_document_and_template_are_refused_before_sending(
    client: RetabClient, server: LocalRetab, kwargs: dict[str, object], match: str
) -> None:
    for call in (client.edits.create, client.edits.start):
        with pytest.raises(UsageError, match=match):
            await call(instructions="x", **kwargs)  # type: ignore[operator]
    with pytest.raises(UsageError, match=match):
        client.edits.run(instructions="x", **kwargs)  # type: ignore[arg-type]
    assert server.requests == []


async def test_bad_colour_and_blank_instructions_are_refused_before_sending(
    client: RetabClient, server: LocalRetab
) -> None:
    with pytest.raises(UsageError, match="color"):
        await client.edits.create(FORM, instructions="x", color="navy")
    with pytest.raises(UsageError, match="instructions"):
        await client.edits.create(FORM, instructions=" ")
    assert server.requests == []


async def test_unknown_template_is_not_found(client: RetabClient) -> None:
    with pytest.raises(NotFoundError, match="edtpl_missing"):
        await client.edits.create(template_id="edtpl_missing", instructions="x")


async def test_a_document_edits_do_not_take_is_a_bad_request(client: RetabClient) -> None:
    from retab_async import BadRequestError

    with pytest.raises(BadRequestError, match="Invalid document format"):
        await client.edits.create(("photo.png", b"\x89PNG..."), instructions="x")


async def test_background_edit_get_list_delete(client: RetabClient) -> None:
    handle = await client.edits.start(FORM, instructions=FILL)
    record = await handle.wait(timeout=10)
    assert record.require_output().values()["full_name"] == "Ada Lovelace"
    light = await client.edits.get(record.id, include_output=False)
    assert light.status == "completed" and light.output is None
    again = await client.resume(handle.token).wait(timeout=10)
    assert again.id == record.id and again.output == record.output
    listed = [e.id async for e in client.edits.list(filename="applic", status="completed")]
    assert listed == [record.id]
    assert [e.id async for e in client.edits.list(filename="other")] == []
    await client.edits.delete(record.id)
    with pytest.raises(NotFoundError):
        await client.edits.get(record.id)


async def test_list_by_template(client: RetabClient) -> None:
    other = await client.edits.create(FORM, instructions="x")
    first = await client.edits.create(template_id=TEMPLATE, instructions="Email: a@b.c")
    second = await client.edits.create(template_id="edtpl_expense_claim", instructions="x")
    page = await client.edits.list_page(template_id=TEMPLATE, limit=5)
    assert [e.id for e in page.data] == [first.id]
    everything = {e.id async for e in client.edits.list()}
    assert everything == {other.id, first.id, second.id}
    with pytest.raises(UsageError, match="template_id"):
        client.edits.list(template_id="")


@pytest.mark.retab_server(run_time=30.0)
async def test_cancel_is_idempotent_and_run_cancels_on_error(client: RetabClient) -> None:
    handle = await client.edits.start(template_id=TEMPLATE, instructions="x")
    first = await client.edits.cancel(handle.id)
    second = await client.edits.cancel(handle.id)
    assert first.status == second.status == "cancelled"
    with pytest.raises(RunCancelled):
        await handle.wait(timeout=10)
    with pytest.raises(KeyError):
        async with client.edits.run(FORM, instructions="x") as running:
            raise KeyError("boom")
    assert (await client.edits.get(running.id)).status == "cancelled"


async def test_failure_marker_in_the_instructions_fails_the_run(client: RetabClient) -> None:
    handle = await client.edits.start(template_id=TEMPLATE, instructions="[[retab:fail]]")
    with pytest.raises(RunFailed) as caught:
        await handle.wait(timeout=10)
    assert caught.value.error is not None and caught.value.error.code == "EDIT_FAILED"


async def test_map_fills_many_documents(client: RetabClient) -> None:
    inputs = [FORM, ("blank.txt", b"Nothing to fill in here.")]
    results = {r.key: r async for r in client.edits.map(inputs, instructions=FILL, concurrency=2)}
    assert set(results) == {"application.txt", "blank.txt"}
    filled = results["application.txt"].require_record().require_output()
    assert filled.values()["full_name"] == "Ada Lovelace"
    # A document without form fields gets one note field, filled with the instructions.
    note = results["blank.txt"].require_record().require_output().form_data
    assert [(f.key, f.value) for f in note] == [("note", " ".join(FILL.split()))]
    assert note[0].bbox is not None and note[0].bbox.page == 1


async def test_map_takes_documents_not_templates(client: RetabClient) -> None:
    with pytest.raises(TypeError):
        client.edits.map([FORM], instructions="x", template_id=TEMPLATE)  # type: ignore[call-arg]


# -- save_filled_document ------------------------------------------------------------


async def test_save_filled_document_to_a_file_and_a_directory(
    client: RetabClient, tmp_path: Path
) -> None:
    record = await client.edits.create(FORM, instructions=FILL)
    expected = record.require_output().filled_document_bytes()
    target = tmp_path / "out.pdf"
    target.write_bytes(b"old content")
    assert await client.edits.save_filled_document(record, target) == target
    assert target.read_bytes() == expected
    written = await client.edits.save_filled_document(record.require_output(), tmp_path)
    assert written == tmp_path / "application_filled.pdf" and written.read_bytes() == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["application_filled.pdf", "out.pdf"]
    if os.name == "posix":
        assert written.stat().st_mode & 0o777 == 0o644


async def test_save_filled_document_without_one_says_why(
    client: RetabClient, tmp_path: Path
) -> None:
    handle = await client.edits.start(template_id=TEMPLATE, instructions="[[retab:fail]]")
    with pytest.raises(RunFailed):
        await handle.wait(timeout=10)
    with pytest.raises(RunFailed):
        await client.edits.save_filled_document(await client.edits.get(handle.id), tmp_path)
    done = await client.edits.create(FORM, instructions="x")
    light = await client.edits.get(done.id, include_output=False)
    with pytest.raises(RunError, match="include_output=False"):
        await client.edits.save_filled_document(light, tmp_path / "x.pdf")
    assert list(tmp_path.iterdir()) == []


async def test_save_filled_document_leaves_nothing_behind_on_error(
    client: RetabClient, tmp_path: Path
) -> None:
    record = await client.edits.create(FORM, instructions="x")
    with pytest.raises(OSError):
        await client.edits.save_filled_document(record, tmp_path / "missing" / "x.pdf")
    output = record.require_output()
    assert output.filled_document is not None
    url = output.filled_document.url
    broken = type(output)(
        form_data=output.form_data,
        filled_document=type(output.filled_document)(filename="f.pdf", url=url[:-4] + "@@@@"),
    )
    with pytest.raises(DocumentError):
        await client.edits.save_filled_document(broken, tmp_path / "y.pdf")
    assert list(tmp_path.iterdir()) == []
    assert base64.b64decode(url.split(",", 1)[1]).startswith(b"%PDF")


async def test_list_by_dates(client: RetabClient, server: LocalRetab) -> None:
    record = await client.edits.create(FORM, instructions="x")
    assert [e.id async for e in client.edits.list(from_date="2000-01-01")] == [record.id]
    assert [e.id async for e in client.edits.list(to_date="2000-01-01")] == []
    query = dict(server.requests[-1].query)
    assert query["to_date"] == "2000-01-01" and query["order"] == "desc"
    with pytest.raises(UsageError, match="from_date"):
        client.edits.list(from_date="yesterday")


async def test_faults_are_retried_and_a_create_is_made_once(
    client: RetabClient, server: LocalRetab
) -> None:
    from retab_async.testing import FaultConfig

    server.set_faults(FaultConfig(server_error=1.0, operations={"create"}, limit=2))
    record = await client.edits.create(template_id=TEMPLATE, instructions="Full name: Ada")
    assert record.require_output().values()["full_name"] == "Ada"
    creates = [r for r in server.requests if r.operation == "create"]
    assert [r.fault for r in creates] == ["server_error", "server_error", None]
    assert len({r.headers["idempotency-key"] for r in creates}) == 1
    server.set_faults(FaultConfig(disconnect=1.0, operations={"create"}, limit=1))
    handle = await client.edits.start(FORM, instructions=FILL)
    assert (await handle.wait(timeout=10)).status == "completed"
    assert len([run for run in server.runs if run.id == handle.id]) == 1
    assert len(server.runs) == 2  # the disconnected create was replayed, not made twice
