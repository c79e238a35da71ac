"""Decoding a completed Classification (12 categories, 5 consensus votes).

Compares, in one run:
  * retab-async: ``Primitive.decode`` (what every get() runs: msgspec, placeholders handled);
  * a bare ``msgspec.json.decode`` into an equivalent Struct (no SDK);
  * the official ``retab`` package's path: ``json.loads`` + pydantic ``model_validate``.

Targets: at least 4x faster than the official path, within 1.3x of bare msgspec.
"""

from __future__ import annotations

import json
import timeit

import msgspec
from _common import verdict

from retab_async._primitives import CLASSIFICATIONS
from retab_async._transport import Response

CATEGORIES = [
    {
        "name": f"category_{i}",
        "description": f"Documents of kind {i}, with their usual fields",
        "handle_key": None,
    }
    for i in range(12)
]
RECORD = {
    "id": "clss_9f2c7a41b3e04d0e",
    "file": {
        "id": "file_5d81c0aa92e4f317",
        "filename": "northwind-inv-20418.pdf",
        "mime_type": "application/pdf",
    },
    "model": "retab-small",
    "categories": CATEGORIES,
    "n_consensus": 5,
    "instructions": "If an amount due and a PO reference both appear, prefer invoice.",
    "output": {
        "reasoning": "Header reads 'INVOICE', six priced lines, a subtotal, VAT and terms.",
        "category": "category_3",
    },
    "status": "completed",
    "error": None,
    "consensus": {
        "choices": [
            {"reasoning": f"Vote {i}: itemised bill with a due date.", "category": "category_3"}
            for i in range(5)
        ],
        "likelihoods": 0.8,
    },
    "usage": {"credits": 5.0},
    "created_at": "2026-08-03T14:21:07.512Z",
}
BODY = json.dumps(RECORD).encode()


class BareCategory(msgspec.Struct):
    name: str
    description: str = ""
    handle_key: str | None = None


class BareDecision(msgspec.Struct):
    category: str
    reasoning: str = ""


class BareConsensus(msgspec.Struct):
    choices: list[BareDecision] = []
    likelihoods: float | None = None


class BareFile(msgspec.Struct):
    id: str
    filename: str
    mime_type: str


class BareError(msgspec.Struct):
    code: str
    message: str
    details: dict | None = None  # type: ignore[type-arg]


class BareUsage(msgspec.Struct):
    credits: float


class BareClassification(msgspec.Struct):
    id: str
    file: BareFile
    model: str
    categories: list[BareCategory]
    n_consensus: int = 1
    instructions: str | None = None
    output: BareDecision | None = None
    status: str = "pending"
    error: BareError | None = None
    consensus: BareConsensus | None = None
    usage: BareUsage | None = None
    created_at: str | None = None


def best(fn, number: int) -> float:  # type: ignore[no-untyped-def]
    return min(timeit.repeat(fn, number=number, repeat=7)) / number


def main() -> None:
    from retab.types.classifications import Classification as OfficialClassification

    response = Response(200, {}, BODY, "GET", "u")
    bare = msgspec.json.Decoder(BareClassification)
    ours = best(lambda: CLASSIFICATIONS.decode(response), 20000)
    plain = best(lambda: bare.decode(BODY), 20000)
    official = best(lambda: OfficialClassification.model_validate(json.loads(BODY)), 2000)
    assert CLASSIFICATIONS.decode(response).output.category == "category_3"  # type: ignore[union-attr]
    print(f"body: {len(BODY)} bytes, 12 categories, 5 votes")
    print(f"retab-async decode:      {ours * 1e6:8.2f} us")
    print(f"bare msgspec decode:     {plain * 1e6:8.2f} us")
    print(f"official retab decode:   {official * 1e6:8.2f} us")
    vs_official = official / ours
    vs_bare = ours / plain
    print(f"speed-up over official: {vs_official:.1f}x (target >= 4x) {verdict(vs_official >= 4)}")
    print(f"cost over bare msgspec: {vs_bare:.2f}x (target <= 1.3x) {verdict(vs_bare <= 1.3)}")


if __name__ == "__main__":
    main()
