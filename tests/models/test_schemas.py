"""json_schema input in every accepted form, and decoding outputs into user types."""

from __future__ import annotations

import dataclasses
import enum
import json
from pathlib import Path
from typing import Any, TypedDict

import msgspec
import pytest

from retab_async import RetabError, UsageError
from retab_async._models.schemas import (
    OutputValidationError,
    decode_output,
    describes_object,
    load_json_schema,
)


class Kind(enum.Enum):
    INVOICE = "invoice"
    RECEIPT = "receipt"


class Line(msgspec.Struct):
    description: str
    quantity: int
    unit_price: float | None = None


class Invoice(msgspec.Struct):
    number: str
    kind: Kind
    lines: list[Line]
    total: float
    paid: bool = False


class TreeNode(msgspec.Struct):
    name: str
    children: list[TreeNode] = []


@dataclasses.dataclass
class Person:
    name: str
    age: int


class Address(TypedDict):
    street: str
    city: str


SIMPLE = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def test_dict_is_copied() -> None:
    schema = load_json_schema(SIMPLE)
    assert schema == SIMPLE and schema is not SIMPLE
    schema["properties"]["name"]["type"] = "integer"
    assert SIMPLE["properties"]["name"]["type"] == "string"


def test_properties_without_type_describe_an_object() -> None:
    assert load_json_schema({"properties": {"a": {"type": "string"}}})["properties"]


@pytest.mark.parametrize("as_path", [str, Path])
def test_file_path(tmp_path: Path, as_path: Any) -> None:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(SIMPLE), encoding="utf-8")
    assert load_json_schema(as_path(path)) == SIMPLE


def test_a_schema_file_written_by_msgspec_has_its_root_resolved(tmp_path: Path) -> None:
    path = tmp_path / "invoice.schema.json"
    path.write_bytes(msgspec.json.encode(msgspec.json.schema(Invoice)))
    schema = load_json_schema(path)
    assert "$ref" not in schema and schema["type"] == "object"
    assert schema["required"] == ["number", "kind", "lines", "total"]
    assert "$defs" in schema  # the references inside still resolve


def test_struct_type_gives_a_self_contained_object_schema() -> None:
    schema = load_json_schema(Invoice)
    assert schema["type"] == "object" and "$defs" not in schema and _refs(schema) == []
    assert schema["required"] == ["number", "kind", "lines", "total"]
    line = schema["properties"]["lines"]["items"]
    assert line["type"] == "object" and line["required"] == ["description", "quantity"]
    assert schema["properties"]["kind"]["enum"] == ["invoice", "receipt"]
    assert line["properties"]["unit_price"]["anyOf"] == [{"type": "number"}, {"type": "null"}]


def test_recursive_struct_keeps_defs_with_the_root_inlined() -> None:
    schema = load_json_schema(TreeNode)
    assert schema["type"] == "object" and "$ref" not in schema
    assert schema["properties"]["children"]["items"] == {"$ref": "#/$defs/TreeNode"}
    assert schema["$defs"]["TreeNode"]["type"] == "object"


def test_dataclass_and_typeddict() -> None:
    assert load_json_schema(Person)["required"] == ["name", "age"]
    assert set(load_json_schema(Address)["properties"]) == {"street", "city"}


def test_schema_of_a_type_is_a_fresh_copy_each_time() -> None:
    first = load_json_schema(Invoice)
    first["properties"].clear()
    assert load_json_schema(Invoice)["properties"]


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "array", "items": {}}, "type 'array'"),
        ({}, "no type and no properties"),
        ({"type": "object", "x": object()}, "cannot be encoded"),
        (42, "not int"),
        (b"{}", "not bytes"),
        (int, "type 'integer'"),
        (type("Custom", (), {}), "cannot describe Custom"),
    ],
)
def test_bad_schemas(schema: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        load_json_schema(schema)


@pytest.mark.parametrize(
    ("text", "message"), [("", "path is empty"), ('{"type": "object"}', "looks like JSON text")]
)
def test_strings_that_are_not_paths(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        load_json_schema(text)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_json_schema(tmp_path / "nope.json")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a directory"):
        load_json_schema(tmp_path)


def test_invalid_json_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"type": "object",', encoding="utf-8")
    with pytest.raises(UsageError, match="not valid JSON"):
        load_json_schema(path)


@pytest.mark.parametrize("content", ["[1, 2]", '"object"', "null"])
def test_file_not_holding_an_object(tmp_path: Path, content: str) -> None:
    path = tmp_path / "schema.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError, match="not a JSON object"):
        load_json_schema(path)


def test_file_holding_a_non_object_schema(tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    path.write_text('{"type": "string"}', encoding="utf-8")
    with pytest.raises(UsageError, match=r"schema\.json.*must describe a JSON object"):
        load_json_schema(path)


def test_describes_object() -> None:
    assert describes_object({"type": "object"})
    assert not describes_object({"type": ["object", "null"]})
    assert not describes_object({"properties": []})


GOOD = {
    "number": "INV-1",
    "kind": "invoice",
    "lines": [{"description": "Widget", "quantity": 2, "unit_price": 3.5}],
    "total": 7.0,
    "extra": "ignored",
}


def test_decode_output_into_a_struct() -> None:
    invoice = decode_output(GOOD, Invoice)
    assert invoice == Invoice(
        number="INV-1", kind=Kind.INVOICE, lines=[Line("Widget", 2, 3.5)], total=7.0
    )


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        (
            {"lines": [{"description": "W", "quantity": "2"}]},
            "$.lines[0].quantity",
            "Expected `int`",
        ),
        ({"lines": [{"quantity": 2}]}, "$.lines[0]", "missing required field `description`"),
        ({"kind": "memo"}, "$.kind", "Invalid enum value 'memo'"),
        ({"total": None}, "$.total", "Expected `float`, got `null`"),
    ],
)
def test_decode_output_names_the_bad_field(change: dict[str, Any], path: str, reason: str) -> None:
    with pytest.raises(OutputValidationError) as info:
        decode_output({**GOOD, **change}, Invoice)
    error = info.value
    assert error.path == path and reason in error.reason and error.target == "Invoice"
    assert isinstance(error, RetabError) and isinstance(error, ValueError)
    assert path in str(error) and "Invoice" in str(error)
    assert isinstance(error.__cause__, msgspec.ValidationError)


def test_decode_output_whole_object_wrong() -> None:
    with pytest.raises(OutputValidationError) as info:
        decode_output({"name": "x"}, Person)
    assert info.value.path == "$" and "age" in info.value.reason


def test_decode_output_without_output() -> None:
    with pytest.raises(OutputValidationError, match="no output yet"):
        decode_output(None, Invoice)
