"""Writing a table out in one of the API's ``table_parsing_format`` values.

A table is a list of rows of cell strings; the first row is the header. Rows
shorter than the longest are padded with empty cells.

* ``markdown``: a pipe table (``|`` in cells escaped);
* ``html``: ``<table>`` with ``<th>`` header cells, text escaped;
* ``json``: an array of objects keyed by header (blank headers become
  ``column_N``, repeated ones get ``_2``, ``_3``...);
* ``yaml``: the same records as a YAML sequence of mappings, every scalar
  double-quoted (JSON string syntax, which YAML reads as is).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence

__all__ = ["TABLE_FORMATS", "render_table"]

TABLE_FORMATS = ("markdown", "yaml", "html", "json")


def render_table(rows: Sequence[Sequence[str]], table_format: str) -> str:
    """``rows`` written in ``table_format``; an empty table is an empty string.

    Raises ``ValueError`` for an unknown format.
    """
    grid = _pad([[_one_line(cell) for cell in row] for row in rows])
    if not grid:
        return ""
    if table_format == "markdown":
        return _markdown(grid)
    if table_format == "html":
        return _html(grid)
    if table_format == "json":
        return json.dumps(_records(grid), ensure_ascii=False)
    if table_format == "yaml":
        return _yaml(_records(grid))
    raise ValueError(f"unknown table format {table_format!r}")


def _one_line(cell: str) -> str:
    return " ".join(str(cell).split())


def _pad(rows: list[list[str]]) -> list[list[str]]:
    width = max((len(row) for row in rows), default=0)
    return [row + [""] * (width - len(row)) for row in rows if width]


def _markdown(grid: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    header, *body = grid
    separator = "| " + " | ".join("---" for _ in header) + " |"
    return "\n".join([line(header), separator, *(line(row) for row in body)])


def _html(grid: list[list[str]]) -> str:
    header, *body = grid
    lines = ["<table>", "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in header) + "</tr>"]
    lines += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body]
    lines.append("</table>")
    return "\n".join(lines)


def _records(grid: list[list[str]]) -> list[dict[str, str]]:
    header, *body = grid
    keys = _keys(header)
    return [dict(zip(keys, row, strict=True)) for row in body]


def _keys(header: list[str]) -> list[str]:
    keys: list[str] = []
    for index, name in enumerate(header, 1):
        key = name or f"column_{index}"
        suffix = 2
        while key in keys:
            key = f"{name or f'column_{index}'}_{suffix}"
            suffix += 1
        keys.append(key)
    return keys


def _yaml(records: list[dict[str, str]]) -> str:
    if not records:
        return "[]"
    lines = []
    for record in records:
        prefix = "- "
        for key, value in record.items():
            lines.append(f"{prefix}{_quoted(key)}: {_quoted(value)}")
            prefix = "  "
    return "\n".join(lines)


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
