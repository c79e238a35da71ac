"""A small PDF writer and text reader for the local server's stand-ins.

:func:`write_pdf` makes a valid PDF 1.4 file by hand (no dependency): US Letter
pages, the standard Helvetica font, each text item placed by fractions of the
page from its top-left corner (as the API's bounding boxes are), in its colour.
The cross-reference table holds every object's byte offset, so viewers and
strict parsers open it without repair.

:func:`pdf_pages_text` reads back the text of simple PDFs (ours, and others that
draw literal strings with ``Tj``/``TJ``, compressed with Flate or not), one
string per page; it is a stand-in's reader, not a general PDF parser.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["PAGE_HEIGHT", "PAGE_WIDTH", "PdfText", "hex_rgb", "pdf_pages_text", "write_pdf"]

PAGE_WIDTH = 612.0
PAGE_HEIGHT = 792.0
_MAX_INFLATED = 4 << 20  # inflated bytes read in all, so that a zip bomb stays small


@dataclass(frozen=True)
class PdfText:
    """One line of text on a page.

    Attributes:
        left, top: where its baseline box starts, as fractions of the page's width
            and height from the top-left corner.
        text: the text (characters outside Windows-1252 show as ``?``).
        size: the font size in points.
        rgb: the fill colour, each component 0.0-1.0.
    """

    left: float
    top: float
    text: str
    size: float = 10.0
    rgb: tuple[float, float, float] = (0.0, 0.0, 0.0)


def hex_rgb(color: str) -> tuple[float, float, float]:
    """``"#000080"`` (or ``"#008"``) as RGB fractions. Raises ``ValueError``."""
    digits = color.lstrip("#")
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    if len(digits) != 6:
        raise ValueError(f"not a hex colour: {color!r}")
    value = int(digits, 16)
    return ((value >> 16) / 255, ((value >> 8) & 0xFF) / 255, (value & 0xFF) / 255)


def write_pdf(pages: Sequence[Sequence[PdfText]]) -> bytes:
    """A PDF with one page per item of ``pages`` (at least one, blank if need be)."""
    page_list = list(pages) or [[]]
    count = len(page_list)
    font_ref = 3 + 2 * count
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids ["
        + b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(count))
        + b"] /Count %d >>" % count,
    ]
    for index, items in enumerate(page_list):
        content = _content(items)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] "
            b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>"
            % (PAGE_WIDTH, PAGE_HEIGHT, font_ref, 4 + 2 * index)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    objects.append(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    return _assemble(objects)


def _assemble(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _content(items: Sequence[PdfText]) -> bytes:
    ops = []
    for item in items:
        x = item.left * PAGE_WIDTH
        y = PAGE_HEIGHT - item.top * PAGE_HEIGHT - item.size
        r, g, b = item.rgb
        ops.append(
            b"BT /F1 %s Tf %s %s %s rg %s %s Td (%s) Tj ET"
            % (_num(item.size), _num(r), _num(g), _num(b), _num(x), _num(y), _escape(item.text))
        )
    return b"\n".join(ops)


def _num(value: float) -> bytes:
    return (b"%.3f" % value).rstrip(b"0").rstrip(b".") or b"0"


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252", "replace")
    out = bytearray()
    for byte in raw:
        if byte in b"()\\":
            out += b"\\" + bytes([byte])
        elif byte < 32 or byte == 127:
            out += b"\\%03o" % byte
        else:
            out.append(byte)
    return bytes(out)


# -- reading ----------------------------------------------------------------------

_STREAM = re.compile(rb"<<(.{0,400}?)>>\s*stream\r?\n(.*?)\r?\n?endstream", re.DOTALL)
_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
_SHOWN = re.compile(rb"\((?:\\.|[^\\)])*\)\s*Tj|\[(?:[^\]\\]|\\.)*\]\s*TJ", re.DOTALL)
_LITERAL = re.compile(rb"\(((?:\\.|[^\\)])*)\)", re.DOTALL)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def pdf_pages_text(content: bytes) -> tuple[int, list[str]]:
    """The page count of a PDF and the text of each content stream that shows any, in
    file order (for simple PDFs, one per page). Never raises on malformed input."""
    pages = max(1, len(_PAGE.findall(content)))
    texts = []
    budget = _MAX_INFLATED
    for match in _STREAM.finditer(content):
        data = match.group(2)
        if b"/FlateDecode" in match.group(1):
            if budget <= 0:
                break
            try:
                data = zlib.decompressobj().decompress(data, budget)
            except zlib.error:
                continue
            budget -= len(data)
        lines = [_shown_text(shown.group(0)) for shown in _SHOWN.finditer(data)]
        text = "\n".join(line for line in lines if line.strip())
        if text:
            texts.append(text)
    return pages, texts


def _shown_text(operation: bytes) -> str:
    parts = [_unescape(literal.group(1)) for literal in _LITERAL.finditer(operation)]
    return b"".join(parts).decode("cp1252", "replace")


def _unescape(literal: bytes) -> bytes:
    out = bytearray()
    index = 0
    while index < len(literal):
        byte = literal[index : index + 1]
        if byte != b"\\" or index + 1 >= len(literal):
            out += byte
            index += 1
            continue
        following = literal[index + 1 : index + 2]
        octal = re.match(rb"[0-7]{1,3}", literal[index + 1 : index + 4])
        if octal:
            out.append(int(octal.group(0), 8) & 0xFF)
            index += 1 + len(octal.group(0))
        else:
            out += _ESCAPES.get(following, following)
            index += 2
    return bytes(out)
