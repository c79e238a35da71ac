"""Record shapes the benchmarks send and serve, modelled on the official SDK's models.

``retab.types.classifications.Classification``: ``id``, ``file`` (``FileRef``),
``model``, ``categories`` (``Category``: name, description, handle_key),
``n_consensus``, ``instructions``, ``output`` (``ClassificationDecision``:
reasoning, category), ``status``, ``error`` (``PrimitiveError``), ``consensus``
(``ClassificationConsensus``: choices, likelihoods), ``usage`` (``RetabUsage``:
credits), ``created_at``.

A realistic completed record: 12 categories with one-paragraph descriptions,
5 consensus votes with their reasoning, about 6.1 KB of JSON. A light record
(``include_output=false``) has ``output`` and ``consensus`` null (about 4.5 KB:
the categories come back every time). The request of a create carries the same
12 categories and a 1.3 KB text document as a ``data:`` URI.

Everything here is deterministic, so a client can check the category a
counterpart server chose for a run from the run id alone.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

__all__ = [
    "CATEGORIES",
    "CATEGORY_NAMES",
    "DOCUMENT",
    "ID_MARKER",
    "SHAPE",
    "create_body",
    "expected_category",
    "record",
]

_KINDS = [
    ("invoice", "a request for payment for goods or services already delivered"),
    ("receipt", "a proof that a payment was made, at a till or online"),
    ("purchase_order", "a buyer's order to a supplier, before any delivery"),
    ("contract", "an agreement between parties with terms, dates and signatures"),
    ("bank_statement", "a list of account movements over a period, with balances"),
    ("payslip", "an employee's pay for a period, with deductions and net pay"),
    ("tax_form", "a filled form addressed to a tax authority"),
    ("delivery_note", "a document that travels with goods and lists what was shipped"),
    ("credit_note", "a supplier's correction that reduces an amount owed"),
    ("quote", "a priced offer valid for a limited time, not yet accepted"),
    ("letter", "free correspondence with no amounts to settle"),
    ("other", "anything that fits none of the categories above"),
]

CATEGORY_NAMES = [name for name, _ in _KINDS]

CATEGORIES: list[dict[str, Any]] = [
    {
        "name": name,
        "description": (
            f"Choose '{name}' for {what}. Look at the title, the parties named at the top, "
            "the presence of amounts, dates and reference numbers, and the wording of the "
            "closing lines; a scanned or photographed page counts the same as a native PDF."
        ),
        "handle_key": None,
    }
    for name, what in _KINDS
]

_DOCUMENT_TEXT = (
    "NORTHWIND TRADERS LTD - INVOICE No. 20418\n"
    "Bill to: Contoso Pharmaceuticals, 12 Harbour Road, Leith, EH6 6QW\n"
    + "".join(
        f"Line {i:02d}  Item SKU-{1000 + i}  qty {i % 7 + 1}  unit 12.50  "
        f"total {12.5 * (i % 7 + 1):.2f}\n"
        for i in range(20)
    )
    + "Subtotal 487.50  VAT 20% 97.50  Amount due 585.00 by 2026-09-01. PO ref 88-1142.\n"
)
DOCUMENT = ("northwind-inv-20418.txt", _DOCUMENT_TEXT.encode())

ID_MARKER = "clss_0000000000000000"
"""Stands for the run id in record templates (ids are ``clss_`` and 16 hex digits)."""


def expected_category(run_id: str) -> str:
    """The category a counterpart server gives the run ``run_id``."""
    return CATEGORY_NAMES[zlib.crc32(run_id.encode()) % len(CATEGORY_NAMES)]


def record(
    run_id: str, status: str, *, include_output: bool = True, category: str | None = None
) -> dict[str, Any]:
    """A Classification as the API returns it (placeholders while in flight, D3/D9)."""
    completed = status == "completed"
    chosen = category or expected_category(run_id)
    if completed:
        output: Any = {
            "reasoning": (
                f"The header and the body of the document match '{chosen}': the parties, the "
                "reference numbers and the amounts are laid out as that kind of document "
                "usually is, and no other category's signs (signatures, balances, tax "
                "boxes) appear. The closing lines confirm it."
            ),
            "category": chosen,
        }
    else:
        output = None if status in ("failed", "cancelled") else {"reasoning": "", "category": ""}
    consensus = {
        "choices": [
            {
                "reasoning": (
                    f"Vote {i + 1}: the layout, the title and the amounts point to '{chosen}'; "
                    "the reference numbers and dates are consistent with it, and the "
                    "closing lines ask for nothing another category would, so the other "
                    "eleven were ruled out."
                ),
                "category": chosen,
            }
            for i in range(5)
        ],
        "likelihoods": 1.0,
    }
    return {
        "id": run_id,
        "file": {
            "id": "file_" + run_id.removeprefix("clss_"),
            "filename": DOCUMENT[0],
            "mime_type": "text/plain",
        },
        "model": "retab-small",
        "categories": CATEGORIES,
        "n_consensus": 5,
        "instructions": (
            "If an amount due and a purchase-order reference both appear, prefer invoice over "
            "purchase_order; a document that only confirms a payment is a receipt."
        ),
        "output": output if include_output else None,
        "status": status,
        "error": None,
        "consensus": consensus if completed and include_output else None,
        "usage": {"credits": 5.0} if completed else None,
        "created_at": "2026-08-03T14:21:07.512Z",
    }


def create_body() -> dict[str, Any]:
    """The JSON body of a background create, as the official SDK builds it."""
    name, data = DOCUMENT
    return {
        "document": {
            "filename": name,
            "url": "data:text/plain;base64," + base64.b64encode(data).decode(),
        },
        "categories": CATEGORIES,
        "model": "retab-small",
        "n_consensus": 5,
        "background": True,
    }


def _size(status: str, include_output: bool) -> int:
    body = json.dumps(
        record(ID_MARKER, status, include_output=include_output), separators=(",", ":")
    )
    return len(body.encode())


SHAPE = (
    f"Classification records shaped like the official SDK's: 12 categories with descriptions, "
    f"5 consensus votes, usage; completed {_size('completed', True) / 1000:.1f} kB, "
    f"light (include_output=false) {_size('in_progress', False) / 1000:.1f} kB; creates send "
    f"the 12 categories and a {len(DOCUMENT[1]) / 1000:.1f} kB document as a data URI"
)
"""One line describing the shapes, printed by every client benchmark."""
