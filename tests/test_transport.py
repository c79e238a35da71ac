"""The HTTP edge against real sockets: size limits on plain and compressed bodies,
connections given back after early exits, timeouts, request ids on errors."""

from __future__ import annotations

import asyncio
import gzip
import threading
import tracemalloc
import zlib
from collections.abc import Callable

import anyio
import pytest
from aiohttp import web

from retab_async import (
    ClientStateError,
    DecodeError,
    NotFoundError,
    ProtocolError,
    RequestTimeout,
    RetabClient,
    RetryPolicy,
    ServerError,
)

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


def _padded(size: int) -> bytes:
    """A record of exactly ``size`` bytes (an unknown field pads it)."""
    head = b'{"id": "clss_1", "status": "in_progress", "pad": "'
    return head + b"x" * (size - len(head) - 2) + b'"}'


async def _answer(request: web.Request, body: bytes, *, chunked: bool) -> web.StreamResponse:
    headers = {"Content-Type": "application/json"}
    if not chunked:
        return web.Response(body=body, headers=headers)
    resp = web.StreamResponse(headers=headers)
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    for start in range(0, len(body), 65536):
        await resp.write(body[start : start + 65536])
    await resp.write_eof()
    return resp


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(
    ("size", "refused"),
    [(100, False), (LIMIT - 1, False), (LIMIT, False), (LIMIT + 1, True), (10 * LIMIT, True)],
)
async def test_a_plain_body_is_refused_exactly_above_the_limit(
    chunked: bool, size: int, refused: bool
) -> None:
    body = _padded(size)
    assert len(body) == size

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("clss_2"):
            return web.json_response({"id": "clss_2", "status": "queued"})
        return await _answer(request, body, chunked=chunked)

    # One connection: the request after a refusal goes through only if the refused
    # answer gave its connection back.
    async with serve(handler) as url:
        client = RetabClient(
            "k", url, retry=RetryPolicy.never(), max_response_bytes=LIMIT, max_connections=1
        )
        async with client:
            with anyio.fail_after(30):
                if refused:
                    with pytest.raises(DecodeError, match=f"{LIMIT}-byte limit"):
                        await client.classifications.get("clss_1")
                else:
                    record = await client.classifications.get("clss_1")
                    assert (record.id, record.status) == ("clss_1", "in_progress")
                assert (await client.classifications.get("clss_2")).status == "queued"


async def test_connections_come_back_after_redirects_and_errors() -> None:
    answers = {
        "clss_redirect": web.Response(status=302, headers={"Location": "http://x.test/"}),
        "clss_missing": web.json_response({"detail": "no such run"}, status=404),
        "clss_other": web.json_response({"id": "clss_B", "status": "queued"}),
        "clss_broken": web.Response(body=b"not json", content_type="application/json"),
    }

    async def handler(request: web.Request) -> web.StreamResponse:
        name = request.path.rsplit("/", 1)[-1]
        return answers.get(name) or web.json_response({"id": name, "status": "queued"})

    async with serve(handler) as url:
        client = RetabClient("k", url, retry=RetryPolicy.never(), max_connections=1)
        async with client:
            with anyio.fail_after(30):
                for name, error in [
                    ("clss_redirect", ProtocolError),
                    ("clss_missing", NotFoundError),
                    ("clss_other", ProtocolError),
                    ("clss_broken", DecodeError),
                ]:
                    with pytest.raises(error):
                        await client.classifications.get(name)
                    assert (await client.classifications.get("clss_ok")).id == "clss_ok"


@pytest.mark.parametrize(
    "case", ["not found", "server error", "redirect", "another record", "not JSON"]
)
async def test_errors_keep_the_request_id(case: str) -> None:
    headers = {"x-request-id": "req_42"}
    answer: Callable[[], web.Response] = {
        "not found": lambda: web.json_response({"detail": "no"}, status=404, headers=headers),
        "server error": lambda: web.json_response({"detail": "oops"}, status=500, headers=headers),
        "redirect": lambda: web.Response(
            status=307, headers={**headers, "Location": "https://x.test/"}
        ),
        "another record": lambda: web.json_response({"id": "clss_B"}, headers=headers),
        "not JSON": lambda: web.Response(
            body=b"<html>", content_type="application/json", headers=headers
        ),
    }[case]
    error = {
        "not found": NotFoundError,
        "server error": ServerError,
        "redirect": ProtocolError,
        "another record": ProtocolError,
        "not JSON": DecodeError,
    }[case]

    async def handler(request: web.Request) -> web.StreamResponse:
        return answer()

    async with serve(handler) as url, RetabClient("k", url, retry=RetryPolicy.never()) as client:
        with pytest.raises(error) as info:
            await client.classifications.get("clss_A")
    assert info.value.request_id == "req_42"  # type: ignore[attr-defined]


@pytest.mark.parametrize("which", ["client timeout", "retry budget"])
async def test_a_stalled_answer_times_out(which: str) -> None:
    """The client's timeout (the session's default) and a shorter retry budget (passed
    with the request) both bound a request."""
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.json_response({"id": "clss_1", "status": "queued"})

    if which == "client timeout":
        options: dict[str, object] = {"timeout": 0.2, "retry": RetryPolicy.never()}
    else:
        options = {"timeout": 60.0, "retry": RetryPolicy(attempts=1, timeout=0.2)}
    async with serve(handler) as url:
        async with RetabClient("k", url, **options) as client:  # type: ignore[arg-type]
            with anyio.fail_after(10), pytest.raises(RequestTimeout):
                await client.classifications.get("clss_1")
        release.set()


def test_a_client_used_from_a_thread_running_another_loop_says_so() -> None:
    """While the client's own loop runs, a call from another thread's loop is refused."""

    async def home() -> None:
        client = RetabClient("k", "http://127.0.0.1:9", retry=RetryPolicy.never())
        async with client:
            errors: list[BaseException] = []

            def elsewhere() -> None:
                try:
                    asyncio.run(client.classifications.get("clss_1"))
                except BaseException as exc:
                    errors.append(exc)

            thread = threading.Thread(target=elsewhere)
            thread.start()
            await asyncio.to_thread(thread.join)
            assert len(errors) == 1 and isinstance(errors[0], ClientStateError), errors
            assert "another event loop" in str(errors[0])

    asyncio.run(home())
