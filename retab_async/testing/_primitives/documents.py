"""Reading a document's text for the local server's stand-ins: one string per page.

Text documents are decoded as UTF-8 and split on form feeds (D19). PDFs are read
with :func:`.pdf.pdf_pages_text` (literal strings drawn with ``Tj``/``TJ``; a page
per page object). DOCX paragraphs (a page break starts a new page), the slides of
a PPTX (one page each, in order) and the shared strings of an XLSX (one page) are
read from their XML parts, each part capped at 8 MiB. Nothing here raises on
malformed input: what cannot be read has no text.
"""

from __future__ import annotations

import io
import re
import zipfile

from ..._mime import is_text_mime
from .pdf import pdf_pages_text

__all__ = ["document_pages"]

_MAX_PAGES = 200
_MAX_XML = 8 << 20  # bytes read from one part of an Office file


def document_pages(content: bytes | None, mime_type: str) -> list[str]:
    """The text of each page of a document (``[""]`` when none can be read)."""
    if content is None:
        return [""]
    if is_text_mime(mime_type):
        text = content.decode("utf-8-sig", "replace").replace("\r\n", "\n").replace("\r", "\n")
        return text.split("\f")[:_MAX_PAGES]
    if mime_type == "application/pdf":
        count, texts = pdf_pages_text(content)
        pages = (texts + [""] * count)[: max(count, 1)]
        return pages[:_MAX_PAGES]
    try:
        return _office_pages(content, mime_type)[:_MAX_PAGES] or [""]
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError):
        return [""]


def _office_pages(content: bytes, mime_type: str) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        if mime_type.endswith("wordprocessingml.document"):
            xml = _part(archive, "word/document.xml")
            xml = re.sub(r'<w:br\s[^>]*w:type="page"[^>]*/>', "\f", xml)
            return _paragraphs(xml, "w:p", "w:t").split("\f")
        if mime_type.endswith("presentationml.presentation"):
            slides = sorted(
                (n for n in archive.namelist() if re.fullmatch(r"ppt/slides/slide\d+\.xml", n)),
                key=lambda name: int(re.sub(r"\D", "", name.rsplit("/", 1)[1])),
            )
            return [_paragraphs(_part(archive, name), "a:p", "a:t") for name in slides]
        names = archive.namelist()
        shared = _part(archive, "xl/sharedStrings.xml") if "xl/sharedStrings.xml" in names else ""
        return [_paragraphs(shared, "si", "t")]


def _part(archive: zipfile.ZipFile, name: str) -> str:
    with archive.open(name) as fh:
        return fh.read(_MAX_XML).decode("utf-8", "replace")


def _paragraphs(xml: str, paragraph: str, run: str) -> str:
    """The text of each paragraph on its own line; a form feed (a page break put in
    the XML) starts a new page."""
    runs = re.compile(rf"<{run}(?:\s[^>]*)?>([^<]*)</{run}>|(\f)")
    lines = []
    for para in re.finditer(rf"<{paragraph}[\s>].*?</{paragraph}>", xml, re.DOTALL):
        parts = [brk or text for text, brk in runs.findall(para[0])]
        lines.append(_unxml("".join(parts)))
    text = "\n".join(lines)
    return re.sub(r"\n*\f\n*", "\f", text)


def _unxml(text: str) -> str:
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'")):
        text = text.replace(entity, char)
    return text.replace("&amp;", "&")
