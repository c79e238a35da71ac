"""The local server's parses: create validation, table formats and the parser."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from retab_async.testing._primitives.parses import (
    ParseCreate,
    document_text,
    parse_document,
    parse_parse_create,
    placeholder_output,
)
from retab_async.testing._primitives.tables import render_table


def _doc(filename: str, content: bytes) -> dict[str, str]:
    mime = {"csv": "text/csv", "md": "text/markdown", "html": "text/html"}.get(
        filename.rsplit(".", 1)[-1], "text/plain"
    )
    return {"filename": filename, "url": f"data:{mime};base64,{base64.b64encode(content).decode()}"}


def _parse(content: bytes, filename: str, table_format: str = "html") -> list[str]:
    mime = {"csv": "text/csv", "tsv": "text/tab-separated-values", "md": "text/markdown"}
    mime |= {"html": "text/html", "txt": "text/plain", "pdf": "application/pdf", "png": "image/png"}
    ext = filename.rsplit(".", 1)[-1]
    return parse_document(
        content, filename=filename, mime_type=mime[ext], table_format=table_format
    ).pages


# -- validation ------------------------------------------------------------------------


def test_valid_create_with_defaults() -> None:
    request = parse_parse_create({"document": _doc("a.txt", b"hello")})
    assert isinstance(request, ParseCreate)
    assert request.content == b"hello" and request.mime_type == "text/plain"
    assert request.table_parsing_format == "html" and request.model == "retab-small"
    assert request.instructions is None and not request.bust_cache and not request.background


def test_valid_create_with_every_field() -> None:
    request = parse_parse_create(
        {
            "document": _doc("a.csv", b"a,b\n1,2"),
            "model": "retab-large",
            "table_parsing_format": "yaml",
            "instructions": "Keep headers.",
            "bust_cache": True,
            "background": True,
        }
    )
    assert isinstance(request, ParseCreate)
    assert request.table_parsing_format == "yaml" and request.background and request.bust_cache


def test_null_table_format_means_the_default() -> None:
    request = parse_parse_create({"document": _doc("a.txt", b"x"), "table_parsing_format": None})
    assert isinstance(request, ParseCreate) and request.table_parsing_format == "html"


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({}, ["body", "document"], "missing"),
        (
            {"document": _doc("a.txt", b"x"), "table_parsing_format": "csv"},
            ["body", "table_parsing_format"],
            "enum",
        ),
        (
            {"document": _doc("a.txt", b"x"), "n_consensus": 2},
            ["body", "n_consensus"],
            "extra_forbidden",
        ),
        ({"document": _doc("a.txt", b"x"), "model": 3}, ["body", "model"], "type_error"),
        (
            {"document": _doc("a.txt", b"x"), "instructions": True},
            ["body", "instructions"],
            "type_error",
        ),
        (
            {"document": _doc("a.txt", b"x"), "background": "yes"},
            ["body", "background"],
            "type_error",
        ),
        (
            {"document": {"filename": "a.exe", "url": "data:;base64,eA=="}},
            ["body", "document", "filename"],
            "value_error",
        ),
    ],
)
def test_invalid_create(body: dict[str, Any], loc: list[Any], kind: str) -> None:
    issues = parse_parse_create(body)
    assert isinstance(issues, list) and {"loc": loc, "type": kind}.items() <= issues[0].items()


def test_not_an_object() -> None:
    issues = parse_parse_create([1])
    assert isinstance(issues, list) and issues[0]["type"] == "model_attributes_type"


def test_placeholder() -> None:
    assert placeholder_output() == {"pages": [], "text": ""}
    assert placeholder_output() is not placeholder_output()


# -- tables -----------------------------------------------------------------------------

ROWS = [["Item", "Qty", ""], ["Widget | large", "2"], ["Gadget", "10", "x"]]


def test_markdown_table() -> None:
    assert render_table(ROWS, "markdown") == (
        "| Item | Qty |  |\n| --- | --- | --- |\n| Widget \\| large | 2 |  |\n| Gadget | 10 | x |"
    )


def test_html_table() -> None:
    assert render_table([["a<b", "c"], ["1 & 2", "3"]], "html") == (
        "<table>\n<tr><th>a&lt;b</th><th>c</th></tr>\n<tr><td>1 &amp; 2</td><td>3</td></tr>\n</table>"
    )


def test_json_table() -> None:
    assert json.loads(render_table(ROWS, "json")) == [
        {"Item": "Widget | large", "Qty": "2", "column_3": ""},
        {"Item": "Gadget", "Qty": "10", "column_3": "x"},
    ]
    assert json.loads(render_table([["a", "a", "a"], ["1", "2", "3"]], "json")) == [
        {"a": "1", "a_2": "2", "a_3": "3"}
    ]


def test_yaml_table() -> None:
    assert render_table([["name", "note"], ["Zoë", 'say "hi"'], ["B", ""]], "yaml") == (
        '- "name": "Zoë"\n  "note": "say \\"hi\\""\n- "name": "B"\n  "note": ""'
    )
    assert render_table([["only", "header"]], "yaml") == "[]"
    assert render_table([["only", "header"]], "json") == "[]"


def test_empty_table_and_unknown_format() -> None:
    assert render_table([], "html") == ""
    with pytest.raises(ValueError, match="unknown table format"):
        render_table(ROWS, "latex")


# -- parser -----------------------------------------------------------------------------


def test_plain_text_pages_split_on_form_feeds() -> None:
    parsed = parse_document(
        b"Page one.\r\nStill one.\fPage two.\f", filename="a.txt", mime_type="text/plain"
    )
    assert parsed.pages == ["Page one.\nStill one.", "Page two.", ""]
    assert parsed.text == "Page one.\nStill one.\n\nPage two.\n\n"
    assert parsed.to_output() == {"pages": parsed.pages, "text": parsed.text}


def test_utf8_bom_and_bad_bytes() -> None:
    assert _parse(b"\xef\xbb\xbfHello \xff", "a.txt") == ["Hello \ufffd"]


CSV = b"item,qty\nWidget,2\n\nGadget,10\n\fname,city\nAcme,Paris\n"


def test_csv_pages_as_tables_in_each_format() -> None:
    assert _parse(CSV, "a.csv", "markdown") == [
        "| item | qty |\n| --- | --- |\n| Widget | 2 |\n| Gadget | 10 |",
        "| name | city |\n| --- | --- |\n| Acme | Paris |",
    ]
    assert json.loads(_parse(CSV, "a.csv", "json")[1]) == [{"name": "Acme", "city": "Paris"}]
    assert _parse(CSV, "a.csv", "html")[1].startswith("<table>\n<tr><th>name</th>")
    assert _parse(CSV, "a.csv", "yaml")[1] == '- "name": "Acme"\n  "city": "Paris"'


def test_csv_quoting_and_tsv() -> None:
    assert json.loads(_parse(b'a,b\n"x, y","say ""hi"""\n', "a.csv", "json")[0]) == [
        {"a": "x, y", "b": 'say "hi"'}
    ]
    assert json.loads(_parse(b"a\tb\n1\t2\n", "a.tsv", "json")[0]) == [{"a": "1", "b": "2"}]


