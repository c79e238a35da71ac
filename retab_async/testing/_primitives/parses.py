"""Parses on the local server: create validation and a real parser for text documents.

Text, Markdown, HTML and CSV/TSV documents are parsed for real. Pages are the
parts between form feeds (``\\f``, D19), numbered from 1; the whole text is the
pages joined by a blank line. Tables (CSV/TSV pages, HTML ``<table>``, Markdown
pipe tables) are written in the requested ``table_parsing_format``. Binary
documents (PDF, images, Office files, audio) get a deterministic stand-in: one
page per PDF page object (at least one), one page otherwise, each saying what
the document is and its size and digest.

Records (:data:`PARSES`) echo ``table_parsing_format`` and ``instructions``; the
output is ``{pages, text}``, ``{"pages": [], "text": ""}`` until completed (D15).
Parses have no consensus and no ``status`` list filter.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from ..._mime import is_text_mime
from .._primitive import Issue, Outcome, ServerPrimitive
from .._validation import _check_document, _check_type, _issue
from .tables import TABLE_FORMATS, render_table

__all__ = [
    "PARSES",
    "ParseCreate",
    "ParsedDocument",
    "document_text",
    "parse_document",
    "parse_parse_create",
    "placeholder_output",
]

_CREATE_FIELDS = frozenset(
    {"document", "model", "table_parsing_format", "instructions", "bust_cache", "background"}
)
_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
_MAX_STAND_IN_PAGES = 2000


@dataclass(frozen=True)
class ParseCreate:
    """A valid parse create body, with the document decoded."""

    filename: str
    url: str
    mime_type: str
    content: bytes | None
    model: str
    table_parsing_format: str
    instructions: str | None
    bust_cache: bool
    background: bool


def parse_parse_create(body: Any) -> ParseCreate | list[Issue]:
    """Validate a decoded ``POST /v1/parses`` body: a :class:`ParseCreate`, or the problems
    in the shape of the other create routes (answered ``422``)."""
    if not isinstance(body, dict):
        return [_issue("model_attributes_type", [], "Input should be a valid dictionary", body)]
    issues = [
        _issue("extra_forbidden", [key], "Extra inputs are not permitted", body[key])
        for key in body
        if key not in _CREATE_FIELDS
    ]
    document = _check_document(body.get("document"), issues)
    model = _check_type(body, "model", str, "retab-small", issues)
    table_format = body.get("table_parsing_format") or "html"
    if table_format not in TABLE_FORMATS:
        msg = "Input should be 'markdown', 'yaml', 'html' or 'json'"
        issues.append(_issue("enum", ["table_parsing_format"], msg, table_format))
    instructions = _check_type(body, "instructions", (str, type(None)), None, issues)
    bust_cache = _check_type(body, "bust_cache", bool, False, issues)
    background = _check_type(body, "background", bool, False, issues)
    if issues or document is None:
        return issues
    return ParseCreate(
        filename=document[0],
        url=document[1],
        mime_type=document[2],
        content=document[3],
        model=model,
        table_parsing_format=table_format,
        instructions=instructions,
        bust_cache=bust_cache,
        background=background,
    )


def placeholder_output() -> dict[str, Any]:
    """The ``output`` of a parse that has none (in flight, failed, cancelled, light; D15)."""
    return {"pages": [], "text": ""}


@dataclass(frozen=True)
class ParsedDocument:
    """A parse's ``output``: the text of each page, and of the whole document."""

    pages: list[str]
    text: str

    def to_output(self) -> dict[str, Any]:
        """As the record's ``output``."""
        return {"pages": list(self.pages), "text": self.text}


def parse_document(
    content: bytes | None, *, filename: str, mime_type: str, table_format: str = "html"
) -> ParsedDocument:
    """Parse a document; ``content`` is ``None`` when only its URL is known.

    Raises ``ValueError`` for an unknown ``table_format``.
    """
    if table_format not in TABLE_FORMATS:
        raise ValueError(f"unknown table format {table_format!r}")
    if content is None or not is_text_mime(mime_type):
        pages = _stand_in_pages(content, filename, mime_type)
    else:
        raw = _decode_text(content).split("\f")
        pages = [_parse_page(page, mime_type, table_format).strip("\n") for page in raw]
    return ParsedDocument(pages=pages, text="\n\n".join(pages))


def document_text(content: bytes | None, *, filename: str, mime_type: str) -> str:
    """The text of a document as the parser reads it, tables in Markdown, pages joined
    by form feeds (so that positions in it tell the page)."""
    parsed = parse_document(
        content, filename=filename, mime_type=mime_type, table_format="markdown"
    )
    return "\f".join(parsed.pages)


