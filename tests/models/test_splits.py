"""Split records, subdocuments, create options and request bodies."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from retab_async import MIMEData, RunCancelled, RunError, RunFailed, Subdocument, UsageError
from retab_async._models.splits import (
    Split,
    SplitOptions,
    build_split_body,
    normalize_subdocuments,
)

DOC = MIMEData(filename="bundle.txt", url="data:text/plain;base64,SU5WT0lDRQ==")
decode = msgspec.json.Decoder(Split).decode

COMPLETED = (
    b'{"id": "splt_1", "file": {"id": "f", "filename": "b.pdf", "mime_type": "application/pdf"},'
    b' "model": "retab-small", "subdocuments": [{"name": "invoice", "description": "",'
    b' "allow_multiple_instances": true}, {"name": "receipt"}], "n_consensus": 2,'
    b' "instructions": null, "output": [{"name": "invoice", "pages": [1, 2]},'
    b' {"name": "receipt", "pages": [3], "regions": [{"sheet_index": 0, "sheet_name": "S",'
    b' "row_start": 0, "row_end": 9}]}, {"name": "invoice", "pages": [4]}],'
    b' "status": "completed", "error": null, "consensus": {"choices": [[{"name": "invoice",'
    b' "pages": [1, 2, 3, 4]}], [{"name": "invoice", "pages": [1, 2]}]], "likelihood":'
    b' [{"name": 1.0, "pages": [1.0, 0.5]}]}, "usage": {"credits": 8},'
    b' "created_at": "2026-08-03T14:21:07Z", "updated_at": "x", "new_field": 1}'
)


def test_completed_record() -> None:
    record = decode(COMPLETED)
    assert record.done and not record.failed
    assert [(r.name, r.pages) for r in record.require_output()] == [
        ("invoice", [1, 2]),
        ("receipt", [3]),
        ("invoice", [4]),
    ]
    assert record.pages_of("invoice") == [[1, 2], [4]] and record.pages_of("letter") == []
    regions = record.require_output()[1].regions
    assert regions is not None and regions[0].sheet_name == "S" and regions[0].col_start is None
    assert record.subdocuments is not None
    assert record.subdocuments[1] == Subdocument(name="receipt")
    consensus = record.consensus
    assert consensus is not None and consensus.choices is not None and len(consensus.choices) == 2
    assert consensus.likelihoods is not None and consensus.likelihoods[0].pages == [1.0, 0.5]


@pytest.mark.parametrize("output", [b'"output": [],', b'"output": null,', b""])
@pytest.mark.parametrize("status", ["queued", "in_progress", "failed", "cancelled", "paused"])
def test_placeholder_output_is_never_a_result(output: bytes, status: str) -> None:
    record = decode(b'{"id": "s", ' + output + b' "status": "' + status.encode() + b'"}')
    assert record.output is None


def test_require_output_says_why_there_is_none() -> None:
    failed = decode(b'{"id": "s", "status": "failed", "error": {"code": "X", "message": "m"}}')
    with pytest.raises(RunFailed):
        failed.require_output()
    with pytest.raises(RunCancelled):
        decode(b'{"id": "s", "status": "cancelled"}').require_output()
    with pytest.raises(RunError, match="no output yet"):
        decode(b'{"id": "s", "status": "queued"}').pages_of("invoice")


def test_an_empty_completed_split_is_a_result() -> None:
    assert decode(b'{"id": "s", "status": "completed", "output": []}').require_output() == []


def _body(options: SplitOptions) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.json.decode(build_split_body(options, DOC))
    return result


def test_minimal_body_sends_every_subdocument_field() -> None:
    assert _body(SplitOptions(subdocuments=[Subdocument(name="invoice")])) == {
        "document": {"filename": "bundle.txt", "url": DOC.url},
        "subdocuments": [{"name": "invoice", "description": "", "allow_multiple_instances": False}],
        "model": "retab-small",
        "n_consensus": 1,
        "bust_cache": False,
        "background": False,
    }


def test_full_body() -> None:
    options = SplitOptions(
        subdocuments=["invoice", {"name": "receipt", "allow_multiple_instances": True}],  # type: ignore[list-item]
        model="retab-large",
        instructions="Cover letters go with the invoice.",
        n_consensus=3,
        bust_cache=True,
        background=True,
    )
    body = _body(options)
    assert [s["name"] for s in body["subdocuments"]] == ["invoice", "receipt"]
    assert body["subdocuments"][1]["allow_multiple_instances"] is True
    assert body["instructions"] == "Cover letters go with the invoice."
    assert body["n_consensus"] == 3 and body["bust_cache"] and body["background"]


def test_subdocuments_from_names_dicts_and_structs() -> None:
    given = [
        " invoice ",
        {"name": "receipt", "description": "proof of payment"},
        Subdocument(name="letter", allow_multiple_instances=True),
    ]
    assert normalize_subdocuments(given) == [
        Subdocument(name="invoice"),
        Subdocument(name="receipt", description="proof of payment"),
        Subdocument(name="letter", allow_multiple_instances=True),
    ]


@pytest.mark.parametrize(
    ("subdocuments", "message"),
    [
        ([], "must not be empty"),
        ("invoice", "a list of subdocuments, not a single value"),
        ({"name": "invoice"}, "not a single value"),
        (["invoice", " "], "subdocument #1 has a blank name"),
        (["invoice", {"name": "invoice"}], "'invoice' is listed twice"),
        ([{"description": "x"}], "subdocument #0 needs a string 'name'"),
        ([{"name": "a", "kind": "x"}], r"unknown keys: \['kind'\]"),
        ([{"name": "a", "description": 3}], "'a': description must be a string"),
        ([{"name": "a", "allow_multiple_instances": "yes"}], "must be True or False"),
        ([3], "must be a Subdocument, a dict or a name, not int"),
    ],
)
def test_bad_subdocuments(subdocuments: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        normalize_subdocuments(subdocuments)
    with pytest.raises(UsageError, match=message):
        SplitOptions(subdocuments=subdocuments)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_consensus": 0}, "n_consensus must be an integer from 1 to 16"),
        ({"n_consensus": 17}, "n_consensus must be an integer from 1 to 16"),
        ({"n_consensus": True}, "n_consensus must be an integer"),
        ({"model": " "}, "model must be a non-empty string"),
        ({"instructions": 1}, "instructions must be a string"),
        ({"bust_cache": 1}, "bust_cache must be True or False"),
    ],
)
def test_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        SplitOptions(subdocuments=[Subdocument(name="a")], **options)
