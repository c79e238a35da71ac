"""Checks shared by the typed create options: each raises :class:`UsageError` naming the field."""

from __future__ import annotations

from typing import Any

from .._errors import UsageError
from .common import MIMEData

__all__ = ["check_flag", "check_int", "check_model", "check_optional_str", "document_dict"]


def check_model(model: object) -> None:
    """A model is a non-blank string such as ``"retab-small"``."""
    if not isinstance(model, str) or not model.strip():
        raise UsageError(f"model must be a non-empty string, e.g. 'retab-small', not {model!r}")


def check_int(name: str, value: object, low: int, high: int) -> None:
    """``value`` is an ``int`` (not a ``bool``) from ``low`` to ``high``."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise UsageError(f"{name} must be an integer from {low} to {high}, not {value!r}")


def check_optional_str(name: str, value: object) -> None:
    """``value`` is a string or ``None``."""
    if value is not None and not isinstance(value, str):
        raise UsageError(f"{name} must be a string or None, not {type(value).__name__}")


def check_flag(name: str, value: object) -> None:
    """``value`` is a ``bool``; ``1`` or ``"yes"`` are refused rather than guessed at."""
    if not isinstance(value, bool):
        raise UsageError(f"{name} must be True or False, not {value!r}")


def document_dict(document: MIMEData | Any) -> dict[str, str]:
    """The ``document`` field of a body, from :class:`MIMEData` or a ``{filename, url}`` mapping.

    Raises :class:`UsageError` when ``filename`` or ``url`` is missing or not a string.
    """
    if isinstance(document, MIMEData):
        return {"filename": document.filename, "url": document.url}
    get = getattr(document, "get", None)
    filename = get("filename") if get is not None else None
    url = get("url") if get is not None else None
    if not isinstance(filename, str) or not filename or not isinstance(url, str) or not url:
        raise UsageError("document must be MIMEData or a mapping with string 'filename' and 'url'")
    return {"filename": filename, "url": url}
