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


def test_shared_takes_equal_strings_and_records_from_the_record_before() -> None:
    from retab_async._runs.primitive import shared

    before = _decode(
        b'{"id": "c1", "status": "queued", "model": "m", "instructions": "look closely",'
        b' "file": {"id": "f1", "filename": "a.pdf"}, "n_consensus": 3}'
    )
    after = _decode(
        b'{"id": "c1", "status": "in_progress", "model": "m", "instructions": "look closely",'
        b' "file": {"id": "f1", "filename": "a.pdf"}, "n_consensus": 3}'
    )
    kept = shared(after, before)
    assert kept == after and kept.status == "in_progress" and kept.status is after.status
    assert kept.id is before.id and kept.file is before.file
    assert kept.instructions is before.instructions


def test_fetch_paths_follow_each_primitives_collection() -> None:
    from retab_async._runs.primitive import PRIMITIVES

    for primitive in PRIMITIVES.values():
        path = primitive.fetch_path("r1", output=False)
        assert path == primitive.record_path("r1") + "?include_output=false"


# A result each primitive may send before its run completes: never shown as a result.
_SENT_EARLY = {
    "classifications": {"category": "invoice", "reasoning": ""},
    "edits": {"form_data": [{"key": "name", "value": "x"}]},
    "extractions": {"total": 1},
    "file_blueprints": {"pages": [1]},
    "parses": {"pages": ["p"], "text": "p"},
    "partitions": [{"key": "INV-1", "pages": [1]}],
    "schemas": {"type": "object"},
    "splits": [{"name": "invoice", "pages": [1]}],
}

# The consensus of a record that sends ``likelihood`` rather than ``likelihoods``.
_ALIASED: dict[str, object] = {
    "classifications": 0.5,
    "extractions": {"total": 1.0},
    "partitions": [{"key": 1.0, "pages": [1.0]}],
    "splits": [{"name": 1.0, "pages": [1.0]}],
}


@pytest.mark.parametrize("name", sorted(_SENT_EARLY))
@pytest.mark.parametrize("status", ["in_progress", "completed"])
def test_as_read_encodes_the_fields_as_read(name: str, status: str) -> None:
    """What the CLI's ``--json`` prints: every field encoding the record gives, with the
    result hidden until completion and the likelihood alias filled in, as before the
    normalisation moved from decoding to reading."""
    from retab_async._models.common import as_read

    primitive = PRIMITIVES[name]
    body: dict[str, object] = {"id": "r1", "status": status}
    body[primitive.result_field] = _SENT_EARLY[name]
    if "consensus" in primitive.record_type.__struct_fields__:
        body["consensus"] = {"likelihood": _ALIASED[name]}
    record = msgspec.convert(body, primitive.record_type)
    shown = msgspec.json.decode(msgspec.json.encode(as_read(record)))
    assert list(shown) == list(msgspec.to_builtins(record))
    for field in set(primitive.record_type.__struct_fields__) - {"consensus"}:
        assert shown[field] == msgspec.to_builtins(getattr(record, field)), field
    result = shown[primitive.result_field]
    assert (result is not None) is (status == "completed")
    if "consensus" in shown:
        likelihoods = shown["consensus"]["likelihoods"]
        assert likelihoods == shown["consensus"]["likelihood"] and likelihoods is not None


def test_the_cli_json_shows_no_early_result_and_the_likelihood_alias() -> None:
    import io

    from retab_async import SplitConsensus
    from retab_async._cli.output import Output
    from retab_async._runs.primitive import SPLITS

    record = SPLITS.decode(
        Response(
            200,
            {},
            b'{"id": "split_1", "status": "in_progress", "output": [{"name": "a", "pages": [1]}],'
            b' "consensus": {"likelihood": [{"name": 1.0, "pages": [1.0]}]}}',
            "GET",
            "u",
        )
    )
    stdout = io.StringIO()
    Output(json_lines=True, stdout=stdout).record(record, SPLITS)
    shown = msgspec.json.decode(stdout.getvalue())
    assert shown["id"] == "split_1" and shown["output"] is None
    assert shown["consensus"]["likelihoods"] == [{"name": 1.0, "pages": [1.0]}]
    assert isinstance(record.consensus, SplitConsensus)
    assert record.consensus.likelihoods is not None and record.consensus.likelihoods[0].name == 1.0


def test_as_read_walks_containers_and_leaves_other_values() -> None:
    from retab_async._models.common import as_read

    early = _decode(b'{"id": "c1", "status": "queued", "output": {"category": "x"}}')
    assert as_read({"rows": [early], "pair": (early, 1), "n": 2})["rows"][0]["output"] is None
    assert as_read({"pair": (early, 1)})["pair"][1] == 1
    assert as_read("text") == "text"
