"""Edits on the local server: validation, templates, a deterministic form filler, the record.

A document's text is read (text documents as they are; PDF, DOCX, XLSX and PPTX
by a small reader of each format), pages split on form feeds (D19). Form fields
are the lines that ask for a value: ``Label:`` or ``Label: ____`` is a text
field, ``[ ] Label`` a checkbox. The instructions fill them: each ``key: value``
(or ``key = value``) line or ``;``-separated part names a field by its label;
a checkbox takes ``yes``/``no``. When they name no field, the first field takes
the instructions themselves, and a document without any field gets one ``note``
field at the foot of page 1 (D17: every edit fills at least one field).

Bounding boxes are fractions of a US Letter page, the page laid out as the
filled document draws it: the document's lines from the top, each field's value
written after its label in the requested ``config.color``. ``filled_document``
is that PDF as a data URI (see :mod:`.pdf`).

Templates: the server knows the stored templates in :data:`EDIT_TEMPLATES`
(``GET /v1/edits/templates`` lists them, ``GET /v1/edits/templates/{id}`` shows
one); an edit of another ``template_id`` is ``404``. An edit given both a
document and a template, or neither, is ``400``, as is a document that is not a
PDF, Office or text file. Instructions containing the failure marker fail the run
(a template has no document to carry it).
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..._mime import is_text_mime
from .._primitive import FAIL_MARKER, ExtraRoute, Issue, Outcome, Refusal, ServerPrimitive
from .._responses import encode, error_b, json_response
from .._validation import _check_document, _check_type, _issue
from .pdf import PAGE_HEIGHT, PAGE_WIDTH, PdfText, hex_rgb, pdf_pages_text, write_pdf

__all__ = [
    "EDITS",
    "EDIT_TEMPLATES",
    "EditCreate",
    "EditTemplate",
    "FilledForm",
    "fill_form",
    "parse_edit_create",
]

_MARGIN = 72.0
_LEAD = 14.0
_FONT = 10.0
_CHAR = 0.5 * _FONT  # Helvetica's average advance, near enough for a stand-in
_MAX_LINES = 200  # lines of a page laid out; the rest is not searched for fields
_MAX_PAGES = 200
_MAX_XML = 8 << 20  # bytes read from one part of an Office file
_COLOR = re.compile(r"#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})")
_CHECKBOX = re.compile(r"^\s*\[( |x|X)?\]\s*(?P<label>\S.{0,79}?)\s*$")
_TEXT_FIELD = re.compile(r"^\s*(?P<label>[A-Za-z][^:\[\]]{0,59}?)\s*:\s*(?:_{2,}|\.{3,})?\s*$")
_PAIR = re.compile(r"^\s*(?P<key>[^:=]{1,60}?)\s*[:=]\s*(?P<value>.+?)\s*$")
_SLUG = re.compile(r"[^a-z0-9]+")
_TRUE = frozenset({"yes", "y", "true", "x", "checked", "check", "on", "1"})
_FALSE = frozenset({"no", "n", "false", "unchecked", "off", "0", "none"})
_FORMATS = {
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}


# -- templates -----------------------------------------------------------------------


@dataclass(frozen=True)
class EditTemplate:
    """A stored edit template: an empty form (its text, drawn as a PDF) and its fields."""

    id: str
    name: str
    filename: str
    text: str
    created_at: str = "2026-01-05T09:00:00.000Z"

    @property
    def pdf(self) -> bytes:
        """The empty form as a PDF."""
        return write_pdf(_layout(self.text.split("\f"), [], (0.0, 0.0, 0.0)))

    def to_dict(self) -> dict[str, Any]:
        """As ``GET /v1/edits/templates/{id}`` answers it."""
        fields = [f.to_dict() for f in find_fields(self.text.split("\f"))]
        return {
            "id": self.id,
            "name": self.name,
            "file": _file_ref(self.pdf, self.filename, "application/pdf"),
            "form_fields": fields,
            "field_count": len(fields),
            "created_at": self.created_at,
            "updated_at": self.created_at,
        }


EDIT_TEMPLATES: dict[str, EditTemplate] = {
    template.id: template
    for template in (
        EditTemplate(
            id="edtpl_contact_form",
            name="Contact form",
            filename="contact_form.pdf",
            text="CONTACT FORM\n\nFull name:\nEmail:\nPhone:\n[ ] Subscribe to the newsletter\n",
        ),
        EditTemplate(
            id="edtpl_expense_claim",
            name="Expense claim",
            filename="expense_claim.pdf",
            text="EXPENSE CLAIM\n\nEmployee:\nDate:\nAmount:\nPurpose:\n[ ] Receipt attached\n",
        ),
    )
}
"""The templates every local server knows, by id."""


def _file_ref(content: bytes, filename: str, mime_type: str) -> dict[str, str]:
    digest = hashlib.sha256(content).hexdigest()[:16]
    return {"id": f"file_{digest}", "filename": filename, "mime_type": mime_type}


# -- the create request ------------------------------------------------------------

_CREATE_FIELDS = frozenset(
    {"instructions", "document", "template_id", "model", "config", "bust_cache", "background"}
)


@dataclass(frozen=True)
class EditCreate:
    """A valid edit create body, with the document decoded or the template found.

    ``template`` is the stored template named by ``template_id`` (``None`` when
    there is no such template, or when a document was given).
    """

    instructions: str
    has_document: bool
    template_id: str | None
    template: EditTemplate | None
    filename: str
    url: str
    mime_type: str
    content: bytes | None
    model: str
    color: str
    bust_cache: bool
    background: bool


def parse_edit_create(body: Any) -> EditCreate | list[Issue]:
    """Validate a decoded ``POST /v1/edits`` body: an :class:`EditCreate`, or the
    problems (answered ``422``). Both or neither of ``document`` and ``template_id``
    pass here: ``check_create`` refuses them with ``400``."""
    if not isinstance(body, dict):
        return [_issue("model_attributes_type", [], "Input should be a valid dictionary", body)]
    issues = [
        _issue("extra_forbidden", [key], "Extra inputs are not permitted", body[key])
        for key in body
        if key not in _CREATE_FIELDS
    ]
    instructions = body.get("instructions")
    if not isinstance(instructions, str):
        kind, msg = ("missing", "Field required") if instructions is None else ("string_type", "")
        issues.append(_issue(kind, ["instructions"], msg or "Input should be a valid string"))
    has_document = body.get("document") is not None
    document = _check_document(body["document"], issues) if has_document else None
    template_id = _check_type(body, "template_id", (str, type(None)), None, issues)
    model = _check_type(body, "model", str, "retab-small", issues)
    color = _check_config(body.get("config"), issues)
    bust_cache = _check_type(body, "bust_cache", bool, False, issues)
    background = _check_type(body, "background", bool, False, issues)
    if issues or not isinstance(instructions, str):
        return issues
    template = EDIT_TEMPLATES.get(template_id) if template_id and not has_document else None
    filename, url, mime, content = document or ("", "", "application/pdf", None)
    if template is not None:
        filename, content = template.filename, template.pdf
    return EditCreate(
        instructions=instructions,
        has_document=has_document,
        template_id=template_id,
        template=template,
        filename=filename,
        url=url,
        mime_type=mime,
        content=content,
        model=model,
        color=color,
        bust_cache=bust_cache,
        background=background,
    )


def _check_config(raw: Any, issues: list[Issue]) -> str:
    if raw is None:
        return "#000080"
    if not isinstance(raw, dict):
        issues.append(_issue("model_type", ["config"], "Input should be an object", raw))
        return "#000080"
    color = raw.get("color")
    if color is None:
        return "#000080"
    if not isinstance(color, str) or not _COLOR.fullmatch(color):
        msg = "Value error, color must be a hex code such as '#000080'"
        issues.append(_issue("value_error", ["config", "color"], msg, color))
        return "#000080"
    return color


def check_edit_create(request: EditCreate) -> str | Refusal | None:
    """Refuse both or neither of document and template (``400``), an unknown template
    (``404``), and a document of a kind edits do not take (``400``)."""
    if request.has_document and request.template_id is not None:
        return "Provide exactly one of document or template_id, not both"
    if not request.has_document and request.template_id is None:
        return "Provide exactly one of document or template_id"
    if request.template_id is not None and request.template is None:
        message = f"Edit template {request.template_id} not found"
        return Refusal(404, "NOT_FOUND", message)
    if request.mime_type not in _FORMATS and not is_text_mime(request.mime_type):
        return (
            f"Invalid document format for edits: {request.filename} ({request.mime_type}); "
            "expected a PDF, DOCX, XLSX or PPTX document"
        )
    return None


# -- reading a document's text ---------------------------------------------------------


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


# -- finding and filling fields ----------------------------------------------------------


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
        if match:
            pairs.append((_slug(match.group("key")), match.group("value")))
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
    pages: int = field(default=1)


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


# -- the description -------------------------------------------------------------------


def _pages_of(request: EditCreate) -> list[str]:
    if request.template is not None:
        return request.template.text.split("\f")
    return document_pages(request.content, request.mime_type)


def _compute(request: EditCreate) -> Outcome:
    form = fill_form(_pages_of(request), request.instructions, request.color)
    stem = request.filename.rsplit(".", 1)[0] or "document"
    encoded = base64.b64encode(form.pdf).decode("ascii")
    output = {
        "form_data": form.fields,
        "filled_document": {
            "filename": f"{stem}_filled.pdf",
            "url": f"data:application/pdf;base64,{encoded}",
        },
    }
    error = None
    if FAIL_MARKER.decode() in request.instructions:
        error = {
            "code": "EDIT_FAILED",
            "message": "The instructions asked to fail (they contain the failure marker).",
            "details": {"stage": "edit", "marker": FAIL_MARKER.decode()},
        }
    return Outcome(output=output, error=error, credits=float(form.pages))


def _record(request: EditCreate) -> dict[str, Any]:
    return {
        "instructions": request.instructions,
        "config": {"color": request.color},
        "template_id": request.template_id,
        "filled_document_ref": None,
    }


def _template_filter(query: Any) -> Any:
    template_id = query.get("template_id")
    if not template_id:
        return None
    return lambda view: view.get("template_id") == template_id


async def _list_templates(request: web.Request, routes: Any) -> web.StreamResponse:
    data = [template.to_dict() for template in EDIT_TEMPLATES.values()]
    return json_response(encode({"data": data, "list_metadata": {"before": None, "after": None}}))


async def _get_template(request: web.Request, routes: Any) -> web.StreamResponse:
    template = EDIT_TEMPLATES.get(request.match_info["id"])
    if template is None:
        return error_b(404, "NOT_FOUND", f"Edit template {request.match_info['id']} not found")
    return json_response(encode(template.to_dict()))


EDITS: ServerPrimitive[EditCreate] = ServerPrimitive(
    name="edits",
    noun="Edit",
    id_prefix="edit_",
    parse_create=parse_edit_create,
    check_create=check_edit_create,
    compute=_compute,
    record=_record,
    placeholder=None,
    empty_output=None,
    has_consensus=False,
    list_filters=_template_filter,
    extra_routes=(
        ExtraRoute(method="GET", path="/templates", operation="templates", handler=_list_templates),
        ExtraRoute(
            method="GET", path="/templates/{id}", operation="templates", handler=_get_template
        ),
    ),
)
"""Edits: contract section 3 and D17."""
