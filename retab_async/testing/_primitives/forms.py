"""Form fields in a document's text, filled from instructions, drawn as a PDF.

A line ``Label:`` (or ``Label: ____``) is a text field and ``[ ] Label`` a
checkbox, on the page (form-feed part) it is on. Instructions fill them: each
``key: value`` (or ``key = value``) line or ``;``-separated part names a field by
its label (its key, or the start of it); a checkbox takes ``yes``/``no``. When
they name no field, the first field takes the instructions themselves, and text
without any field gets one ``note`` field at the foot of page 1, so that every
form has a filled field.

Bounding boxes are fractions of a US Letter page laid out as the filled PDF
draws it: the text's lines from the top margin, each value after its label in
the requested colour (a ticked checkbox is an ``X`` in its box).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .pdf import PAGE_HEIGHT, PAGE_WIDTH, PdfText, hex_rgb, write_pdf

__all__ = ["FilledForm", "blank_form_pdf", "fill_form", "find_fields"]

_MARGIN = 72.0
_LEAD = 14.0
_FONT = 10.0
_CHAR = 0.5 * _FONT  # Helvetica's average advance, near enough for a stand-in
_MAX_LINES = 200  # lines of a page laid out; the rest is not searched for fields
_CHECKBOX = re.compile(r"^\s*\[( |x|X)?\]\s*(?P<label>\S.{0,79}?)\s*$")
_TEXT_FIELD = re.compile(r"^\s*(?P<label>[A-Za-z][^:\[\]]{0,59}?)\s*:\s*(?:_{2,}|\.{3,})?\s*$")
# No pattern here backtracks more than a bounded amount: instructions and documents
# are as long as a caller likes.
_PAIR = re.compile(r"\s*(?P<key>[^:=\s][^:=]{0,59}?)\s*[:=](?P<value>.*)", re.DOTALL)
_MAX_LABEL_LINE = 200  # longer lines are text, not form labels
_SLUG = re.compile(r"[^a-z0-9]+")
_TRUE = frozenset({"yes", "y", "true", "x", "checked", "check", "on", "1"})
_FALSE = frozenset({"no", "n", "false", "unchecked", "off", "0", "none"})


@dataclass
class _Field:
    key: str
    label: str
    type: str
    page: int
    line: int
    lines_on_page: int
    value: str | None = None

    @property
    def lead(self) -> float:
        return _lead(self.lines_on_page)

    def bbox(self) -> dict[str, float | int]:
        """After the label, to the right margin, one line high (fractions of the page)."""
        if self.type == "checkbox":
            left = _MARGIN
            width = 3 * _CHAR
        else:
            left = min(_MARGIN + (len(self.label) + 2) * _CHAR, PAGE_WIDTH - 2 * _MARGIN)
            width = PAGE_WIDTH - _MARGIN - left
        top = _MARGIN + self.line * self.lead
        return {
            "left": round(left / PAGE_WIDTH, 4),
            "top": round(top / PAGE_HEIGHT, 4),
            "width": round(width / PAGE_WIDTH, 4),
            "height": round(self.lead / PAGE_HEIGHT, 4),
            "page": self.page,
        }

    def to_dict(self) -> dict[str, Any]:
        kind = "Checkbox" if self.type == "checkbox" else "Text field"
        return {
            "bbox": self.bbox(),
            "description": f"{kind} '{self.label}' on page {self.page}",
            "type": self.type,
            "key": self.key,
            "value": self.value,
        }


def _lead(lines: int) -> float:
    return min(_LEAD, (PAGE_HEIGHT - 2 * _MARGIN) / max(lines, 1))


def _slug(text: str) -> str:
    return _SLUG.sub("_", text.lower()).strip("_")


def find_fields(pages: list[str]) -> list[_Field]:
    """The form fields of a document's pages, in reading order (keys made unique)."""
    found: list[_Field] = []
    keys: set[str] = set()
    for number, page in enumerate(pages, start=1):
        lines = page.split("\n")[:_MAX_LINES]
        for index, line in enumerate(lines):
            if len(line) > _MAX_LABEL_LINE:
                continue
            checkbox = _CHECKBOX.match(line)
            text = None if checkbox else _TEXT_FIELD.match(line)
            match = checkbox or text
            if match is None:
                continue
            label = match.group("label").strip()
            key = _slug(label) or "field"
            unique, n = key, 2
            while unique in keys:
                unique, n = f"{key}_{n}", n + 1
            keys.add(unique)
            kind = "checkbox" if checkbox else "text"
            found.append(_Field(unique, label, kind, number, index, len(lines)))
    return found


