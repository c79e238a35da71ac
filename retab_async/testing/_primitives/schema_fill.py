"""A deterministic stand-in for an extraction model: fill any JSON schema from a text.

:func:`fill_schema` walks the schema and builds an instance that validates
against it: objects get every property (required ones always), arrays a few
items, enums one of their values, nullable values ``null`` when the text holds
no evidence for them. Values come from the text:

* a property name found in the text (``invoice_number`` matches "Invoice
  number: INV-7") gives the value written after it: a number for numeric
  fields, the rest of the phrase for strings, ``true`` for booleans;
* otherwise strings are words of the text, numbers are numbers found in it,
  and enums the first value that appears in it;
* what the text cannot settle is *guessed*, from a hash of the field's path and
  a ``seed``. Guesses are the only thing a different seed changes, which is how
  :func:`consensus` makes votes that mostly agree.

Supported: ``type`` (one or a list), ``properties``/``required``, ``items``,
``prefixItems``, ``minItems``/``maxItems``, ``enum``, ``const``, ``anyOf`` and
``oneOf`` (a branch chosen from the path; ``null`` as above), ``allOf``
(merged), ``$ref`` into the same document (``$defs``/``definitions``,
recursion cut off by depth), string ``minLength``/``maxLength``/``format``,
numeric bounds and integer ``multipleOf``. ``pattern``, ``uniqueItems`` and
conditionals are not honoured.

:func:`iter_partials` replays an object leaf by leaf, as the stream route sends
it; :func:`consensus` gives the votes and the likelihood tree of contract
section 3 for ``n_consensus``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

__all__ = ["Consensus", "UnfillableSchema", "consensus", "fill_schema", "iter_partials"]

_WORD = re.compile(r"[^\W_]+(?:[-'./][^\W_]+)*")
_NUMBER = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.])-?\d+(?:[.,]\d+)?")
_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_FALLBACK_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
_MAX_DEPTH = 8
_TYPE_ORDER = ("object", "array", "string", "number", "integer", "boolean", "null")


class UnfillableSchema(ValueError):
    """No finite instance can be built: a recursion through required fields, or a
    ``$ref`` that points nowhere."""


def fill_schema(schema: Mapping[str, Any], text: str, *, seed: int = 0) -> Any:
    """An instance of ``schema`` built from ``text``; the same inputs give the same value.

    Raises :class:`UnfillableSchema` when no finite instance exists.
    """
    return _Filler(schema, _Facts(text), seed).fill(schema, (), None, 0)


class _Facts:
    """What the text offers: its words, numbers, dates, e-mail addresses, and key lookups."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lower = text.lower()
        self.words = _WORD.findall(text) or list(_FALLBACK_WORDS)
        self.numbers = [n for n in map(_to_number, _NUMBER.findall(text)) if _usable(n)]
        self.dates = [m.group(0) for m in _DATE.finditer(text) if _valid_date(m.group(0))]
        self.emails = _EMAIL.findall(text)

    def after_key(self, key: str | None) -> str | None:
        """The phrase written after ``key`` in the text ("Total due: 30 EUR" -> "30 EUR"),
        up to the end of the line or a ``.``, ``,`` or ``;`` that ends a phrase."""
        pattern = _key_pattern(key)
        if pattern is None:
            return None
        match = re.search(
            pattern + r"\s*[:#=\-]?\s*((?:[^\n\f.;,]|[.,](?=[^\s.;,])){1,60})",
            self.text,
            re.IGNORECASE,
        )
        if match is None:
            return None
        return match.group(1).strip() or None

    def number_after_key(self, key: str | None) -> float | None:
        """The first number within a few words after ``key`` in the text."""
        pattern = _key_pattern(key)
        if pattern is None:
            return None
        match = re.search(pattern + r"\D{0,24}?(" + _NUMBER.pattern + ")", self.text, re.IGNORECASE)
        number = _to_number(match.group(1)) if match else None
        return number if number is not None and _usable(number) else None

    def mentions(self, key: str | None) -> bool:
        pattern = _key_pattern(key)
        return pattern is not None and re.search(pattern, self.text, re.IGNORECASE) is not None


