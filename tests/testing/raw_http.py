"""Raw HTTP/1.1 over asyncio streams: bytes that aiohttp's client would refuse to send."""

from __future__ import annotations

import asyncio

import anyio

from retab_async.testing import LocalRetab


async def connect(server: LocalRetab) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(server.host, server.port)


async def exchange(server: LocalRetab, raw: bytes) -> bytes:
    """Send ``raw`` on a new connection and read until the server closes it."""
    reader, writer = await connect(server)
    try:
        writer.write(raw)
        await writer.drain()
        with anyio.fail_after(10):
            return await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()


def status_of(response: bytes) -> int:
    """The status code of a raw response (``HTTP/1.1 401 Unauthorized``...)."""
    line = response.split(b"\r\n", 1)[0]
    assert line.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")), response[:200]
    return int(line.split()[1])


def request(
    method: bytes,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes = b"",
) -> bytes:
    """A complete request that asks the server to close the connection after answering."""
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    lines += [name + b": " + value for name, value in headers]
    if body or method in (b"POST", b"PUT"):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
