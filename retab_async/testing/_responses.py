"""The local server's JSON answers and error shapes (contract 4.2, D11)."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

__all__ = ["JSON", "encode", "error_b", "error_d", "json_response"]

encode = msgspec.json.Encoder().encode
JSON = "application/json"


def json_response(
    body: bytes, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """An encoded JSON body as a response."""
    return web.Response(body=body, status=status, content_type=JSON, headers=headers)


def error_b(status: int, code: str, message: str, details: Any = None) -> web.Response:
    """An error in shape B: ``{"detail": {code, message, details}}``."""
    body = {"detail": {"code": code, "message": message, "details": details}}
    return json_response(encode(body), status)


def error_d(issues: list[dict[str, Any]]) -> web.Response:
    """A ``422`` in shape D: the flat envelope with the issues as a JSON string."""
    body = {"status_code": 10422, "message": encode(issues).decode(), "data": None}
    return json_response(encode(body), 422)
