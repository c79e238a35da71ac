"""Edits on the local server: validation, templates, the stand-in, the record.

The stand-in reads the document's text (:mod:`.documents`: text, PDF, DOCX, XLSX,
PPTX; pages split on form feeds, D19), finds its form fields and fills them from
the instructions (:mod:`.forms`), and answers the filled PDF, drawn by hand
(:mod:`.pdf`), as a data URI. Every document gets at least one filled field
with a bounding box on page 1 (D17). Records echo ``instructions``,
``config.color`` and ``template_id``; ``filled_document_ref`` is ``null`` (the
local server stores no filled files); ``output`` is ``null`` until completed.

Templates: the server knows the stored templates in :data:`EDIT_TEMPLATES`
(``GET /v1/edits/templates`` lists them, ``GET /v1/edits/templates/{id}`` shows
one); an edit of another ``template_id`` is ``404``. An edit given both a
document and a template, or neither, is ``400``, as is a document that is not a
PDF, Office or text file. Instructions containing the failure marker fail the run
(a template has no document to carry it); the list filters by ``template_id``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..._mime import is_text_mime
from .._primitive import FAIL_MARKER, ExtraRoute, Issue, Outcome, Refusal, ServerPrimitive
from .._responses import encode, error_b, json_response
from .._validation import _check_document, _check_type, _issue
from .documents import document_pages
from .forms import blank_form_pdf, fill_form, find_fields

__all__ = [
    "EDITS",
    "EDIT_TEMPLATES",
    "EDIT_TEMPLATE_IDS",
    "EditCreate",
    "EditTemplate",
    "check_edit_create",
    "parse_edit_create",
]

_COLOR = re.compile(r"#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})")
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

    @functools.cached_property
    def pdf(self) -> bytes:
        """The empty form as a PDF."""
        return blank_form_pdf(self.text.split("\f"))

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

EDIT_TEMPLATE_IDS: tuple[str, ...] = tuple(EDIT_TEMPLATES)
"""The ids of the edit templates every local server knows (``edtpl_contact_form``...),
for ``client.edits.create(template_id=...)`` in tests."""


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