def _decode_text(content: bytes) -> str:
    text = content.decode("utf-8-sig", "replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _parse_page(page: str, mime_type: str, table_format: str) -> str:
    if mime_type.startswith("text/csv"):
        return _csv_page(page, ",", table_format)
    if mime_type.startswith("text/tab-separated-values"):
        return _csv_page(page, "\t", table_format)
    if mime_type.startswith("text/html"):
        return _html_page(page, table_format)
    if mime_type.startswith("text/markdown"):
        return _markdown_page(page, table_format)
    return page


def _csv_page(page: str, delimiter: str, table_format: str) -> str:
    rows = [row for row in csv.reader(io.StringIO(page), delimiter=delimiter) if any(row)]
    return render_table(rows, table_format)


_MD_ROW = re.compile(r"^\s*\|.*\|\s*$")
_MD_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def _markdown_page(page: str, table_format: str) -> str:
    if table_format == "markdown":
        return page
    lines = page.split("\n")
    out: list[str] = []
    index = 0
    while index < len(lines):
        if (
            _MD_ROW.match(lines[index])
            and index + 1 < len(lines)
            and _MD_SEPARATOR.match(lines[index + 1])
        ):
            end = index + 2
            while end < len(lines) and _MD_ROW.match(lines[end]):
                end += 1
            rows = [_md_cells(line) for line in [lines[index], *lines[index + 2 : end]]]
            out.append(render_table(rows, table_format))
            index = end
        else:
            out.append(lines[index])
            index += 1
    return "\n".join(out)


def _md_cells(line: str) -> list[str]:
    inner = line.strip()[1:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def _html_page(page: str, table_format: str) -> str:
    reader = _HTMLText(table_format)
    reader.feed(page)
    reader.close()
    return reader.text()


_BLOCKS = frozenset(
    {"p", "div", "br", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "section"}
    | {"article", "header", "footer", "main", "nav", "aside", "pre", "blockquote", "hr"}
    | {"table", "tr", "title", "dl", "dt", "dd", "figure", "figcaption", "address", "form"}
)
_HIDDEN = frozenset({"script", "style", "noscript", "template", "head"})


class _HTMLText(HTMLParser):
    """Text of an HTML page: hidden elements dropped, blocks on their own lines,
    whitespace collapsed outside ``<pre>``, tables rendered whole."""

    def __init__(self, table_format: str) -> None:
        super().__init__(convert_charrefs=True)
        self.table_format = table_format
        self.lines: list[str] = [""]
        self.hidden = 0
        self.pre = 0
        self.title = False
        self.rows: list[list[str]] | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.title = True
        elif tag in _HIDDEN:
            self.hidden += 1
        if self.hidden and not self.title:
            return
        if tag == "pre":
            self.pre += 1
        if tag == "table":
            self.rows = []
        elif tag == "tr" and self.rows is not None:
            self.rows.append([])
        elif tag in ("td", "th") and self.rows is not None:
            self.cell = []
        if tag in _BLOCKS and self.rows is None:
            self.break_line()
        if tag == "li" and self.rows is None:
            self.lines[-1] += "- "

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.title = False
            self.break_line()
        elif tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
            return
        if self.hidden:
            return
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in ("td", "th") and self.cell is not None and self.rows:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "table" and self.rows is not None:
            rows, self.rows = self.rows, None
            self.break_line()
            self.lines.append(render_table([r for r in rows if r], self.table_format))
            self.break_line()
        elif tag in _BLOCKS and self.rows is None:
            self.break_line()

    def handle_data(self, data: str) -> None:
        if self.hidden and not self.title:
            return
        if self.cell is not None:
            self.cell.append(data)
        elif self.rows is None:
            self.lines[-1] += data if self.pre else re.sub(r"\s+", " ", data)

    def break_line(self) -> None:
        if self.lines[-1].strip():
            self.lines.append("")

    def text(self) -> str:
        kept = [line.rstrip() if self.pre else line.strip() for line in self.lines]
        return "\n".join(line for line in kept if line)


def _stand_in_pages(content: bytes | None, filename: str, mime_type: str) -> list[str]:
    count = 1
    if content is not None and mime_type == "application/pdf":
        count = min(max(1, len(_PDF_PAGE.findall(content))), _MAX_STAND_IN_PAGES)
    if content is None:
        about = "content not downloaded by the local server"
    else:
        digest = hashlib.sha256(content).hexdigest()[:16]
        about = f"{len(content)} bytes, sha256 {digest}"
    return [
        f"{filename}, page {n} of {count}: {mime_type} content ({about}); "
        "the local server does not read binary documents."
        for n in range(1, count + 1)
    ]


# -- the description -----------------------------------------------------------------


def _compute(request: ParseCreate) -> Outcome:
    parsed = parse_document(
        request.content,
        filename=request.filename,
        mime_type=request.mime_type,
        table_format=request.table_parsing_format,
    )
    return Outcome(output=parsed.to_output(), credits=float(len(parsed.pages)))


def _record(request: ParseCreate) -> dict[str, Any]:
    return {
        "table_parsing_format": request.table_parsing_format,
        "instructions": request.instructions,
    }


PARSES: ServerPrimitive[ParseCreate] = ServerPrimitive(
    name="parses",
    noun="Parse",
    id_prefix="prs_",
    parse_create=parse_parse_create,
    compute=_compute,
    record=_record,
    placeholder=placeholder_output(),
    empty_output=placeholder_output(),
    has_consensus=False,
    has_status_filter=False,
)
"""Parses: contract section 3, D15 and D19."""