MARKDOWN = b"""# Report

Intro text.

| Item | Qty |
|------|----:|
| Widget | 2 |
| A \\| B | 3 |

After.\fPage 2"""


def test_markdown_kept_as_is_in_markdown_format() -> None:
    pages = _parse(MARKDOWN, "a.md", "markdown")
    assert pages[0] == MARKDOWN.decode().split("\f")[0] and pages[1] == "Page 2"


def test_markdown_tables_converted() -> None:
    [page, _] = _parse(MARKDOWN, "a.md", "json")
    assert "# Report\n\nIntro text.\n\n" in page and page.endswith("\n\nAfter.")
    table = page.split("\n\n")[2]
    assert json.loads(table) == [{"Item": "Widget", "Qty": "2"}, {"Item": "A | B", "Qty": "3"}]


HTML = b"""<!doctype html><html><head><title>Invoice 42</title><style>p {color: red}</style>
<script>var x = "<p>no</p>";</script></head>
<body><h1>Invoice&nbsp;42</h1><p>Amount   due:
 <b>300&euro;</b></p><ul><li>One</li><li>Two</li></ul>
<table><tr><th>Item</th><th>Qty</th></tr><tr><td>Widget <i>XL</i></td><td>2</td></tr></table>
<p>Thanks</p>\f<div>Second page</div></body></html>"""


def test_html_text_without_tags() -> None:
    first, second = _parse(HTML, "a.html", "markdown")
    assert first.split("\n") == [
        "Invoice 42",
        "Invoice 42",  # &nbsp; is whitespace too
        "Amount due: 300€",
        "- One",
        "- Two",
        "| Item | Qty |",
        "| --- | --- |",
        "| Widget XL | 2 |",
        "Thanks",
    ]
    assert second == "Second page"
    assert "color" not in first and "var x" not in first


def test_html_table_formats() -> None:
    first, _ = _parse(HTML, "a.html", "json")
    assert '[{"Item": "Widget XL", "Qty": "2"}]' in first
    assert "<table>\n<tr><th>Item</th><th>Qty</th></tr>" in _parse(HTML, "a.html", "html")[0]


def test_pdf_stand_in_counts_pages() -> None:
    pdf = b"%PDF-1.4\n1 0 obj <</Type /Pages /Count 2>>\n2 0 obj <</Type /Page>>\n3 0 obj <</Type/Page>>\n"
    pages = _parse(pdf, "scan.pdf")
    assert len(pages) == 2 and pages[1].startswith("scan.pdf, page 2 of 2: application/pdf")
    assert pages == _parse(pdf, "scan.pdf")


def test_image_and_unfetched_stand_ins() -> None:
    [page] = _parse(b"\x89PNG....", "photo.png")
    assert "photo.png, page 1 of 1: image/png" in page and "8 bytes" in page
    parsed = parse_document(None, filename="remote.txt", mime_type="text/plain")
    assert parsed.pages == [
        "remote.txt, page 1 of 1: text/plain content (content not downloaded by the local "
        "server); the local server does not read binary documents."
    ]


def test_unknown_table_format() -> None:
    with pytest.raises(ValueError, match="unknown table format"):
        parse_document(b"x", filename="a.txt", mime_type="text/plain", table_format="csv")


def test_document_text_joins_pages_with_form_feeds() -> None:
    assert document_text(CSV, filename="a.csv", mime_type="text/csv").count("\f") == 1
