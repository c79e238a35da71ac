"""Validation every primitive shares, with errors in the API's own shapes (contract 4.2,
D11, D12): the document, typed fields, and list queries. Each primitive's module
validates its own create body with these."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._mime import mime_type_for
from .._status import KNOWN_STATUSES
from ._files import resolve_document_url
from ._primitive import Issue, RecordFilter

__all__ = ["ListQuery", "QueryError", "parse_list_query"]

_DATA_URI = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(;[\w-]+=[\w.-]+)*;base64,(.*)$", re.DOTALL)


def _issue(kind: str, loc: list[str | int], msg: str, value: Any = None) -> Issue:
    return {"type": kind, "loc": ["body", *loc], "msg": msg, "input": value}


def _check_type(
    body: dict[str, Any], key: str, kind: Any, default: Any, issues: list[Issue]
) -> Any:
    if key not in body:
        return default
    value = body[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        issues.append(_issue("type_error", [key], f"Input has the wrong type for {key}", value))
        return default
    return value


def _check_int(
    body: dict[str, Any],
    key: str,
    default: int | None,
    low: int,
    high: int | None,
    issues: list[Issue],
) -> Any:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        issues.append(_issue("int_type", [key], "Input should be a valid integer", value))
        return default
    if value < low:
        issues.append(
            _issue(
                "greater_than_equal",
                [key],
                f"Input should be greater than or equal to {low}",
                value,
            )
        )
    elif high is not None and value > high:
        issues.append(
            _issue("less_than_equal", [key], f"Input should be less than or equal to {high}", value)
        )
    return value


def _check_document(doc: Any, issues: list[Issue]) -> tuple[str, str, str, bytes | None] | None:
    if doc is None:
        issues.append(_issue("missing", ["document"], "Field required"))
        return None
    if not isinstance(doc, dict):
        issues.append(_issue("model_type", ["document"], "Input should be an object", doc))
        return None
    filename, url = doc.get("filename"), doc.get("url")
    bad = False
    for key, value in (("filename", filename), ("url", url)):
        if not isinstance(value, str) or not value:
            issues.append(_issue("missing", ["document", key], "Field required", value))
            bad = True
    if bad or not isinstance(filename, str) or not isinstance(url, str):
        return None
    mime = mime_type_for(filename)
    if mime is None:
        issues.append(
            _issue("value_error", ["document", "filename"], "Unsupported file extension", filename)
        )
        return None
    try:
        # D18: an uploaded file's storage or download URL is that file's bytes.
        uploaded = resolve_document_url(url)
    except LookupError as exc:
        issues.append(_issue("value_error", ["document", "url"], str(exc), url[:80]))
        return None
    if uploaded is not None:
        return filename, url, mime, uploaded.read()
    if url.startswith("https://"):
        return filename, url, mime, None
    match = _DATA_URI.match(url)
    if match is None:
        msg = "URL must be a data: URI with base64 content or an https:// URL"
        issues.append(_issue("value_error", ["document", "url"], msg, url[:80]))
        return None
    try:
        content = base64.b64decode(match.group(3), validate=True)
    except (binascii.Error, ValueError):
        issues.append(_issue("value_error", ["document", "url"], "Invalid base64 content", None))
        return None
    return filename, url, match.group(1) or mime, content


class QueryError(Exception):
    """A bad list query: ``status`` is 400 (malformed date) or 422 (out of range)."""

    def __init__(self, status: int, issues: list[Issue]) -> None:
        super().__init__(issues[0]["msg"])
        self.status = status
        self.issues = issues


@dataclass(frozen=True)
class ListQuery:
    """A valid list query."""

    limit: int
    order: str
    after: str | None
    before: str | None
    status: str | None
    filename: str | None
    from_date: dt.date | None
    to_date: dt.date | None
    matches: RecordFilter | None = None


def _query_issue(key: str, msg: str, value: Any, kind: str = "value_error") -> Issue:
    return {"type": kind, "loc": ["query", key], "msg": msg, "input": value}


def parse_list_query(
    query: Any,
    *,
    status_filter: bool = True,
    own_filters: Callable[[Any], RecordFilter | None] | None = None,
) -> ListQuery:
    """Validate list query parameters; raise :class:`QueryError` when they are wrong.

    Without ``status_filter``, ``status`` is an unknown parameter and ignored.
    ``own_filters`` reads a primitive's own filters into ``ListQuery.matches``.
    """
    issues: list[Issue] = []
    limit = _parse_limit(query.get("limit", "10"), issues)
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        issues.append(_query_issue("order", "Input should be 'asc' or 'desc'", order, "enum"))
    status = query.get("status") if status_filter else None
    if status is not None and status not in KNOWN_STATUSES - {"error"}:
        issues.append(_query_issue("status", "Input should be a run status", status, "enum"))
    after, before = query.get("after"), query.get("before")
    if after and before:
        issues.append(_query_issue("before", "Use either 'before' or 'after', not both", before))
    if issues:
        raise QueryError(422, issues)
    matches = own_filters(query) if own_filters is not None else None
    return ListQuery(
        limit=limit,
        order=order,
        after=after or None,
        before=before or None,
        status=status,
        filename=query.get("filename") or None,
        from_date=_parse_date("from_date", query.get("from_date")),
        to_date=_parse_date("to_date", query.get("to_date")),
        matches=matches,
    )


def _parse_limit(raw: str, issues: list[Issue]) -> int:
    try:
        limit = int(raw)
    except ValueError:
        issues.append(_query_issue("limit", "Input should be a valid integer", raw, "int_parsing"))
        return 10
    if not 1 <= limit <= 100:
        issues.append(_query_issue("limit", "Input should be between 1 and 100", raw))
    return limit


def _parse_date(key: str, raw: str | None) -> dt.date | None:
    if raw is None or raw == "":
        return None
    try:
        if len(raw) == 10:
            return dt.date.fromisoformat(raw)
        return dt.datetime.fromisoformat(raw.replace("Z", "+00:00")).date()
    except ValueError:
        msg = f"Invalid {key} {raw!r}: expected YYYY-MM-DD"
        raise QueryError(400, [_query_issue(key, msg, raw)]) from None
