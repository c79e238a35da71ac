"""Run tokens: a small, versioned, JSON-safe string that lets another process resume a run.

Format: ``rtab1.<base64url JSON>.<checksum>``. The JSON holds the primitive, the
run id, the base URL and the idempotency key; never the API key. The checksum
catches corruption and hand edits (it is not a signature: tokens carry no secret).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import msgspec

from .._errors import TokenError, UsageError
from .primitive import PRIMITIVES, TOKEN_PREFIX, Primitive, check_id

__all__ = ["decode_token", "encode_token", "is_token"]

_PREFIX = TOKEN_PREFIX


class _Payload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    p: str
    id: str
    b: str
    k: str | None = None


_decoder = msgspec.json.Decoder(_Payload)
_encoder = msgspec.json.Encoder()


def _checksum(body: str) -> str:
    return hashlib.sha256(body.encode("ascii")).hexdigest()[:12]


def is_token(text: str) -> bool:
    """Whether ``text`` is meant as a run token rather than a run id (ids never hold a dot
    after this prefix)."""
    return text.startswith(f"{_PREFIX}.")


def encode_token(primitive: Primitive[Any], run_id: str, base_url: str, key: str | None) -> str:
    """The token for a run."""
    raw = _encoder.encode(_Payload(p=primitive.name, id=run_id, b=base_url, k=key))
    body = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
    return f"{_PREFIX}.{body}.{_checksum(body)}"


def decode_token(token: object, *, base_url: str) -> tuple[Primitive[Any], str, str | None]:
    """Check a token and return ``(primitive, run id, idempotency key)``.

    Raises :class:`TokenError` when the token is not an ASCII string of our format, its
    checksum does not match, it names an unknown primitive or a bad id, or it was
    made for another base URL than ``base_url``.
    """
    if not isinstance(token, str):
        raise TokenError(f"a run token is a string, not {type(token).__name__}")
    if not token.isascii():
        raise TokenError("not a run token: it contains non-ASCII characters")
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != _PREFIX:
        raise TokenError("not a run token (expected 'rtab1.<data>.<checksum>')")
    _, body, checksum = parts
    if _checksum(body) != checksum:
        raise TokenError("run token checksum does not match: it was altered or cut short")
    try:
        payload = _decoder.decode(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise TokenError(f"run token content is unreadable: {exc}") from None
    primitive = PRIMITIVES.get(payload.p)
    if primitive is None:
        raise TokenError(f"run token names an unknown primitive {payload.p!r}")
    try:
        check_id(payload.id)
    except UsageError as exc:
        raise TokenError(f"run token holds a bad run id: {exc}") from None
    if payload.b != base_url:
        raise TokenError(f"run token was made for {payload.b}, but this client talks to {base_url}")
    return primitive, payload.id, payload.k
