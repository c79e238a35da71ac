"""The local server's schema filler: valid, deterministic, text-driven; partials and consensus."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from retab_async.testing._primitives.schema_fill import (
    UnfillableSchema,
    consensus,
    fill_schema,
    iter_partials,
)

INVOICE_TEXT = (
    "INVOICE\nInvoice number: INV-2041\nCustomer name: Acme Corp\n"
    "Total due: 1,234.50 EUR\nDue date 2026-09-30\nContact billing@acme.example\n"
)
INVOICE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "invoice_number": {"type": "string"},
        "total_due": {"type": "number"},
        "currency": {"enum": ["USD", "EUR", "GBP"]},
        "paid": {"type": "boolean"},
        "invoice": {"type": "boolean"},
        "due_date": {"type": ["string", "null"], "format": "date"},
        "contact": {"type": "string", "format": "email"},
        "purchase_order": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "customer": {"$ref": "#/$defs/Party"},
        "lines": {"type": "array", "items": {"$ref": "#/$defs/Line"}, "minItems": 1},
    },
    "required": ["invoice_number", "total_due", "customer"],
    "$defs": {
        "Party": {
            "type": "object",
            "properties": {"name": {"type": "string"}},
            "required": ["name"],
        },
        "Line": {
            "type": "object",
            "properties": {
                "description": {"type": "string"},
                "quantity": {"type": "integer", "minimum": 1},
            },
            "required": ["description", "quantity"],
        },
    },
}


def _validate(schema: Any, instance: Any) -> None:
    Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(
        instance
    )


def test_values_come_from_the_text() -> None:
    output = fill_schema(INVOICE_SCHEMA, INVOICE_TEXT)
    _validate(INVOICE_SCHEMA, output)
    assert output["invoice_number"] == "INV-2041"
    assert output["total_due"] == 1234.5
    assert output["currency"] == "EUR"
    assert output["invoice"] is True
    assert output["due_date"] == "2026-09-30"
    assert output["contact"] == "billing@acme.example"
    assert output["purchase_order"] is None  # nullable and not in the text
    assert output["customer"] == {"name": "Acme Corp"}
    assert len(output["lines"]) == 2 and all(line["quantity"] >= 1 for line in output["lines"])


def test_same_input_same_output() -> None:
    assert fill_schema(INVOICE_SCHEMA, INVOICE_TEXT) == fill_schema(INVOICE_SCHEMA, INVOICE_TEXT)


def test_text_without_words_or_numbers() -> None:
    output = fill_schema(INVOICE_SCHEMA, "")
    _validate(INVOICE_SCHEMA, output)
    assert isinstance(output["invoice_number"], str) and output["invoice_number"]


def test_required_keys_without_properties() -> None:
    schema = {"type": "object", "required": ["a", "b"], "additionalProperties": True}
    assert set(fill_schema(schema, "x")) == {"a", "b"}


def test_allof_and_nested_refs() -> None:
    schema = {
        "allOf": [
            {"$ref": "#/definitions/Base"},
            {"type": "object", "properties": {"extra": {"type": "integer"}}, "required": ["extra"]},
        ],
        "definitions": {
            "Base": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
        },
    }
    output = fill_schema(schema, "id: A-1, extra 7")
    _validate(schema, output)
    assert output == {"id": "A-1", "extra": 7}


def test_recursive_schema_stops() -> None:
    schema = {
        "$ref": "#/$defs/Node",
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
                "required": ["name"],
            }
        },
    }
    _validate(schema, fill_schema(schema, "root leaf"))


def test_recursion_through_required_fields_is_refused() -> None:
    schema = {
        "$defs": {
            "N": {
                "type": "object",
                "properties": {"next": {"$ref": "#/$defs/N"}},
                "required": ["next"],
            }
        },
        "$ref": "#/$defs/N",
    }
    with pytest.raises(UnfillableSchema):
        fill_schema(schema, "x")


def test_dangling_ref_is_refused() -> None:
    with pytest.raises(UnfillableSchema, match="points nowhere"):
        fill_schema({"$ref": "#/$defs/Missing"}, "x")


def test_numeric_bounds() -> None:
    schema = {
        "type": "object",
        "properties": {
            "low": {"type": "number", "exclusiveMinimum": 5000},
            "high": {"type": "integer", "maximum": 10},
            "band": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "step": {"type": "integer", "minimum": 3, "maximum": 40, "multipleOf": 7},
        },
    }
    output = fill_schema(schema, "low 12 high 1234 band 9 step 22")
    _validate(schema, output)
    assert output["high"] == 10 and output["step"] == 21


def test_string_lengths() -> None:
    schema = {
        "type": "object",
        "properties": {"code": {"type": "string", "minLength": 12, "maxLength": 14}},
    }
    output = fill_schema(schema, "code: AB")
    _validate(schema, output)


# -- property test: any schema from the strategy gets a valid instance -----------------

NAMES = ["name", "total", "amount_due", "date", "id", "status", "items", "paid", "note"]

json_scalars = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8)


@st.composite
def number_schemas(draw: Any) -> dict[str, Any]:
    integer = draw(st.booleans())
    schema: dict[str, Any] = {"type": "integer" if integer else "number"}
    low, width = draw(st.integers(-10_000, 10_000)), draw(st.integers(2, 5_000))
    if draw(st.booleans()):
        schema["exclusiveMinimum" if draw(st.booleans()) else "minimum"] = low
    if draw(st.booleans()):
        schema["exclusiveMaximum" if draw(st.booleans()) else "maximum"] = low + width
    if integer and draw(st.booleans()):
        step = draw(st.integers(1, 7))
        schema["multipleOf"] = step
        if "maximum" in schema or "exclusiveMaximum" in schema:
            schema.pop("exclusiveMaximum", None)
            schema["maximum"] = low + width + 2 * step + 2
    return schema


@st.composite
def string_schemas(draw: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    fmt = draw(st.sampled_from([None, "date", "date-time", "email", "uri", "uuid"]))
    if fmt is not None:
        schema["format"] = fmt
        return schema
    low = draw(st.integers(0, 20))
    if draw(st.booleans()):
        schema["minLength"] = low
    if draw(st.booleans()):
        schema["maxLength"] = low + draw(st.integers(0, 20))
    return schema


scalar_schemas = st.one_of(
    string_schemas(),
    number_schemas(),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.lists(json_scalars, min_size=1, max_size=4, unique_by=json.dumps).map(lambda v: {"enum": v}),
    json_scalars.map(lambda v: {"const": v}),
    st.just({}),
)


def _extend(children: Any) -> Any:
    objects = st.dictionaries(
        st.sampled_from(NAMES) | st.text(min_size=1, max_size=6), children, max_size=4
    ).flatmap(
        lambda props: (
            st.lists(st.sampled_from(sorted(props)), unique=True).map(
                lambda req: {"type": "object", "properties": props, "required": req}
            )
            if props
            else st.just({"type": "object", "properties": {}})
        )
    )
    arrays = st.tuples(children, st.integers(0, 3), st.integers(0, 3)).map(
        lambda t: {"type": "array", "items": t[0], "minItems": t[1], "maxItems": t[1] + t[2]}
    )
    nullable = children.map(lambda c: {"anyOf": [c, {"type": "null"}]})
    type_lists = scalar_schemas.filter(
        lambda s: s.get("type") in ("string", "number", "integer", "boolean")
    ).map(lambda s: {**s, "type": [s["type"], "null"]})
    any_of = st.lists(children, min_size=1, max_size=3).map(lambda cs: {"anyOf": cs})
    return objects | arrays | nullable | type_lists | any_of


schemas = st.recursive(scalar_schemas, _extend, max_leaves=12)


@st.composite
def rooted(draw: Any) -> dict[str, Any]:
    """A schema, sometimes behind a ``$ref`` into ``$defs``."""
    body = draw(schemas)
    if draw(st.booleans()):
        return {"$ref": "#/$defs/Root", "$defs": {"Root": body}}
    return body


texts = st.lists(
    st.one_of(
        st.sampled_from(NAMES),
        st.integers(-(10**6), 10**6).map(str),
        st.floats(allow_nan=False, allow_infinity=False).map(str),
        st.sampled_from([":", "\n", "\f", "2026-01-31", "a@b.example", "1,234.50", "9" * 40]),
        st.text(max_size=10),
    ),
    max_size=30,
).map(" ".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=rooted(), text=texts, seed=st.integers(0, 20))
def test_any_schema_gets_a_valid_instance(schema: dict[str, Any], text: str, seed: int) -> None:
    instance = fill_schema(schema, text, seed=seed)
    _validate(schema, instance)
    assert fill_schema(schema, text, seed=seed) == instance
    json.dumps(instance, allow_nan=False)


def _same_shape(output: Any, likelihoods: Any) -> bool:
    if isinstance(output, dict):
        return (
            isinstance(likelihoods, dict)
            and likelihoods.keys() == output.keys()
            and all(_same_shape(output[k], likelihoods[k]) for k in output)
        )
    if isinstance(output, list):
        return (
            isinstance(likelihoods, list)
            and len(likelihoods) == len(output)
            and all(map(_same_shape, output, likelihoods))
        )
    return isinstance(likelihoods, float) and 0.0 < likelihoods <= 1.0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=rooted(), text=texts, n=st.integers(2, 6))
def test_consensus_votes_and_likelihoods(schema: dict[str, Any], text: str, n: int) -> None:
    result = consensus(schema, text, n)
    assert len(result.choices) == n
    for vote in result.choices:
        _validate(schema, vote)
    _validate(schema, result.output)
    assert _same_shape(result.output, result.likelihoods)


def test_consensus_on_the_invoice() -> None:
    result = consensus(INVOICE_SCHEMA, INVOICE_TEXT, 5)
    _validate(INVOICE_SCHEMA, result.output)
    # Values read from the text do not depend on the vote; guesses may.
    assert result.likelihoods["invoice_number"] == 1.0 and result.likelihoods["total_due"] == 1.0
    assert result.likelihoods["customer"] == {"name": 1.0}
    assert [set(line) for line in result.likelihoods["lines"]] == [{"description", "quantity"}] * 2
    assert result.output["invoice_number"] == "INV-2041"
    assert consensus(INVOICE_SCHEMA, INVOICE_TEXT, 5) == result


def test_single_vote_has_no_consensus() -> None:
    result = consensus(INVOICE_SCHEMA, INVOICE_TEXT, 1)
    assert result.choices == [] and result.likelihoods is None
    assert result.output == fill_schema(INVOICE_SCHEMA, INVOICE_TEXT)


def _leaf_count(value: Any) -> int:
    if isinstance(value, dict) and value:
        return sum(map(_leaf_count, value.values()))
    if isinstance(value, list) and value:
        return sum(map(_leaf_count, value))
    return 1


def _contained(part: Any, whole: Any) -> bool:
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(
            k in whole and _contained(v, whole[k]) for k, v in part.items()
        )
    if isinstance(part, list):
        return (
            isinstance(whole, list)
            and len(part) <= len(whole)
            and all(map(_contained, part, whole))
        )
    return bool(part == whole)


json_values = st.recursive(
    json_scalars,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
    max_leaves=15,
)


@settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_partials_grow_leaf_by_leaf_to_the_whole(value: Any) -> None:
    partials = list(iter_partials(value))
    assert partials[-1] == value
    if isinstance(value, (dict, list)):
        assert partials[0] in ({}, []) and len(partials) == _leaf_count(value) + 1 - (not value)
        for before, after in itertools.pairwise(partials):
            assert _contained(before, after) and before != after
    else:
        assert partials == [value]
    for partial in partials:
        assert _contained(partial, value)


def test_partials_of_the_invoice() -> None:
    output = fill_schema(INVOICE_SCHEMA, INVOICE_TEXT)
    partials = list(iter_partials(output))
    assert partials[0] == {} and partials[1] == {"invoice_number": "INV-2041"}
    assert partials[-1] == output
    partials[1]["invoice_number"] = "changed"
    assert output["invoice_number"] == "INV-2041"  # partials are copies
