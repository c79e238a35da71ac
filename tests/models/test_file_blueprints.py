"""File blueprint records, create options, file ids and request bodies."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from retab_async import FileRef, RunCancelled, RunError, RunFailed, UsageError
from retab_async._models.file_blueprints import (
    FileBlueprint,
    FileBlueprintOptions,
    build_file_blueprint_body,
    check_file_id,
)
from retab_async._runs.primitive import FILE_BLUEPRINTS, PRIMITIVES

decode = msgspec.json.Decoder(FileBlueprint).decode


def test_completed_record() -> None:
    record = decode(
        b'{"object": "file.blueprint", "id": "fbp_1",'
        b' "file": {"id": "file_1", "filename": "a.pdf", "mime_type": "application/pdf"},'
        b' "intent": "invoices", "output": {"page_count": 1}, "status": "completed",'
        b' "error": null, "created_at": "2026-08-03T14:21:07Z",'
        b' "started_at": "2026-08-03T14:21:08Z", "completed_at": "2026-08-03T14:21:09Z",'
        b' "mode": null, "updated_at": "x"}'
    )
    assert record.done and record.require_output() == {"page_count": 1}
    assert record.file == FileRef(id="file_1", filename="a.pdf", mime_type="application/pdf")
    assert record.completed_at == "2026-08-03T14:21:09Z" and record.mode is None
    assert FILE_BLUEPRINTS.has_result(record)


@pytest.mark.parametrize("output", [b'"output": {},', b'"output": null,', b""])
@pytest.mark.parametrize("status", ["queued", "in_progress", "completed", "failed", "cancelled"])
def test_an_empty_output_is_never_a_result(output: bytes, status: str) -> None:
    record = decode(b'{"id": "b", ' + output + b' "status": "' + status.encode() + b'"}')
    assert record.output is None and not FILE_BLUEPRINTS.has_result(record)


@pytest.mark.parametrize(
    ("status", "error"),
    [("failed", RunFailed), ("cancelled", RunCancelled), ("queued", RunError)],
)
def test_require_output_says_why_there_is_none(status: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        FileBlueprint(id="b", status=status).require_output()


def test_body_sends_what_is_set() -> None:
    body: dict[str, Any] = msgspec.json.decode(
        build_file_blueprint_body(FileBlueprintOptions(), "file_1")
    )
    assert body == {"file_id": "file_1", "background": False}
    options = FileBlueprintOptions(intent="invoices", mode="reasoning", background=True)
    body = msgspec.json.decode(build_file_blueprint_body(options, "file_1"))
    assert body == {
        "file_id": "file_1",
        "intent": "invoices",
        "mode": "reasoning",
        "background": True,
    }


@pytest.mark.parametrize("bad", ["", "a/b", "file 1", "é", "x" * 256, 3, None, b"file_1"])
def test_malformed_file_ids_are_refused(bad: object) -> None:
    with pytest.raises(UsageError, match="file_id"):
        check_file_id(bad)


def test_an_object_with_an_id_names_its_file() -> None:
    assert check_file_id(FileRef(id="file_9", filename="a.txt")) == "file_9"


@pytest.mark.parametrize(
    ("options", "match"),
    [({"mode": "deep"}, "mode"), ({"intent": 1}, "intent"), ({"background": 1}, "background")],
)
def test_options_are_checked(options: dict[str, Any], match: str) -> None:
    with pytest.raises(UsageError, match=match):
        FileBlueprintOptions(**options)


def test_the_description_names_its_differences() -> None:
    assert FILE_BLUEPRINTS.path == "/v1/files/blueprints"
    assert FILE_BLUEPRINTS.record_path("fbp_1") == "/v1/files/blueprints/fbp_1"
    assert not FILE_BLUEPRINTS.listable and not FILE_BLUEPRINTS.deletable
    assert not FILE_BLUEPRINTS.list_rounds and FILE_BLUEPRINTS.result_field == "output"
    assert PRIMITIVES["file_blueprints"] is FILE_BLUEPRINTS