def _pairs(instructions: str) -> list[tuple[str, str]]:
    pairs = []
    for part in re.split(r"[\n;]", instructions):
        match = _PAIR.match(part)
        value = match.group("value").strip() if match else ""
        if match and value:
            pairs.append((_slug(match.group("key")), value))
    return pairs


def _named(fld: _Field, key: str) -> bool:
    label = _slug(fld.label)
    return bool(key) and (key in (fld.key, label) or label.startswith(key + "_"))


def _fill(fields: list[_Field], instructions: str) -> None:
    pairs = _pairs(instructions)
    for fld in fields:
        for key, value in pairs:
            if _named(fld, key):
                fld.value = _checkbox_value(value) if fld.type == "checkbox" else value
                break
    if fields and all(fld.value is None for fld in fields):
        first = fields[0]
        first.value = "true" if first.type == "checkbox" else " ".join(instructions.split())[:200]


def _checkbox_value(value: str) -> str | None:
    word = value.strip().lower()
    if word in _TRUE:
        return "true"
    if word in _FALSE:
        return "false"
    return None


@dataclass(frozen=True)
class FilledForm:
    """What the stand-in made of one edit: the fields and the filled PDF."""

    fields: list[dict[str, Any]]
    pdf: bytes
    pages: int = 1


def fill_form(pages: list[str], instructions: str, color: str) -> FilledForm:
    """Find the fields of ``pages``, fill them from ``instructions``, draw the result."""
    pages = pages or [""]
    fields = find_fields(pages)
    if not fields:
        fields = [_note_field()]
    _fill(fields, instructions)
    pdf = write_pdf(_layout(pages, fields, hex_rgb(color)))
    return FilledForm([f.to_dict() for f in fields], pdf, len(pages))


def _note_field() -> _Field:
    # The foot of page 1: a line laid out on a page of 46 lines, its last.
    lines = int((PAGE_HEIGHT - 2 * _MARGIN) / _LEAD)
    return _Field("note", "Note", "text", 1, lines - 1, lines)


def _layout(
    pages: list[str], fields: list[_Field], rgb: tuple[float, float, float]
) -> list[list[PdfText]]:
    drawn: list[list[PdfText]] = []
    for number, page in enumerate(pages, start=1):
        lines = page.split("\n")[:_MAX_LINES]
        lead = _lead(len(lines))
        size = min(_FONT, lead * 0.8)
        items = [
            PdfText(_MARGIN / PAGE_WIDTH, (_MARGIN + i * lead) / PAGE_HEIGHT, line, size)
            for i, line in enumerate(lines)
            if line.strip()
        ]
        items += [_drawn_value(fld, rgb) for fld in fields if fld.page == number and _shown(fld)]
        drawn.append(items)
    return drawn


def _shown(fld: _Field) -> bool:
    """Whether a field's value is drawn: a text value, or a ticked checkbox."""
    return fld.value is not None and (fld.type != "checkbox" or fld.value == "true")


def _drawn_value(fld: _Field, rgb: tuple[float, float, float]) -> PdfText:
    """A field's value at its bounding box: a checkbox's tick is an ``X`` in its box."""
    box = fld.bbox()
    text = "X" if fld.type == "checkbox" else str(fld.value)
    left = float(box["left"]) + (0.5 * _CHAR / PAGE_WIDTH if fld.type == "checkbox" else 0.0)
    return PdfText(left, float(box["top"]), text, min(_FONT, fld.lead * 0.8), rgb)


def blank_form_pdf(pages: list[str]) -> bytes:
    """The text of ``pages`` drawn as a PDF, with nothing filled in (a template's form)."""
    return write_pdf(_layout(pages, [], (0.0, 0.0, 0.0)))
