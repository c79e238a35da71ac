"""Reading a newline-delimited JSON stream, one decoded object per line.

``POST /v1/extractions/stream`` answers one JSON event per line (contract 5.2,
D16). A line may carry an SSE-style ``data:`` prefix, which is stripped. Lines
that are blank, or SSE comments (starting with ``:``, which no JSON value
does), are skipped: they are framing, not events. Lines end with ``\\n`` or
``\\r\\n``; the last line may have no terminator.

The reader takes any async iterator of byte chunks (aiohttp's
``response.content.iter_any()`` in practice), so chunk boundaries may fall
anywhere, inside a line or inside a multi-byte character. It keeps at most one
line in memory, refuses a line longer than ``max_line_bytes`` (16 MiB by
default, as the official CLI allows) as soon as it knows, and decodes every
line with the one decoder it is given. Each chunk is scanned once for line
ends, so a long line arriving in many small chunks costs linear time.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable
from typing import Final, TypeVar

import msgspec

from .._errors import DecodeError

__all__ = ["MAX_LINE_BYTES", "StreamLineTooLong", "iter_ndjson"]

T = TypeVar("T")

MAX_LINE_BYTES: Final = 16 * 1024 * 1024
"""The longest line accepted, not counting its terminator."""

_DATA_PREFIX = b"data:"


class StreamLineTooLong(DecodeError):
    """A streamed line is longer than the limit; the stream cannot be read further.

    Attributes:
        limit: the limit in bytes.
        line_number: the 1-based number of the line.
    """

    def __init__(self, *, limit: int, line_number: int, start: bytes) -> None:
        super().__init__(
            f"stream line {line_number} is longer than {limit} bytes", body=start, malformed=True
        )
        self.limit = limit
        self.line_number = line_number


async def iter_ndjson(
    chunks: AsyncIterable[bytes],
    decoder: msgspec.json.Decoder[T],
    *,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> AsyncGenerator[T, None]:
    """Yield one decoded object per JSON line of ``chunks``.

    ``chunks`` is closed (``aclose()``, when it has one) when the reader stops,
    whether it was exhausted, left early or failed.

    Raises:
        StreamLineTooLong: a line is longer than ``max_line_bytes`` bytes.
        DecodeError: a line is not JSON (``malformed``), or not the shape ``decoder``
            expects; the message gives the line number.
    """
    buffer = bytearray()
    line_number = 0
    try:
        async for chunk in chunks:
            scan_from = len(buffer)
            buffer += chunk
            start = 0
            while (end := buffer.find(b"\n", scan_from)) != -1:
                line_number += 1
                payload = _payload(buffer, start, end, line_number, max_line_bytes)
                if payload is not None:
                    yield _decode(decoder, payload, line_number)
                start = scan_from = end + 1
            if start:
                del buffer[:start]
            # One byte of slack for the ``\r`` of a ``\r\n`` that has not arrived yet.
            if len(buffer) > max_line_bytes + 1:
                raise StreamLineTooLong(
                    limit=max_line_bytes, line_number=line_number + 1, start=bytes(buffer[:200])
                )
        if buffer:
            payload = _payload(buffer, 0, len(buffer), line_number + 1, max_line_bytes)
            if payload is not None:
                yield _decode(decoder, payload, line_number + 1)
    finally:
        # Leaving early (break, an error, cancellation) closes the source too, so
        # that whatever it reads from is released at once, not when collected.
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


def _payload(
    buffer: bytearray, start: int, end: int, line_number: int, max_line_bytes: int
) -> bytearray | None:
    """The JSON text of one line, or ``None`` for a line that is only framing."""
    if end > start and buffer[end - 1] == 0x0D:  # "\r"
        end -= 1
    if end - start > max_line_bytes:
        raise StreamLineTooLong(
            limit=max_line_bytes, line_number=line_number, start=bytes(buffer[start : start + 200])
        )
    line = buffer[start:end]
    if line.startswith(_DATA_PREFIX):
        line = line[len(_DATA_PREFIX) :]
    elif line.startswith(b":"):
        return None  # an SSE comment (keep-alive)
    if not line or line.isspace():
        return None
    return line


def _decode(decoder: msgspec.json.Decoder[T], line: bytearray, line_number: int) -> T:
    try:
        return decoder.decode(line)
    except msgspec.ValidationError as exc:
        message = f"stream line {line_number} is not a valid event: {exc}"
        raise DecodeError(message, body=bytes(line[:2000])) from exc
    except msgspec.DecodeError as exc:
        message = f"stream line {line_number} is not valid JSON: {exc}"
        raise DecodeError(message, body=bytes(line[:2000]), malformed=True) from exc
