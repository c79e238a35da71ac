"""Partition records, create options and request bodies."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from retab_async import MIMEData, PartitionChunk, RunCancelled, RunError, RunFailed, UsageError
from retab_async._models.partitions import Partition, PartitionOptions, build_partition_body

DOC = MIMEData(filename="ledger.txt", url="data:text/plain;base64,SU5WT0lDRQ==")
decode = msgspec.json.Decoder(Partition).decode

COMPLETED = (
    b'{"id": "prtn_1", "file": {"id": "f", "filename": "l.txt", "mime_type": "text/plain"},'
    b' "model": "retab-small", "key": "invoice number", "instructions": "one per invoice",'
    b' "n_consensus": 2, "allow_overlap": false, "output": [{"key": "INV-1", "pages": [1, 2]},'
    b' {"key": "INV-2", "pages": [3]}, {"key": "INV-1", "pages": [2, 5]}], "status": "completed",'
    b' "error": null, "consensus": {"choices": [[{"key": "INV-1"}], [{"key": "INV-2",'
    b' "pages": [1]}]], "likelihoods": [{"key": 0.5, "pages": [1.0, 0.5]}, {"key": null}]},'
    b' "usage": {"credits": 4}, "created_at": "2026-08-03T14:21:07Z", "updated_at": "x"}'
)


def test_completed_record() -> None:
    record = decode(COMPLETED)
    assert record.done and record.key == "invoice number" and record.allow_overlap is False
    assert record.instructions == "one per invoice" and record.n_consensus == 2
    assert record.require_output()[1] == PartitionChunk(key="INV-2", pages=[3])
    assert record.pages_of("INV-1") == [1, 2, 5] and record.pages_of("INV-9") == []
    consensus = record.consensus
    assert consensus is not None and consensus.choices is not None
    assert consensus.choices[0] == [PartitionChunk(key="INV-1", pages=[])]
    assert consensus.likelihoods is not None and consensus.likelihoods[1].key is None


def test_likelihood_is_accepted_as_an_alias() -> None:
    record = decode(
        b'{"id": "p", "status": "completed", "output": [],'
        b' "consensus": {"likelihood": [{"key": 1.0, "pages": [1.0]}]}}'
    )
    assert record.consensus is not None and record.consensus.likelihoods is not None
    assert record.consensus.likelihoods[0].pages == [1.0]


@pytest.mark.parametrize("output", [b'"output": [],', b'"output": null,', b""])
@pytest.mark.parametrize("status", ["queued", "in_progress", "failed", "cancelled", "paused"])
def test_placeholder_output_is_never_a_result(output: bytes, status: str) -> None:
    record = decode(b'{"id": "p", ' + output + b' "status": "' + status.encode() + b'"}')
    assert record.output is None and record.allow_overlap is True


def test_require_output_says_why_there_is_none() -> None:
    failed = decode(b'{"id": "p", "status": "failed", "error": {"code": "X", "message": "m"}}')
    with pytest.raises(RunFailed):
        failed.require_output()
    with pytest.raises(RunCancelled):
        decode(b'{"id": "p", "status": "cancelled"}').pages_of("x")
    with pytest.raises(RunError, match="no output yet"):
        decode(b'{"id": "p", "status": "in_progress"}').require_output()


def _body(options: PartitionOptions) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.json.decode(build_partition_body(options, DOC))
    return result


def test_every_field_is_sent() -> None:
    assert _body(PartitionOptions(key="invoice number", instructions="")) == {
        "document": {"filename": "ledger.txt", "url": DOC.url},
        "key": "invoice number",
        "instructions": "",
        "model": "retab-small",
        "n_consensus": 1,
        "allow_overlap": True,
        "bust_cache": False,
        "background": False,
    }
    full = PartitionOptions(
        key="patient",
        instructions="One chunk per patient.",
        model="retab-large",
        n_consensus=3,
        allow_overlap=False,
        bust_cache=True,
        background=True,
    )
    body = _body(full)
    assert body["allow_overlap"] is False and body["n_consensus"] == 3
    assert body["bust_cache"] and body["background"] and body["model"] == "retab-large"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"key": ""}, "key must be a non-empty string"),
        ({"key": "  "}, "key must be a non-empty string"),
        ({"key": 3}, "key must be a non-empty string"),
        ({"instructions": None}, "instructions must be a string"),
        ({"n_consensus": 0}, "n_consensus must be an integer from 1 to 16"),
        ({"allow_overlap": "no"}, "allow_overlap must be True or False"),
        ({"model": ""}, "model must be a non-empty string"),
        ({"background": 1}, "background must be True or False"),
    ],
)
def test_bad_options(options: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {"key": "invoice", "instructions": "x", **options}
    with pytest.raises(UsageError, match=message):
        PartitionOptions(**fields)
