"""RetabClient: configuration, lifecycle, headers, and keeping the key secret."""

from __future__ import annotations

import asyncio
import gc

import anyio
import pytest

from retab_async import (
    ClientStateError,
    ConnectError,
    RetabClient,
    RetryPolicy,
    TokenError,
    UsageError,
    __version__,
)
from retab_async._resources.base import BackgroundResource
from retab_async._runs.primitive import PRIMITIVES
from retab_async.testing import LocalRetab

from .conftest import CATEGORIES, INVOICE, make_client


def test_key_and_base_url_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETAB_API_KEY", "sk_env")
    monkeypatch.setenv("RETAB_API_BASE_URL", "https://eu.retab.test/")
    client = RetabClient()
    assert client.base_url == "https://eu.retab.test"


def test_default_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RETAB_API_BASE_URL", raising=False)
    assert RetabClient("sk").base_url == "https://api.retab.com"


@pytest.mark.parametrize("key", [None, "", "   "])
def test_missing_or_empty_key_is_an_error(monkeypatch: pytest.MonkeyPatch, key: str | None) -> None:
    monkeypatch.delenv("RETAB_API_KEY", raising=False)
    with pytest.raises(UsageError, match="RETAB_API_KEY"):
        RetabClient(key)


def test_key_with_a_newline_is_refused_without_echoing_it() -> None:
    with pytest.raises(UsageError) as info:
        RetabClient("sk_secret\nX-Evil: 1")
    assert "sk_secret" not in str(info.value)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://api.retab.com/v1", "https://api.retab.com"),
        ("https://api.retab.com/v1/", "https://api.retab.com"),
        ("https://proxy.test/retab/v2", "https://proxy.test/retab"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:9", "http://localhost:9"),
        ("http://[::1]:9", "http://[::1]:9"),
    ],
)
def test_base_url_normalisation(given: str, expected: str) -> None:
    assert RetabClient("sk", given).base_url == expected


@pytest.mark.parametrize(
    "url",
    ["ftp://x.test", "api.retab.com", "https://", "https://u:p@x.test", "https://x.test/?a=1"],
)
def test_bad_base_urls(url: str) -> None:
    with pytest.raises(UsageError):
        RetabClient("sk", url)


def test_plain_http_to_a_remote_host_needs_an_explicit_opt_in() -> None:
    with pytest.raises(UsageError, match="plain http"):
        RetabClient("sk", "http://api.retab.test")
    assert RetabClient("sk", "http://api.retab.test", allow_insecure_http=True).base_url


def test_repr_shows_no_key() -> None:
    client = RetabClient("sk_very_secret", "https://x.test")
    assert "sk_very_secret" not in repr(client)
    assert "sk_very_secret" not in repr(client._transport)
    assert repr(client) == "<RetabClient https://x.test unopened>"


async def test_lifecycle_states(server: LocalRetab) -> None:
    client = make_client(server)
    assert client.state == "unopened"
    async with client:
        assert client.state == "open"
        with pytest.raises(ClientStateError, match="cannot open"):
            await client.open()
    assert client.state == "closed"
    with pytest.raises(ClientStateError, match="closed"):
        await client.classifications.get("clss_1")
    with pytest.raises(ClientStateError):
        await client.open()
    await client.aclose()  # idempotent
    assert server.requests == []


# -- opening lazily, without ``async with`` ------------------------------------------

SCHEMA = {"type": "object", "properties": {"number": {"type": "integer"}}}


async def _get(client: RetabClient, run_id: str) -> object:
    return await client.classifications.get(run_id)


async def _wait(client: RetabClient, run_id: str) -> object:
    return await client.classifications.handle(run_id).wait(timeout=5)


async def _list(client: RetabClient, run_id: str) -> object:
    return [c.id async for c in client.classifications.list(limit=1)]


async def _create(client: RetabClient, run_id: str) -> object:
    return await client.classifications.create(INVOICE, CATEGORIES)


async def _start(client: RetabClient, run_id: str) -> object:
    return await (await client.classifications.start(INVOICE, CATEGORIES)).wait(timeout=5)


async def _stream(client: RetabClient, run_id: str) -> object:
    async with client.extractions.stream(INVOICE, SCHEMA) as events:
        return [event async for event in events]


FIRST_USES = {
    "get": _get,
    "wait": _wait,
    "list": _list,
    "create": _create,
    "start": _start,
    "stream": _stream,
}


@pytest.mark.parametrize("use", sorted(FIRST_USES))
async def test_the_first_use_opens_the_client_lazily(server: LocalRetab, use: str) -> None:
    async with make_client(server) as setup:
        run_id = (await setup.classifications.create(INVOICE, CATEGORIES)).id
    client = make_client(server)
    try:
        await FIRST_USES[use](client, run_id)
        assert client.state == "open"
        session = client._transport._session
        await client.classifications.get(run_id)
        assert client._transport._session is session  # opened once, reused
    finally:
        await client.aclose()
    assert client.state == "closed" and client._transport._session is None
    with pytest.raises(ClientStateError, match="closed"):
        await FIRST_USES[use](client, run_id)  # a closed client stays closed
    with pytest.raises(ClientStateError, match="cannot open"):
        await client.open()


async def test_concurrent_first_requests_open_one_session(server: LocalRetab) -> None:
    client = make_client(server)
    opened: list[object] = []
    transport_open = client._transport.open

    async def counting_open() -> None:
        await transport_open()
        opened.append(client._transport._session)

    client._transport.open = counting_open  # type: ignore[method-assign]
    try:
        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(client.classifications.list_page)
    finally:
        await client.aclose()
    assert len(opened) == 1
    assert len(server.by_operation("list")) == 10


