"""Parse an error response body in any of the shapes the API uses (contract 4.2, A to G).

The parser never raises: whatever the bytes, it returns an :class:`ErrorDetail`.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["ErrorDetail", "PrimitiveError", "ValidationItem", "parse_error_body"]

_json_any = msgspec.json.Decoder()


class PrimitiveError(msgspec.Struct, frozen=True, kw_only=True):
    """Why a run failed, as the server reports it inside the record."""

    code: str = "UNKNOWN"
    message: str = ""
    details: dict[str, Any] | None = None


class ValidationItem(msgspec.Struct, frozen=True, kw_only=True):
    """One validation problem reported by the server (shapes C and D)."""

    loc: tuple[str | int, ...] = ()
    msg: str = ""
    type: str = ""

    def __str__(self) -> str:
        where = ".".join(str(part) for part in self.loc)
        return f"{where}: {self.msg}" if where else self.msg


class ErrorDetail(msgspec.Struct, frozen=True, kw_only=True):
    """What an error body said, whatever its shape.

    Attributes:
        message: a human-readable message (never empty).
        code: the machine-readable code, when there was one.
        details: extra structured details, when there were any.
        validation: validation items (shapes C and D), else empty.
    """

    message: str
    code: str | None = None
    details: Any = None
    validation: tuple[ValidationItem, ...] = ()


def parse_error_body(body: bytes, status: int) -> ErrorDetail:
    """Return the :class:`ErrorDetail` of an error response body. Never raises."""
    try:
        return _parse(body, status)
    except Exception:  # the contract: a parser for error bodies must not fail
        return ErrorDetail(message=_fallback_text(body, status))


def _parse(body: bytes, status: int) -> ErrorDetail:
    try:
        data = _json_any.decode(body)
    except msgspec.DecodeError:
        return ErrorDetail(message=_fallback_text(body, status))  # shape F
    if not isinstance(data, dict):
        return ErrorDetail(message=_fallback_text(body, status))
    if "detail" in data:
        return _from_detail(data["detail"], status)
    if "status_code" in data and "message" in data:
        return _from_envelope(data, status)  # shape D
    if "message" in data or "code" in data:
        return _from_object(data, status)  # shape E
    return ErrorDetail(message=f"request failed ({status})", details=data)


def _from_detail(detail: Any, status: int) -> ErrorDetail:
    if isinstance(detail, str):  # shape A
        return ErrorDetail(message=detail or f"request failed ({status})")
    if isinstance(detail, list):  # shape C
        items = _validation_items(detail)
        return ErrorDetail(message=_validation_message(items, status), validation=items)
    if isinstance(detail, dict):  # shapes B and G
        return _from_object(detail, status)
    return ErrorDetail(message=f"request failed ({status})", details=detail)


def _from_object(obj: dict[str, Any], status: int) -> ErrorDetail:
    code = obj.get("code")
    message = obj.get("message")
    details = obj.get("details")
    if "errors" in obj and details is None:  # shape G
        details = {"errors": obj["errors"]}
    inner = details.get("error") if isinstance(details, dict) else None
    # The outer code is often a generic HTTP_EXCEPTION; the real cause may sit deeper.
    if isinstance(inner, dict):
        code = inner.get("code") or code
        message = inner.get("message") or message
    elif isinstance(inner, str) and inner:
        message = f"{message}: {inner}" if message else inner
    return ErrorDetail(
        message=str(message) if message else f"request failed ({status})",
        code=str(code) if code is not None else None,
        details=details,
    )


def _from_envelope(data: dict[str, Any], status: int) -> ErrorDetail:
    raw = data.get("message")
    items: tuple[ValidationItem, ...] = ()
    if isinstance(raw, str):
        try:
            decoded = _json_any.decode(raw)
        except msgspec.DecodeError:
            decoded = None
        if isinstance(decoded, list):
            items = _validation_items(decoded)
    elif isinstance(raw, list):
        items = _validation_items(raw)
    if items:
        return ErrorDetail(message=_validation_message(items, status), validation=items)
    return ErrorDetail(message=str(raw) if raw else f"request failed ({status})")


def _validation_items(raw: list[Any]) -> tuple[ValidationItem, ...]:
    items = []
    for entry in raw:
        if not isinstance(entry, dict):
            items.append(ValidationItem(msg=str(entry)))
            continue
        loc = entry.get("loc")
        parts = (
            tuple(p if isinstance(p, int) else str(p) for p in loc) if isinstance(loc, list) else ()
        )
        items.append(
            ValidationItem(
                loc=parts, msg=str(entry.get("msg", "")), type=str(entry.get("type", ""))
            )
        )
    return tuple(items)


def _validation_message(items: tuple[ValidationItem, ...], status: int) -> str:
    text = "; ".join(str(item) for item in items if str(item))
    return text or f"request failed validation ({status})"


def _fallback_text(body: bytes, status: int) -> str:
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return f"request failed ({status}) with an empty body"
    if len(text) > 300:
        text = text[:300] + "..."
    return text