def _key_pattern(key: str | None) -> str | None:
    parts = re.findall(r"[a-z]+|\d+", re.sub(r"([a-z])([A-Z])", r"\1 \2", key or "").lower())
    if not parts:
        return None
    return r"\b" + r"[\s_\-]*".join(map(re.escape, parts)) + r"\b"


def _to_number(raw: str) -> float:
    if re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?", raw):
        raw = raw.replace(",", "")
    return float(raw.replace(",", "."))


def _usable(number: float) -> bool:
    # Integers past 2**53 lose precision in JSON readers; the text's serial numbers
    # are not amounts anyway.
    return math.isfinite(number) and abs(number) <= 1e15


def _valid_date(raw: str) -> bool:
    try:
        dt.date.fromisoformat(raw)
    except ValueError:
        return False
    return True


class _Filler:
    def __init__(self, root: Mapping[str, Any], facts: _Facts, seed: int) -> None:
        self.root = root
        self.facts = facts
        self.seed = seed

    def guess(self, path: tuple[Any, ...], modulo: int, *, salt: str = "") -> int:
        """A number in ``range(modulo)`` from the path and the seed: the one source of guesses."""
        data = f"{self.seed}|{salt}|{path!r}".encode()
        return int.from_bytes(hashlib.sha256(data).digest()[:8], "big") % max(modulo, 1)

    def stable(self, path: tuple[Any, ...], modulo: int) -> int:
        """Like :meth:`guess`, but the same for every seed (for choices of shape)."""
        data = f"shape|{path!r}".encode()
        return int.from_bytes(hashlib.sha256(data).digest()[:8], "big") % max(modulo, 1)

    def fill(self, schema: Any, path: tuple[Any, ...], key: str | None, depth: int) -> Any:
        if depth > 4 * _MAX_DEPTH:
            raise UnfillableSchema(f"the schema requires values nested without end (at {path!r})")
        if not isinstance(schema, Mapping):
            return self.fill_string({}, path, key)  # ``true`` or junk: anything goes
        schema = self.resolve(schema, depth)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return self.fill_enum(schema["enum"], path, key)
        branches = schema.get("anyOf") or schema.get("oneOf")
        if branches:
            return self.fill_branches(schema, branches, path, key, depth)
        return self.fill_typed(schema, _types_of(schema), path, key, depth)

    def resolve(self, schema: Mapping[str, Any], depth: int) -> Mapping[str, Any]:
        while "$ref" in schema or "allOf" in schema:
            if "$ref" in schema:
                target = _pointer(self.root, schema["$ref"])
                rest = {k: v for k, v in schema.items() if k != "$ref"}
                schema = {**target, **rest}
            else:
                parts = [
                    self.resolve(p, depth + 1) for p in schema["allOf"] if isinstance(p, Mapping)
                ]
                schema = _merge_all_of(_without(schema, "allOf"), parts)
            depth += 1
            if depth > 64:
                raise UnfillableSchema("schema references do not end")
        return schema

    def fill_enum(self, values: Sequence[Any], path: tuple[Any, ...], key: str | None) -> Any:
        for value in values:
            if isinstance(value, str) and value and self.facts.mentions(value):
                return value
        return values[self.guess(path, len(values), salt="enum")]

    def fill_branches(
        self,
        schema: Mapping[str, Any],
        branches: Sequence[Any],
        path: tuple[Any, ...],
        key: str | None,
        depth: int,
    ) -> Any:
        options = [
            {**_without(schema, "anyOf", "oneOf"), **b} for b in branches if isinstance(b, Mapping)
        ]
        resolved = [self.resolve(option, depth) for option in options]
        concrete = [o for o in resolved if _types_of(o) != ["null"]]
        if len(concrete) < len(resolved) and self.absent(concrete, path, key, depth):
            return None
        chosen = concrete[self.stable(path, len(concrete))] if concrete else {"type": "null"}
        return self.fill(chosen, path, key, depth + 1)

    def absent(
        self, concrete: list[Mapping[str, Any]], path: tuple[Any, ...], key: str | None, depth: int
    ) -> bool:
        """Whether a nullable value should be ``null``: no concrete branch, too deep, or a
        named scalar the text does not mention."""
        if not concrete or depth > _MAX_DEPTH:
            return True
        scalar = all(
            set(_types_of(o)) <= {"string", "number", "integer", "boolean"} for o in concrete
        )
        return scalar and key is not None and not self.facts.mentions(key)

    def fill_typed(
        self,
        schema: Mapping[str, Any],
        types: list[str],
        path: tuple[Any, ...],
        key: str | None,
        depth: int,
    ) -> Any:
        if "null" in types and (
            len(types) == 1
            or self.absent([{"type": t} for t in types if t != "null"], path, key, depth)
        ):
            return None
        kind = next(t for t in _TYPE_ORDER if t in types and t != "null")
        if kind == "object":
            return self.fill_object(schema, path, depth)
        if kind == "array":
            return self.fill_array(schema, path, key, depth)
        if kind == "integer":
            return self.fill_integer(schema, path, key)
        if kind == "number":
            return self.fill_number(schema, path, key)
        if kind == "boolean":
            return self.fill_boolean(path, key)
        return self.fill_string(schema, path, key)

    def fill_object(
        self, schema: Mapping[str, Any], path: tuple[Any, ...], depth: int
    ) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        required = [name for name in schema.get("required", []) if isinstance(name, str)]
        names = list(properties) + [name for name in required if name not in properties]
        if depth > _MAX_DEPTH:
            names = required  # a recursive schema: stop where the schema allows it
        result: dict[str, Any] = {}
        for name in names:
            result[name] = self.fill(properties.get(name, {}), (*path, name), name, depth + 1)
        return result

    def fill_array(
        self, schema: Mapping[str, Any], path: tuple[Any, ...], key: str | None, depth: int
    ) -> list[Any]:
        prefix = schema.get("prefixItems") or []
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        count = max(low, len(prefix), 0 if depth > _MAX_DEPTH else 2)
        if high is not None:
            count = min(count, int(high))
        items_schema = schema.get("items", {})
        result = []
        for index in range(count):
            item_schema = prefix[index] if index < len(prefix) else items_schema
            if item_schema is False:
                break
            result.append(self.fill(item_schema, (*path, index), key, depth + 1))
        return result

    def fill_string(self, schema: Mapping[str, Any], path: tuple[Any, ...], key: str | None) -> str:
        value = self.formatted(schema.get("format"), path, key)
        if value is None:
            value = self.facts.after_key(key) or self.words(path)
        return _fit_length(value, schema, self.facts.words)

    def formatted(self, fmt: Any, path: tuple[Any, ...], key: str | None) -> str | None:
        facts = self.facts
        if fmt == "date":
            return (
                facts.dates[0] if facts.dates else _guessed_date(self.guess(path, 3650, salt="d"))
            )
        if fmt == "date-time":
            day = facts.dates[0] if facts.dates else _guessed_date(self.guess(path, 3650, salt="d"))
            return f"{day}T00:00:00Z"
        if fmt == "time":
            return "12:00:00"
        if fmt == "email":
            return facts.emails[0] if facts.emails else f"{self.words(path, 1).lower()}@example.com"
        if fmt in ("uri", "url", "iri"):
            return f"https://example.com/{self.words(path, 1).lower()}"
        if fmt == "uuid":
            digest = hashlib.sha256(f"{self.seed}|{path!r}".encode()).hexdigest()
            return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"
        return None

    def words(self, path: tuple[Any, ...], count: int = 0) -> str:
        words = self.facts.words
        start = self.guess(path, len(words), salt="w")
        count = count or 1 + self.stable(path, 3)
        return " ".join(words[(start + i) % len(words)] for i in range(count))

    def fill_number(
        self, schema: Mapping[str, Any], path: tuple[Any, ...], key: str | None
    ) -> float:
        value = self.raw_number(path, key)
        return _clamp_float(value, schema)

    def fill_integer(
        self, schema: Mapping[str, Any], path: tuple[Any, ...], key: str | None
    ) -> int:
        value = round(self.raw_number(path, key))
        return _clamp_int(value, schema)

    def raw_number(self, path: tuple[Any, ...], key: str | None) -> float:
        found = self.facts.number_after_key(key)
        if found is not None:
            return found
        numbers = self.facts.numbers
        if numbers:
            return numbers[self.guess(path, len(numbers), salt="n")]
        return float(self.guess(path, 1000, salt="n"))

    def fill_boolean(self, path: tuple[Any, ...], key: str | None) -> bool:
        if self.facts.mentions(key):
            return True
        return self.guess(path, 4, salt="b") == 0