async def test_a_client_never_closed_warns_when_collected(server: LocalRetab) -> None:
    client = make_client(server)
    await client.classifications.list_page()
    transport = client._transport  # held here, so that only the client is collected below
    held = [client]
    del client

    def drop() -> None:
        held.clear()
        gc.collect()

    with pytest.warns(ResourceWarning, match=r"unclosed <RetabClient http://\S+ open>"):
        drop()
    await transport.close()


async def test_closed_or_never_opened_clients_do_not_warn(server: LocalRetab) -> None:
    never = make_client(server)
    closed = make_client(server)
    await closed.classifications.list_page()
    await closed.aclose()
    del never, closed
    gc.collect()  # a warning would be an error here


async def test_closing_a_client_never_opened_closes_it_for_good(server: LocalRetab) -> None:
    client = make_client(server)
    await client.aclose()
    assert client.state == "closed"
    with pytest.raises(ClientStateError, match="closed"):
        await client.classifications.list_page()
    assert server.requests == []


async def test_headers_sent(server: LocalRetab) -> None:
    async with make_client(server) as client:
        await client.classifications.create(INVOICE, CATEGORIES)
        await client.classifications.list_page()
    create, listing = server.requests
    assert create.headers["authorization"] == f"Bearer {server.api_key}"
    assert create.headers["user-agent"].startswith(f"retab-async/{__version__}")
    assert create.headers["content-type"] == "application/json"
    assert create.headers["idempotency-key"].startswith("rtab-")
    assert "content-type" not in listing.headers  # no body, no content type
    assert listing.headers["accept"] == "application/json"


async def test_one_session_reuses_connections(server: LocalRetab) -> None:
    async with make_client(server) as client:
        for _ in range(5):
            await client.classifications.list_page()
        connector = client._transport._session.connector  # type: ignore[union-attr]
        assert connector is not None
        assert sum(len(v) for v in connector._conns.values()) == 1  # one idle keep-alive connection


async def test_exit_on_exception_closes_the_session(server: LocalRetab) -> None:
    client = make_client(server)
    with pytest.raises(RuntimeError):
        async with client:
            raise RuntimeError("boom")
    assert client.state == "closed"
    assert client._transport._session is None


async def test_cancelled_task_closes_the_session(server: LocalRetab) -> None:
    client = make_client(server)
    with anyio.move_on_after(0.05):
        async with client:
            await anyio.sleep(10)
    assert client.state == "closed"
    gc.collect()  # an unclosed session would warn here, and warnings are errors


async def test_client_opened_in_one_task_and_closed_in_another(server: LocalRetab) -> None:
    client = make_client(server)
    await asyncio.create_task(client.open())
    await client.classifications.list_page()
    await asyncio.create_task(client.aclose())
    assert client.state == "closed"


async def test_per_request_timeout_is_separate_from_waiting(server: LocalRetab) -> None:
    async with make_client(server, timeout=0.5) as client:
        handle = await client.classifications.start(INVOICE, CATEGORIES)
        record = await handle.wait(timeout=5)
    assert record.status == "completed"


def test_bad_construction_arguments() -> None:
    with pytest.raises(UsageError):
        RetabClient("sk", timeout=0)
    with pytest.raises(UsageError):
        RetabClient("sk", max_connections=0)


def test_a_client_used_from_another_event_loop_says_so() -> None:
    client = RetabClient("sk", "http://127.0.0.1:9", retry=RetryPolicy.never())
    home = asyncio.new_event_loop()
    try:
        home.run_until_complete(client.open())
        uses = [
            lambda: client.classifications.get("clss_1"),
            lambda: client.classifications.create(INVOICE, CATEGORIES),
            lambda: client.classifications.handle("clss_1").wait(timeout=1),
            client.aclose,
        ]
        for use in uses:
            with pytest.raises(ClientStateError, match="opened in another event loop"):
                asyncio.run(use())
        assert client.state == "open"
        home.run_until_complete(client.aclose())  # its own loop can still close it
        assert client.state == "closed"
    finally:
        home.close()


def test_a_client_opened_lazily_belongs_to_that_event_loop() -> None:
    client = RetabClient("sk", "http://127.0.0.1:9", retry=RetryPolicy.never())
    home = asyncio.new_event_loop()
    try:
        with pytest.raises(ConnectError):  # nothing listens there, but the client opened
            home.run_until_complete(client.classifications.get("clss_1"))
        assert client.state == "open"
        with pytest.raises(ClientStateError, match="opened in another event loop"):
            asyncio.run(client.classifications.list_page())
        home.run_until_complete(client.aclose())
        assert client.state == "closed"
    finally:
        home.close()


@pytest.mark.parametrize("where", ["body", "checksum", "prefix"])
def test_a_token_with_non_ascii_characters_is_a_token_error(where: str) -> None:
    client = RetabClient("sk", "https://x.test")
    token = client.classifications.handle("clss_1").token
    prefix, body, checksum = token.split(".")
    parts = {
        "body": [prefix, body[:3] + "\u00e9" + body[4:], checksum],
        "checksum": [prefix, body, checksum[:-1] + "\u2460"],
        "prefix": ["rtab\u0661", body, checksum],
    }[where]
    with pytest.raises(TokenError):
        client.resume(".".join(parts))


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_each_primitive_is_the_client_property_of_its_name(name: str) -> None:
    # The CLI's --primitive and run tokens find a primitive's resource by this name.
    client = RetabClient(api_key="k")
    resource = getattr(client, name)
    assert isinstance(resource, BackgroundResource) and resource.primitive is PRIMITIVES[name]
