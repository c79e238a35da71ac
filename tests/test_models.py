"""Models decode forward-compatibly and never expose placeholders as results."""

from __future__ import annotations

import msgspec
import pytest

from retab_async import Classification, ClassificationConsensus, DecodeError, RunCancelled
from retab_async._http.transport import Response
from retab_async._runs.primitive import CLASSIFICATIONS, PRIMITIVES

COMPLETED = b"""{
  "id": "clss_9f2c", "file": {"id": "file_5d", "filename": "a.pdf", "mime_type": "application/pdf"},
  "model": "retab-small", "categories": [{"name": "invoice", "description": "bill"}],
  "n_consensus": 3, "instructions": null,
  "output": {"reasoning": "Header reads INVOICE", "category": "invoice"},
  "status": "completed", "error": null,
  "consensus": {"choices": [{"reasoning": "r", "category": "invoice"}], "likelihoods": 0.67},
  "usage": {"credits": 3.0}, "created_at": "2026-08-03T14:21:07.512Z",
  "updated_at": "2026-08-03T14:21:09Z", "brand_new_field": {"x": 1}
}"""


def _decode(body: bytes) -> Classification:
    return CLASSIFICATIONS.decode(Response(200, {}, body, "GET", "u"))


def test_completed_record_with_unknown_fields() -> None:
    record = _decode(COMPLETED)
    assert record.status == "completed" and record.done and not record.failed
    assert record.category == "invoice"
    assert record.consensus is not None and record.consensus.likelihoods == 0.67
    assert record.usage is not None and record.usage.credits == 3.0


@pytest.mark.parametrize(
    "output",
    [b'"output": {"reasoning": "", "category": ""},', b'"output": null,', b""],
    ids=["placeholder", "null", "missing"],
)
def test_placeholder_null_or_missing_output_before_completion(output: bytes) -> None:
    body = b'{"id": "c1", ' + output + b' "status": "queued"}'
    record = _decode(body)
    assert record.output is None and record.category is None and not record.done


def test_unknown_status_decodes_and_is_not_terminal() -> None:
    record = _decode(b'{"id": "c1", "status": "paused_for_review"}')
    assert record.status == "paused_for_review" and not record.done


def test_missing_status_is_pending() -> None:
    assert _decode(b'{"id": "c1"}').status == "pending"


def test_error_status_counts_as_a_failure() -> None:
    record = _decode(b'{"id": "c1", "status": "error"}')
    assert record.done and record.failed


def test_likelihood_singular_is_an_alias() -> None:
    consensus = msgspec.json.decode(
        b'{"choices": [], "likelihood": 0.5}', type=ClassificationConsensus
    )
    assert consensus.likelihoods == 0.5
    consensus = msgspec.json.decode(
        b'{"choices": [], "likelihood": null}', type=ClassificationConsensus
    )
    assert consensus.likelihoods is None


def _structs_of(kind: type[msgspec.Struct]) -> set[type[msgspec.Struct]]:
    """``kind`` and every Struct type its fields can hold, however deeply nested."""
    found: set[type[msgspec.Struct]] = set()
    pending: list[msgspec.inspect.Type] = [msgspec.inspect.type_info(kind)]
    while pending:
        info = pending.pop()
        if isinstance(info, msgspec.inspect.StructType):
            if info.cls in found:
                continue
            found.add(info.cls)
            pending += [field.type for field in info.fields]
        elif isinstance(info, msgspec.inspect.UnionType):
            pending += info.types
        elif isinstance(
            info,
            (msgspec.inspect.ListType, msgspec.inspect.SetType, msgspec.inspect.VarTupleType),
        ):
            pending.append(info.item_type)
        elif isinstance(info, msgspec.inspect.TupleType):
            pending += info.item_types
        elif isinstance(info, msgspec.inspect.DictType):
            pending += [info.key_type, info.value_type]
    return found


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_records_decode_without_a_python_hook(name: str) -> None:
    """Decoding runs no Python code of ours: outputs and aliases are normalised when read.

    Every Struct a primitive's record decodes (its consensus, output entries...) is
    checked, so that a new primitive with a ``__post_init__`` fails here.
    """
    kinds = _structs_of(PRIMITIVES[name].record_type)
    assert PRIMITIVES[name].record_type in kinds and len(kinds) > 1
    assert not [kind for kind in kinds if hasattr(kind, "__post_init__")]


def test_the_hook_check_reaches_nested_structs() -> None:
    from retab_async import ExtractionConsensus, PartitionConsensus, SplitConsensus, SplitResult

    kinds = set().union(*(_structs_of(p.record_type) for p in PRIMITIVES.values()))
    assert {ClassificationConsensus, ExtractionConsensus, SplitConsensus, SplitResult} <= kinds
    assert PartitionConsensus in kinds


def test_a_cancelled_record_hides_what_was_sent_as_output() -> None:
    record = _decode(b'{"id": "c1", "status": "cancelled", "output": {"category": "x"}}')
    assert record.output is None and record.category is None
    with pytest.raises(RunCancelled):
        record.require_output()


def test_models_are_frozen() -> None:
    record = _decode(COMPLETED)
    with pytest.raises(AttributeError):
        record.status = "failed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("body", "malformed"),
    [
        (b'{"id": 5}', False),
        (b"[]", False),
        (b'{"id": "c1", "stat', True),
        (b"<html>", True),
        (b"", False),
    ],
)
def test_bad_bodies_raise_decode_error(body: bytes, malformed: bool) -> None:
    with pytest.raises(DecodeError) as info:
        _decode(body)
    assert info.value.malformed is malformed
    assert "Classification" in str(info.value) or "empty" in str(info.value)


def test_legacy_rows_in_a_list_page_are_kept_aside() -> None:
    body = b'{"data": [{"id": "a", "status": "completed", "categories": null}, {"id": 7}, {"id": "b"}], "list_metadata": {"before": null, "after": "b"}}'
    page = CLASSIFICATIONS.decode_page(Response(200, {}, body, "GET", "u"))
    assert [r.id for r in page.data] == ["a", "b"]
    assert page.data[0].categories is None
    assert len(page.invalid) == 1 and '"id":7' in page.invalid[0][0].replace(" ", "")
    assert page.next_cursor == "b"


def test_mime_data_repr_is_short() -> None:
    from retab_async import MIMEData

    doc = MIMEData(filename="a.txt", url="data:text/plain;base64," + "A" * 10_000)
    assert len(repr(doc)) < 120


def test_shared_takes_equal_lists_from_the_source_and_keeps_the_rest() -> None:
    from retab_async import Category
    from retab_async._resources.classifications import ClassificationOptions
    from retab_async._runs.primitive import shared

    options = ClassificationOptions(categories=[Category(name="invoice")])
    record = _decode(b'{"id": "c1", "status": "queued", "categories": [{"name": "invoice"}]}')
    kept = shared(record, options)
    assert kept == record and kept.categories is options.categories
    other = _decode(b'{"id": "c1", "status": "queued", "categories": [{"name": "memo"}]}')
    assert shared(other, options) is other


def test_fetch_paths_follow_each_primitives_collection() -> None:
    from retab_async._runs.primitive import PRIMITIVES

    for primitive in PRIMITIVES.values():
        path = primitive.fetch_path("r1", output=False)
        assert path == primitive.record_path("r1") + "?include_output=false"
