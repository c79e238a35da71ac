"""JSON schemas in, typed objects out.

An extraction takes a ``json_schema`` (contract section 3: a JSON object that
describes the output object). Users give it as a dict, as the path of a JSON
file, or as a type that msgspec can describe (a ``msgspec.Struct``, a dataclass,
a ``TypedDict``...). :func:`load_json_schema` turns any of these into one
self-contained schema dict whose root is the object itself (msgspec's root
``$ref`` is resolved, and references are inlined unless the type is recursive).

:func:`decode_output` goes the other way: it converts a completed run's decoded
``output`` into the user's type, naming the field that does not fit.
"""

from __future__ import annotations

import copy
import json
import os
import re
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import msgspec

from .._errors import OutputValidationError, UsageError

__all__ = [
    "OutputValidationError",
    "SchemaLike",
    "decode_output",
    "describes_object",
    "load_json_schema",
]

T = TypeVar("T")

SchemaLike: TypeAlias = Mapping[str, Any] | str | os.PathLike[str] | type[Any]
"""A schema dict, the path of a JSON-schema file, or a type msgspec can describe."""

_DEFS_PREFIX = "#/$defs/"
_AT_PATH = re.compile(r"^(?P<reason>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.DOTALL)


def load_json_schema(schema: SchemaLike) -> dict[str, Any]:
    """The JSON schema ``schema`` stands for, as a fresh self-contained dict.

    ``schema`` is a mapping (copied), a path (``str`` or ``os.PathLike``) of a UTF-8
    JSON file read synchronously (schemas are small), or a type given to
    ``msgspec.json.schema``. The result must describe an object: its ``type`` is
    ``"object"``, or it has ``properties``.

    Raises:
        UsageError: the file is missing, unreadable or not JSON; the type cannot be
            described by msgspec; the schema is not a JSON object describing an
            object, or holds values JSON cannot encode.
    """
    if isinstance(schema, type):
        result = _schema_of_type(schema)
        origin = f"the schema of {schema.__name__}"
    elif isinstance(schema, Mapping):
        result = _plain_copy(schema)
        origin = "json_schema"
    elif isinstance(schema, (str, os.PathLike)):
        _check_path_text(os.fspath(schema))
        result = _read_schema_file(Path(os.fspath(schema)))
        origin = f"the schema in {os.fspath(schema)!r}"
    else:
        raise UsageError(
            f"json_schema must be a dict, a JSON-schema file path or a type, "
            f"not {type(schema).__name__}"
        )
    result = _root_resolved(result)
    _check_object_schema(result, origin)
    return result


def _root_resolved(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema whose root is a local ``$ref`` (as ``msgspec.json.schema`` writes them)
    with the root resolved; its ``$defs`` stay for the references inside."""
    ref, defs = schema.get("$ref"), schema.get("$defs")
    if not (isinstance(ref, str) and isinstance(defs, dict) and ref.startswith(_DEFS_PREFIX)):
        return schema
    target = defs.get(ref[len(_DEFS_PREFIX) :])
    if not isinstance(target, dict):
        return schema
    siblings = {key: value for key, value in schema.items() if key != "$ref"}
    return {**target, **siblings}


def _plain_copy(schema: Mapping[str, Any]) -> dict[str, Any]:
    try:
        copied = msgspec.json.decode(msgspec.json.encode(schema))
    except (TypeError, ValueError, OverflowError) as exc:
        raise UsageError(f"json_schema cannot be encoded as JSON: {exc}") from None
    if not isinstance(copied, dict):
        raise UsageError("json_schema must be a JSON object")
    return copied


def _check_path_text(path: str) -> None:
    if not path.strip():
        raise UsageError("json_schema path is empty")
    if path.lstrip().startswith("{"):
        raise UsageError(
            "json_schema looks like JSON text; pass a dict (json.loads(text)) or a file path"
        )


def _read_schema_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"JSON-schema file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"JSON-schema file {str(path)!r} is a directory") from None
    except OSError as exc:
        raise UsageError(f"JSON-schema file {str(path)!r} cannot be read: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"JSON-schema file {str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        found = type(data).__name__
        raise UsageError(f"JSON-schema file {str(path)!r} holds a {found}, not a JSON object")
    return data


# Generating a schema walks the whole type; map() over many documents asks for the
# same one again and again. Weak keys, so that types made on the fly can go away.
_schema_cache: weakref.WeakKeyDictionary[type[Any], dict[str, Any]] = weakref.WeakKeyDictionary()


def _schema_of_type(kind: type[Any]) -> dict[str, Any]:
    schema = _schema_cache.get(kind)
    if schema is None:
        try:
            generated = msgspec.json.schema(kind)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"cannot describe {kind.__name__} as a JSON schema: {exc}") from None
        schema = _schema_cache[kind] = _self_contained(generated)
    # A deep copy, so that callers may change what they get without touching the cache.
    return copy.deepcopy(schema)


def _self_contained(schema: dict[str, Any]) -> dict[str, Any]:
    """Resolve the root ``$ref``; inline every reference unless a type is recursive."""
    defs: dict[str, Any] = schema.get("$defs", {})
    root = _resolve_ref(schema, defs) if "$ref" in schema else dict(schema)
    root.pop("$defs", None)
    if not defs:
        return root
    if _is_recursive(defs):
        root["$defs"] = defs
        return root
    inlined = _inline(root, defs)
    assert isinstance(inlined, dict)
    return inlined


def _resolve_ref(node: Mapping[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    target = defs[_ref_name(node["$ref"])]
    siblings = {key: value for key, value in node.items() if key not in ("$ref", "$defs")}
    return {**target, **siblings}


def _ref_name(ref: str) -> str:
    if not ref.startswith(_DEFS_PREFIX):
        raise UsageError(f"unsupported $ref {ref!r} in a generated schema")
    return ref[len(_DEFS_PREFIX) :]


def _inline(node: Any, defs: Mapping[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _inline(_resolve_ref(node, defs), defs)
    return {key: _inline(value, defs) for key, value in node.items()}


def _is_recursive(defs: Mapping[str, Any]) -> bool:
    edges = {name: _refs_in(body) for name, body in defs.items()}
    done: set[str] = set()

    def cycles_from(name: str, path: frozenset[str]) -> bool:
        if name in path:
            return True
        if name in done:
            return False
        found = any(cycles_from(nxt, path | {name}) for nxt in edges.get(name, ()))
        done.add(name)
        return found

    return any(cycles_from(name, frozenset()) for name in defs)


def _refs_in(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*(_refs_in(item) for item in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = {_ref_name(node["$ref"])} if isinstance(node.get("$ref"), str) else set()
    for value in node.values():
        found |= _refs_in(value)
    return found


def describes_object(schema: Mapping[str, Any]) -> bool:
    """Whether ``schema``'s ``type`` is ``"object"``, or it has no type but ``properties``."""
    kind = schema.get("type")
    return kind == "object" or (kind is None and isinstance(schema.get("properties"), dict))


def _check_object_schema(schema: dict[str, Any], origin: str) -> None:
    if describes_object(schema):
        return
    kind = schema.get("type")
    described = f"type {kind!r}" if kind is not None else "no type and no properties"
    raise UsageError(
        f'{origin} must describe a JSON object ("type": "object"), but it has {described}'
    )


def decode_output(output: Mapping[str, Any] | None, into: type[T]) -> T:
    """Convert a run's decoded ``output`` into ``into`` (a Struct, dataclass, TypedDict...).

    Conversion is strict, as msgspec's is: wrong types, missing required fields and
    values outside an enum are errors; unknown fields are ignored unless ``into``
    forbids them.

    Raises:
        OutputValidationError: ``output`` is ``None`` (the run has no result yet) or
            does not fit ``into``; ``path`` names the offending field.
    """
    name = getattr(into, "__name__", repr(into))
    if output is None:
        raise OutputValidationError(path="$", reason="there is no output yet", target=name)
    try:
        return msgspec.convert(output, into)
    except msgspec.ValidationError as exc:
        match = _AT_PATH.match(str(exc))
        assert match is not None  # the pattern matches any text
        raise OutputValidationError(
            path=match.group("path") or "$", reason=match.group("reason"), target=name
        ) from exc
