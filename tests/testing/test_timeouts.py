"""Half-sent requests (slowloris) are cut off: header and body read timeouts."""

from __future__ import annotations

import anyio
import pytest

from retab_async.testing import LocalRetab

from .raw_http import connect, request, status_of

HALF_HEAD = b"GET /v1/classifications HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthoriz"


async def _closed_by_server(server: LocalRetab, sent: bytes) -> bytes:
    """Send ``sent``, then wait (bounded) for the server to close; return what it answered."""
    reader, writer = await connect(server)
    try:
        writer.write(sent)
        await writer.drain()
        with anyio.fail_after(30):
            return await reader.read()  # returns only at EOF: the server closed
    finally:
        writer.close()
        await writer.wait_closed()


async def test_a_request_head_that_never_ends_is_closed() -> None:
    async with LocalRetab(header_timeout=0.2) as server:
        assert await _closed_by_server(server, HALF_HEAD) == b""


async def test_a_silent_connection_is_closed() -> None:
    async with LocalRetab(header_timeout=0.2) as server:
        assert await _closed_by_server(server, b"") == b""


async def test_a_body_that_never_ends_is_closed() -> None:
    async with LocalRetab(body_timeout=0.2, record_bodies=True) as server:
        head = request(
            b"POST",
            b"/v1/classifications",
            [(b"Authorization", b"Bearer " + server.api_key.encode())],
        ).replace(b"Content-Length: 0", b"Content-Length: 1000")
        assert await _closed_by_server(server, head + b'{"document": ') == b""
        (logged,) = server.requests
        assert logged.operation == "create" and logged.status is None
        assert server.runs == []


@pytest.mark.parametrize("timeout", ["header_timeout", "body_timeout"])
async def test_a_whole_request_is_answered_within_tiny_timeouts(timeout: str) -> None:
    async with LocalRetab(**{timeout: 0.2}) as server:
        sent = request(
            b"POST",
            b"/v1/classifications",
            [(b"Api-Key", server.api_key.encode()), (b"Content-Type", b"application/json")],
            b"{}",
        )
        answer = await _closed_by_server(server, sent)
        assert status_of(answer) == 422
