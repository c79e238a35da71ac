"""The edits stand-in without HTTP: reading documents of each kind, finding and filling
fields, and the PDF it writes (checked byte by byte against the cross-reference table)."""

from __future__ import annotations

import io
import re
import zipfile
import zlib

import pytest

from retab_async.testing._primitives.documents import document_pages
from retab_async.testing._primitives.edits import EDIT_TEMPLATES
from retab_async.testing._primitives.forms import fill_form, find_fields
from retab_async.testing._primitives.pdf import PdfText, hex_rgb, pdf_pages_text, write_pdf

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"

MINIMAL_PDF = (
    b"%PDF-1.1\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def check_pdf(pdf: bytes) -> list[bytes]:
    """Assert ``pdf`` is well formed (header, xref offsets, stream lengths, page count)
    and return its content streams."""
    assert pdf.startswith(b"%PDF-1.4\n") and pdf.endswith(b"%%EOF\n")
    startxref = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", pdf).group(1))  # type: ignore[union-attr]
    assert pdf[startxref:].startswith(b"xref\n0 ")
    count = int(pdf[startxref:].split(b"\n")[1].split()[1])
    table = pdf[startxref:].split(b"\n")[2 : 2 + count]
    assert all(len(entry) + 1 == 20 for entry in table)  # 20 bytes with the newline
    for number, entry in enumerate(table[1:], start=1):
        offset = int(entry[:10])
        assert pdf[offset:].startswith(b"%d 0 obj\n" % number), number
    streams = []
    for match in re.finditer(rb"<< /Length (\d+) >>\nstream\n", pdf):
        length = int(match.group(1))
        body = pdf[match.end() : match.end() + length]
        assert pdf[match.end() + length :].startswith(b"\nendstream")
        streams.append(body)
    kids = int(re.search(rb"/Count (\d+)", pdf).group(1))  # type: ignore[union-attr]
    assert kids == len(streams) == pdf.count(b"/Type /Page ")
    return streams


def zipped(parts: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, xml in parts.items():
            archive.writestr(name, xml)
    return buffer.getvalue()


# -- the PDF writer and reader ---------------------------------------------------------


def test_written_pdf_is_well_formed_and_reads_back() -> None:
    pdf = write_pdf(
        [
            [PdfText(0.1, 0.1, "Name: (Ada) \\ caf\u00e9"), PdfText(0.1, 0.2, "Line two")],
            [PdfText(0.5, 0.5, "Page two", rgb=hex_rgb("#FF0000"))],
        ]
    )
    first, second = check_pdf(pdf)
    assert rb"(Name: \(Ada\) \\ caf" in first and b"1 0 0 rg" in second
    pages, texts = pdf_pages_text(pdf)
    assert pages == 2 and texts == ["Name: (Ada) \\ caf\u00e9\nLine two", "Page two"]


def test_an_empty_pdf_has_one_blank_page() -> None:
    (stream,) = check_pdf(write_pdf([]))
    assert stream == b""


def test_reader_never_raises_on_garbage() -> None:
    assert pdf_pages_text(b"not a pdf") == (1, [])
    broken = b"<< /Filter /FlateDecode >> stream\nnot zlib\nendstream"
    assert pdf_pages_text(broken) == (1, [])


@pytest.mark.parametrize(
    ("color", "rgb"), [("#000080", (0.0, 0.0, 128 / 255)), ("#f00", (1.0, 0.0, 0.0))]
)
def test_hex_rgb(color: str, rgb: tuple[float, float, float]) -> None:
    assert hex_rgb(color) == rgb


# -- reading documents ----------------------------------------------------------------


def test_text_pages_split_on_form_feeds() -> None:
    assert document_pages(b"one\r\ntwo\fthree", "text/plain") == ["one\ntwo", "three"]


def test_docx_paragraphs_and_page_breaks() -> None:
    xml = (
        "<w:document><w:body><w:p><w:r><w:t>Full name:</w:t></w:r></w:p>"
        '<w:p><w:r><w:t xml:space="preserve">Tom </w:t></w:r><w:r><w:t>&amp; Jerry</w:t></w:r>'
        '</w:p><w:p><w:r><w:br w:type="page"/></w:r></w:p><w:p><w:r><w:t>Signature:</w:t>'
        "</w:r></w:p></w:body></w:document>"
    )
    pages = document_pages(zipped({"word/document.xml": xml}), DOCX)
    assert pages[0].split("\n")[:2] == ["Full name:", "Tom & Jerry"]
    assert pages[-1].strip() == "Signature:" and len(pages) == 2


def test_pptx_slides_are_pages_in_order() -> None:
    slide = "<p:sld><a:p><a:r><a:t>{}</a:t></a:r></a:p></p:sld>"
    parts = {f"ppt/slides/slide{n}.xml": slide.format(f"Slide {n}:") for n in (10, 2, 1)}
    assert document_pages(zipped(parts), PPTX) == ["Slide 1:", "Slide 2:", "Slide 10:"]


def test_xlsx_shared_strings() -> None:
    xml = "<sst><si><t>Amount:</t></si><si><r><t>Cur</t></r><r><t>rency:</t></r></si></sst>"
    pages = document_pages(zipped({"xl/sharedStrings.xml": xml}), XLSX)
    assert pages == ["Amount:\nCurrency:"]


def test_pdf_pages_are_read_and_counted() -> None:
    pdf = write_pdf([[PdfText(0.1, 0.1, "Name:")], [PdfText(0.1, 0.1, "Date:")]])
    assert document_pages(pdf, "application/pdf") == ["Name:", "Date:"]
    assert document_pages(MINIMAL_PDF, "application/pdf") == [""]


@pytest.mark.parametrize("mime", [DOCX, XLSX, PPTX])
def test_office_garbage_reads_as_no_text(mime: str) -> None:
    assert document_pages(b"PK\x03\x04 not really a zip", mime) == [""]


# -- fields -----------------------------------------------------------------------------


def test_fields_are_text_lines_ending_in_a_colon_and_checkboxes() -> None:
    pages = ["Title\nName:\nName: ____\nCity: Paris\n[ ] Agree\n[x] Done\n\fDate: ....."]
    fields = find_fields(pages[0].split("\f"))
    assert [(f.key, f.type, f.page) for f in fields] == [
        ("name", "text", 1),
        ("name_2", "text", 1),
        ("agree", "checkbox", 1),
        ("done", "checkbox", 1),
        ("date", "text", 2),
    ]


def test_instructions_fill_named_fields_and_checkboxes() -> None:
    form = fill_form(
        ["Full name:\nEmail:\n[ ] Newsletter\n[ ] Terms"],
        "full name: Ada\nNewsletter = no; terms: yes; unrelated: x",
        "#000080",
    )
    values = {f["key"]: f["value"] for f in form.fields}
    assert values == {"full_name": "Ada", "email": None, "newsletter": "false", "terms": "true"}
    (stream,) = check_pdf(form.pdf)
    assert b"(Ada) Tj" in stream and b"(X) Tj" in stream and b"0 0 0.502 rg" in stream


def test_unnamed_fields_take_the_instructions_and_no_fields_get_a_note() -> None:
    named_none = fill_form(["Comment:\nOther:"], "Looks   good", "#000")
    assert [f["value"] for f in named_none.fields] == ["Looks good", None]
    note = fill_form([""], "Approved by Ada", "#000")
    (field,) = note.fields
    assert field["key"] == "note" and field["value"] == "Approved by Ada"
    assert field["bbox"]["page"] == 1 and 0.8 < field["bbox"]["top"] < 1.0
    assert b"(Approved by Ada) Tj" in check_pdf(note.pdf)[0]


def test_bounding_boxes_are_fractions_of_the_page() -> None:
    form = fill_form(["\n".join(f"Field {n}:" for n in range(300))], "x", "#000")
    for field in form.fields:
        box = field["bbox"]
        assert 0 <= box["left"] < 1 and 0 <= box["top"] < 1
        assert 0 < box["width"] <= 1 and 0 < box["height"] <= 1
        assert box["left"] + box["width"] <= 1 and box["top"] + box["height"] <= 1


def test_same_input_same_output() -> None:
    one = fill_form(["Name:"], "Name: Ada", "#123456")
    two = fill_form(["Name:"], "Name: Ada", "#123456")
    assert one == two


def test_templates_describe_their_fields() -> None:
    for template in EDIT_TEMPLATES.values():
        described = template.to_dict()
        assert described["field_count"] == len(described["form_fields"]) > 0
        assert described["file"]["mime_type"] == "application/pdf"
        check_pdf(template.pdf)


def test_hostile_text_is_read_in_bounded_work() -> None:
    # Long runs of spaces would make backtracking patterns quadratic.
    spaces = " " * 200_000
    form = fill_form([f"Name:\n[ ] a{spaces}b\nX{spaces}:"], f"name: {spaces}Ada{spaces};", "#000")
    assert [(f["key"], f["value"]) for f in form.fields] == [("name", "Ada")]


def test_a_pdf_zip_bomb_inflates_a_bounded_amount() -> None:
    shown = b"(" + b"A" * 122 + b") Tj\n"  # 128 bytes
    bomb = zlib.compress(shown * (64 << 10), 1)  # 8 MiB of text operators each
    stream = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(bomb) + bomb
    pdf = b"%PDF-1.4\n" + (stream + b"\nendstream\n") * 3 + b"%%EOF\n"
    pages, texts = pdf_pages_text(pdf)
    # 4 MiB inflated in all: part of the first stream, none of the others.
    assert pages == 1 and len(texts) == 1
    assert len(shown) == 128 and texts[0].count("A") == 122 * (4 << 20) // 128


def test_the_template_ids_are_exported() -> None:
    from retab_async.testing import EDIT_TEMPLATE_IDS

    assert EDIT_TEMPLATE_IDS == ("edtpl_contact_form", "edtpl_expense_claim")
    assert set(EDIT_TEMPLATE_IDS) == set(EDIT_TEMPLATES)