def _types_of(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list) and kind:
        return [k for k in kind if isinstance(k, str)] or ["string"]
    if "properties" in schema or "required" in schema or "additionalProperties" in schema:
        return ["object"]
    if "items" in schema or "prefixItems" in schema:
        return ["array"]
    return ["string"]


def _pointer(root: Mapping[str, Any], ref: Any) -> Mapping[str, Any]:
    if not isinstance(ref, str) or not ref.startswith("#"):
        raise UnfillableSchema(f"only local $ref are supported, not {ref!r}")
    node: Any = root
    try:
        for part in ref[1:].split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
    except (KeyError, IndexError, ValueError, TypeError):
        raise UnfillableSchema(f"$ref {ref!r} points nowhere") from None
    if not isinstance(node, Mapping):
        raise UnfillableSchema(f"$ref {ref!r} does not point at a schema")
    return node


def _merge_all_of(base: dict[str, Any], parts: list[Mapping[str, Any]]) -> dict[str, Any]:
    merged = dict(base)
    for part in parts:
        for name, value in part.items():
            if name == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif name == "required":
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(name, value)
    return merged


def _without(schema: Mapping[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in names}


def _fit_length(value: str, schema: Mapping[str, Any], words: list[str]) -> str:
    low = int(schema.get("minLength", 0))
    high = schema.get("maxLength")
    filler = " ".join(words) or "x"
    while len(value) < low:
        value = f"{value} {filler}".strip()
    if high is not None:
        value = value[: int(high)]
    return value


def _guessed_date(offset: int) -> str:
    return (dt.date(2020, 1, 1) + dt.timedelta(days=offset)).isoformat()


def _bounds(schema: Mapping[str, Any]) -> tuple[float, float, bool, bool]:
    low, high = -math.inf, math.inf
    low_open = high_open = False
    if isinstance(schema.get("minimum"), (int, float)):
        low = schema["minimum"]
    if (
        isinstance(schema.get("exclusiveMinimum"), (int, float))
        and schema["exclusiveMinimum"] >= low
    ):
        low, low_open = schema["exclusiveMinimum"], True
    if isinstance(schema.get("maximum"), (int, float)):
        high = schema["maximum"]
    if (
        isinstance(schema.get("exclusiveMaximum"), (int, float))
        and schema["exclusiveMaximum"] <= high
    ):
        high, high_open = schema["exclusiveMaximum"], True
    return low, high, low_open, high_open


def _clamp_float(value: float, schema: Mapping[str, Any]) -> float:
    low, high, low_open, high_open = _bounds(schema)
    inside_low = value > low if low_open else value >= low
    inside_high = value < high if high_open else value <= high
    if inside_low and inside_high:
        return float(value)
    if math.isinf(high):
        return float(low + 1 if low_open else low)
    if math.isinf(low):
        return float(high - 1 if high_open else high)
    if low_open or high_open:
        return (low + high) / 2
    return float(low if not inside_low else high)


def _clamp_int(value: int, schema: Mapping[str, Any]) -> int:
    low, high, low_open, high_open = _bounds(schema)
    lo = math.floor(low) + 1 if low_open else math.ceil(low) if not math.isinf(low) else None
    hi = math.ceil(high) - 1 if high_open else math.floor(high) if not math.isinf(high) else None
    if lo is not None and value < lo:
        value = lo
    if hi is not None and value > hi:
        value = hi
    step = schema.get("multipleOf")
    if isinstance(step, int) and not isinstance(step, bool) and step > 0 and value % step:
        down = value - value % step
        value = down if lo is None or down >= lo else down + step
    return value


def iter_partials(value: Any) -> Iterator[Any]:
    """``value`` built up one leaf at a time: an empty shell first, ``value`` itself last.

    Leaves are scalars and empty containers, in document order; every partial is
    the previous one with one more leaf (a fresh copy), so a client sees fields
    arrive one by one. A scalar ``value`` is yielded once.
    """
    if not isinstance(value, (dict, list)):
        yield value
        return
    current = _empty_like(value)
    yield _copy(current)
    for path, leaf in _leaves(value, ()):
        _insert(current, value, path, leaf)
        yield _copy(current)


def _leaves(value: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict) and value:
        for name, item in value.items():
            yield from _leaves(item, (*path, name))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    elif path:  # an empty root is its own shell, not a leaf
        yield path, value


def _insert(node: Any, template: Any, path: tuple[Any, ...], leaf: Any) -> None:
    for step in path[:-1]:
        template = template[step]
        if isinstance(node, dict):
            node = node.setdefault(step, _empty_like(template))
        else:
            if step == len(node):  # leaves come in order, so a new item is the next one
                node.append(_empty_like(template))
            node = node[step]
    if isinstance(node, dict):
        node[path[-1]] = _copy(leaf)
    else:
        node.append(_copy(leaf))


def _empty_like(value: Any) -> Any:
    return {} if isinstance(value, dict) else []


def _copy(value: Any) -> Any:
    return msgspec.json.decode(msgspec.json.encode(value))


@dataclass(frozen=True)
class Consensus:
    """The result of ``n`` votes: the chosen output, each vote, and agreement per leaf.

    ``likelihoods`` mirrors ``output``: an object for an object, one entry per
    item for an array, and at a scalar leaf the share of votes (0.0 to 1.0) that
    agree with the chosen value. With one vote, ``choices`` is empty and
    ``likelihoods`` is ``None``, as the API sends for ``n_consensus == 1``.
    """

    output: Any
    choices: list[Any]
    likelihoods: Any


def consensus(schema: Mapping[str, Any], text: str, n_consensus: int) -> Consensus:
    """Fill ``schema`` ``n_consensus`` times with different seeds and combine the votes."""
    if n_consensus <= 1:
        return Consensus(output=fill_schema(schema, text), choices=[], likelihoods=None)
    votes = [fill_schema(schema, text, seed=seed) for seed in range(n_consensus)]
    output, likelihoods = _combine(votes)
    return Consensus(output=output, choices=votes, likelihoods=likelihoods)


def _combine(votes: list[Any]) -> tuple[Any, Any]:
    first = votes[0]
    if isinstance(first, dict) and all(isinstance(v, dict) for v in votes):
        output, likelihoods = {}, {}
        for name in first:
            output[name], likelihoods[name] = _combine([v.get(name) for v in votes])
        return output, likelihoods
    if isinstance(first, list) and all(isinstance(v, list) and len(v) == len(first) for v in votes):
        pairs = [_combine([v[i] for v in votes]) for i in range(len(first))]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    encoded = [msgspec.json.encode(v) for v in votes]
    counts = Counter(encoded)
    winner = max(counts, key=lambda e: (counts[e], -encoded.index(e)))
    chosen = votes[encoded.index(winner)]
    return chosen, round(counts[winner] / len(votes), 4)
