"""``key: value`` fields found in a document's text, for the stand-ins that describe
documents (schema generation, file blueprints).

A field is a line ``Key: value`` (the key starts with a letter and is at most 60
characters of letters, digits, spaces and ``_-/#().``). Its kind is read from the
value: ``integer``, ``number`` (also an amount such as ``$1,234.50`` or ``30 EUR``),
``boolean`` (``true``/``false``/``yes``/``no``), ``date`` (``YYYY-MM-DD``),
``email`` or ``string``. Pages are the form-feed separated parts of the text (D19).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

__all__ = ["TextField", "field_name", "text_fields"]

_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9 _\-/#().]{0,59}?)\s*:\s*(\S.*?)\s*$")
_INTEGER = re.compile(r"-?(?:0|[1-9]\d{0,14})")
_AMOUNT = re.compile(
    r"(?:[$€£]\s*)?-?(?:[1-9]\d{0,2}(?:,\d{3})+|0|[1-9]\d{0,14})(?:\.\d+)?(?:\s*(?:[A-Z]{3}|[$€£]))?"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_BOOLEANS = frozenset({"true", "false", "yes", "no"})


@dataclass(frozen=True)
class TextField:
    """One ``key: value`` line: the key as written, its value, its kind and its page (from 1)."""

    key: str
    value: str
    kind: str
    page: int

    @property
    def name(self) -> str:
        """The key as a property name: ``"Total due"`` -> ``"total_due"``."""
        return field_name(self.key)


def field_name(key: str) -> str:
    """``key`` in snake case, letters and digits only (``"field"`` when nothing is left)."""
    return "_".join(re.findall(r"[a-z0-9]+", key.lower())) or "field"


def text_fields(text: str) -> list[TextField]:
    """Every ``key: value`` line of ``text``, in order, pages numbered from 1."""
    found: list[TextField] = []
    for number, page in enumerate(text.split("\f"), start=1):
        for line in page.splitlines():
            match = _LINE.match(line)
            if match is None or match.group(2).startswith("//"):  # a URL, not a field
                continue
            value = match.group(2)
            found.append(TextField(match.group(1), value, _kind(value), number))
    return found


def _kind(value: str) -> str:
    if value.lower() in _BOOLEANS:
        return "boolean"
    if _INTEGER.fullmatch(value):
        return "integer"
    if _AMOUNT.fullmatch(value):
        return "number"
    if _DATE.fullmatch(value) and _valid_date(value):
        return "date"
    if _EMAIL.fullmatch(value):
        return "email"
    return "string"


def _valid_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True
