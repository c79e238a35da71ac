"""The HTTP edge against real sockets: decoded-size limits on compressed bodies."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import anyio
import pytest
from aiohttp import web

from retab_async import DecodeError, RetabClient, RetryPolicy

from ._http import serve

RECORD = b'{"id": "clss_1", "status": "in_progress"}'
LIMIT = 2**20


def _bomb(inflated: int) -> bytes:
    """A gzip body of zeros that inflates to ``inflated`` bytes (about 1000:1)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(2**20)
    parts = [packer.compress(block) for _ in range(inflated // len(block))]
    return b"".join(parts) + packer.flush()


def _client(base_url: str) -> RetabClient:
    return RetabClient("k", base_url, retry=RetryPolicy.never(), max_response_bytes=LIMIT)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_gzip_bomb_is_stopped_at_the_decoded_limit(chunked: bool) -> None:
    bomb = _bomb(64 * 2**20)
    assert len(bomb) < LIMIT // 8  # small on the wire: only the inflated size is over

    async def handler(request: web.Request) -> web.StreamResponse:
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        if not chunked:
            return web.Response(body=bomb, headers=headers)
        resp = web.StreamResponse(headers=headers)
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for start in range(0, len(bomb), 8192):
            await resp.write(bomb[start : start + 8192])
        await resp.write_eof()
        return resp

    async with serve(handler) as url, _client(url) as client:
        tracemalloc.start()
        try:
            with anyio.fail_after(30), pytest.raises(DecodeError, match="exceeds") as info:
                await client.classifications.get("clss_1")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert f"{LIMIT}-byte limit" in str(info.value)
    # Inflating it all would take 64 MiB; reading stops just past the 1 MiB limit.
    assert peak < 8 * LIMIT, f"peak {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", gzip.compress(RECORD)),
        ("gzip", gzip.compress(RECORD[:20]) + gzip.compress(RECORD[20:])),  # two members
        ("deflate", zlib.compress(RECORD)),
        ("deflate", zlib.compress(RECORD)[2:-4]),  # raw deflate, no zlib header
        ("identity", RECORD),
    ],
    ids=["gzip", "gzip-members", "deflate", "raw-deflate", "identity"],
)
async def test_compressed_bodies_are_decoded(encoding: str, body: bytes) -> None:
    async def handler(request: web.Request) -> web.Response:
        assert request.headers["Accept-Encoding"] == "gzip, deflate"
        return web.Response(body=body, headers={"Content-Encoding": encoding})

    async with serve(handler) as url, _client(url) as client:
        record = await client.classifications.get("clss_1")
    assert (record.id, record.status) == ("clss_1", "in_progress")


@pytest.mark.parametrize(
    ("encoding", "body", "words", "malformed"),
    [
        ("gzip", gzip.compress(RECORD)[:-12], "cut short", True),
        ("gzip", b"not gzip at all", "not valid gzip", True),
        ("br", RECORD, "unsupported Content-Encoding 'br'", False),
    ],
    ids=["truncated", "garbage", "unasked-encoding"],
)
async def test_bad_compressed_bodies_are_decode_errors(
    encoding: str, body: bytes, words: str, malformed: bool
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Encoding": encoding})

    async with serve(handler) as url, _client(url) as client:
        with pytest.raises(DecodeError, match=words) as info:
            await client.classifications.get("clss_1")
    assert info.value.malformed is malformed
