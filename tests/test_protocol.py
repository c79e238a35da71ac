"""Answers the API never gives are refused: a record of another run, a redirect."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable

import anyio
import pytest
import trustme
from aiohttp import web

from retab_async import ProtocolError, RetabClient, RetryPolicy

from ._http import serve
from .conftest import FAST_POLL

OTHER = b'{"id": "clss_B", "status": "completed", "output": {"category": "receipt"}}'

Call = Callable[[RetabClient], Awaitable[object]]
CALLS: dict[str, Call] = {
    "get": lambda c: c.classifications.get("clss_A"),
    "refresh": lambda c: c.classifications.handle("clss_A").refresh(),
    "wait": lambda c: c.classifications.handle("clss_A").wait(timeout=5),
    "cancel": lambda c: c.classifications.cancel("clss_A"),
    "handle.cancel": lambda c: c.classifications.handle("clss_A").cancel(),
}


def _client(base_url: str) -> RetabClient:
    return RetabClient("k", base_url, retry=RetryPolicy.for_tests(), poll=FAST_POLL)


@pytest.mark.parametrize("call", list(CALLS))
async def test_a_record_of_another_run_is_a_protocol_error(call: str) -> None:
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.path}")
        return web.json_response(body=OTHER, headers={"x-request-id": "req_1"})

    async with serve(handler) as url, _client(url) as client:
        with anyio.fail_after(10), pytest.raises(ProtocolError) as info:
            await CALLS[call](client)
    error = info.value
    assert "'clss_A'" in str(error) and "'clss_B'" in str(error)
    assert (error.status, error.request_id, error.location) == (200, "req_1", None)
    assert all("/clss_A" in line for line in seen)
    assert len(seen) == 1  # not retried: asking again would not make it right


async def test_the_matching_record_is_accepted() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(body=OTHER)

    async with serve(handler) as url, _client(url) as client:
        record = await client.classifications.handle("clss_B").wait(timeout=5)
    assert record.id == "clss_B"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("where", ["another origin", "same origin"])
async def test_a_redirect_is_never_followed(status: int, where: str) -> None:
    elsewhere: list[str] = []

    async def other(request: web.Request) -> web.Response:
        elsewhere.append(request.path)
        return web.json_response(body=OTHER)

    async with serve(other) as other_url:
        target = other_url if where == "another origin" else ""
        location = f"{target}/v1/classifications/clss_B"
        seen: list[str] = []

        async def handler(request: web.Request) -> web.Response:
            seen.append(request.path)
            if request.path.endswith("clss_B"):
                return web.json_response(body=OTHER)
            return web.Response(status=status, headers={"Location": location})

        async with serve(handler) as url, _client(url) as client:
            with pytest.raises(ProtocolError, match="redirected") as info:
                await client.classifications.get("clss_A")
    assert info.value.location == location and info.value.status == status
    assert location in str(info.value)
    assert seen == ["/v1/classifications/clss_A"] and elsewhere == []


async def test_an_https_client_refuses_a_redirect_down_to_plain_http() -> None:
    authority = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(tls)
    plain: list[str] = []

    async def downgraded(request: web.Request) -> web.Response:
        plain.append(request.path)
        return web.json_response(body=OTHER.replace(b"clss_B", b"clss_A"))

    async with serve(downgraded) as http_url:

        async def secure(request: web.Request) -> web.Response:
            if request.path.endswith("clss_ok"):
                return web.json_response(body=OTHER.replace(b"clss_B", b"clss_ok"))
            return web.Response(status=301, headers={"Location": http_url + request.path_qs})

        async with serve(secure, tls=tls) as https_url:
            assert https_url.startswith("https://")
            # The local authority is not in the system store; TLS itself still runs.
            client = RetabClient("k", https_url, verify_ssl=False, retry=RetryPolicy.never())
            async with client:
                assert (await client.classifications.get("clss_ok")).id == "clss_ok"
                with pytest.raises(ProtocolError, match="redirected") as info:
                    await client.classifications.get("clss_A")
    assert info.value.location is not None and info.value.location.startswith("http://")
    assert plain == []  # the key never went over plain http
