"""The local server validates requests as the API does (422 shape D, 400 and 413)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from retab_async.testing import LocalRetab

from .conftest import Api, create_body, text_doc


def _items(body: dict[str, Any]) -> list[dict[str, Any]]:
    assert body["status_code"] == 10422 and body["data"] is None  # shape D
    return json.loads(body["message"])


BAD_BODIES: list[tuple[str, dict[str, Any], list[Any]]] = [
    ("no categories", {"document": text_doc("x")}, ["body", "categories"]),
    ("empty categories", create_body(categories=[]), ["body", "categories"]),
    (
        "nameless category",
        create_body(categories=[{"description": "d"}]),
        ["body", "categories", 0, "name"],
    ),
    ("blank name", create_body(categories=[{"name": "  "}]), ["body", "categories", 0, "name"]),
    ("no document", {"categories": [{"name": "a"}]}, ["body", "document"]),
    (
        "no filename",
        create_body(document={"url": "https://x.test/a.pdf"}),
        ["body", "document", "filename"],
    ),
    ("no url", create_body(document={"filename": "a.pdf"}), ["body", "document", "url"]),
    (
        "http url",
        create_body(document={"filename": "a.pdf", "url": "http://x.test/a.pdf"}),
        ["body", "document", "url"],
    ),
    (
        "ftp url",
        create_body(document={"filename": "a.pdf", "url": "ftp://x/a.pdf"}),
        ["body", "document", "url"],
    ),
    (
        "bad base64",
        create_body(document={"filename": "a.txt", "url": "data:text/plain;base64,@@@"}),
        ["body", "document", "url"],
    ),
    (
        "bad extension",
        create_body(document={"filename": "a.exe", "url": "https://x.test/a.exe"}),
        ["body", "document", "filename"],
    ),
    ("n_consensus 0", create_body(n_consensus=0), ["body", "n_consensus"]),
    ("n_consensus 17", create_body(n_consensus=17), ["body", "n_consensus"]),
    ("n_consensus str", create_body(n_consensus="3"), ["body", "n_consensus"]),
    ("first_n_pages 0", create_body(first_n_pages=0), ["body", "first_n_pages"]),
    ("background str", create_body(background="yes"), ["body", "background"]),
    ("model number", create_body(model=5), ["body", "model"]),
    ("unknown field", create_body(colour="red"), ["body", "colour"]),
]


@pytest.mark.parametrize(("case", "body", "loc"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
async def test_bad_create_bodies_get_422_shape_d(
    api: Api, server: LocalRetab, case: str, body: dict[str, Any], loc: list[Any]
) -> None:
    status, answer, _ = await api.call("POST", "/v1/classifications", json=body)
    assert status == 422, case
    assert loc in [item["loc"] for item in _items(answer)]
    assert server.runs == []


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2]", b'"text"', b"", b"\xff\xfe"],
    ids=["broken", "array", "string", "empty", "binary"],
)
async def test_non_object_bodies_get_422(api: Api, raw: bytes) -> None:
    status, answer, _ = await api.call(
        "POST", "/v1/classifications", data=raw, headers={"Content-Type": "application/json"}
    )
    assert status == 422
    assert _items(answer)


async def test_https_document_url_is_accepted(api: Api) -> None:
    status, body, _ = await api.call(
        "POST",
        "/v1/classifications",
        json=create_body(
            document={"filename": "receipt_scan.pdf", "url": "https://files.test/receipt_scan.pdf"}
        ),
    )
    assert status == 201
    assert body["file"]["mime_type"] == "application/pdf"
    assert body["output"]["category"] == "receipt"  # binary: decided by the filename


@pytest.mark.retab_server(max_body_size=1024 * 1024)
async def test_oversized_body_gets_413(api: Api, server: LocalRetab) -> None:
    status, body, _ = await api.call(
        "POST",
        "/v1/classifications",
        data=b"x" * (2 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
    )
    assert status == 413
    assert body["detail"]["code"] == "PAYLOAD_TOO_LARGE"
    assert server.runs == []


async def test_default_limit_refuses_a_50_mib_body(api: Api) -> None:
    status, _, _ = await api.call(
        "POST",
        "/v1/classifications",
        data=b"x" * (50 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
    )
    assert status == 413


@pytest.mark.parametrize(
    ("params", "status", "key"),
    [
        ({"limit": "0"}, 422, "limit"),
        ({"limit": "101"}, 422, "limit"),
        ({"limit": "-1"}, 422, "limit"),
        ({"limit": "ten"}, 422, "limit"),
        ({"order": "newest"}, 422, "order"),
        ({"status": "done"}, 422, "status"),
        ({"after": "a", "before": "b"}, 422, "before"),
        ({"from_date": "2026-13-01"}, 400, None),
        ({"to_date": "yesterday"}, 400, None),
    ],
)
async def test_bad_list_queries(
    api: Api, params: dict[str, str], status: int, key: str | None
) -> None:
    got, body, _ = await api.call("GET", "/v1/classifications", params=params)
    assert got == status
    if status == 422:
        assert body["detail"][0]["loc"] == ["query", key]  # shape C
    else:
        assert body["detail"]["code"] == "INVALID_DATE"


async def test_bad_include_output_is_422(api: Api) -> None:
    created = await api.create()
    status, _, _ = await api.call(
        "GET", f"/v1/classifications/{created['id']}", params={"include_output": "maybe"}
    )
    assert status == 422
