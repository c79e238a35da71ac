"""``RetabClient``: configuration, lifecycle, and the request pipeline.

A request goes: build (resource) -> retry policy -> one attempt (send, check
status, decode). The client owns one aiohttp session and one poller.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ._clock import SYSTEM_CLOCK, Clock
from ._errors import ClientStateError, ProtocolError, UsageError
from ._poller import Poller
from ._polling import PollPolicy
from ._retry import RetryPolicy
from ._transport import Response, Transport, error_for_status, normalize_base_url

if TYPE_CHECKING:
    from ._classifications import Classifications
    from ._runs import RunHandle

__all__ = ["DEFAULT_BASE_URL", "RetabClient", "no_body"]

_T = TypeVar("_T")
DEFAULT_BASE_URL = "https://api.retab.com"
_State = Literal["unopened", "open", "closed"]


class RetabClient:
    """An async client for the Retab API.

    Use it as an async context manager::

        async with RetabClient() as client:
            result = await client.classifications.create("invoice.pdf", ["invoice", "receipt"])

    Args:
        api_key: the API key; defaults to ``$RETAB_API_KEY``.
        base_url: the API's base URL; defaults to ``$RETAB_API_BASE_URL``, then
            ``https://api.retab.com``. A trailing ``/v1`` is dropped.
        timeout: seconds for one HTTP request (not for waiting on a run).
        sync_timeout: seconds for a synchronous create, which answers only when the run ends.
        retry: how failed requests are retried.
        poll: how background runs are polled.
        max_connections: the size of the connection pool.
        verify_ssl: verify TLS certificates (on by default).
        allow_insecure_http: allow sending the key over plain ``http://`` to a host
            that is not loopback.
        user_agent: replaces the default ``User-Agent``.
        max_response_bytes: a larger response body (counted after decompression) is
            refused with :class:`DecodeError`.
        clock: what the run machinery reads time from (poll spacing, wait deadlines,
            batch timeouts, the clean-up cancel's grace); the system clock by default.
            Tests pass a :class:`retab_async.testing.ManualClock` to decide time
            themselves. Per-request HTTP timeouts always run on real time.

    A ``429`` or ``503`` with ``Retry-After`` pauses every request of the client (up to
    ``retry.max_retry_after`` seconds). The pause counts against each request's
    ``timeout`` and the retry policy's budget: a request that cannot be sent before
    its deadline fails at once with :class:`PauseTimeout`. Cancels are not held back
    by the pause, so a clean-up cancel still reaches the server.

    A client belongs to the event loop that opened it; using it from another loop
    raises :class:`ClientStateError`.

    Raises:
        UsageError: no API key, or a base URL that is not acceptable.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 60.0,
        sync_timeout: float = 1800.0,
        retry: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
        max_connections: int = 100,
        verify_ssl: bool = True,
        allow_insecure_http: bool = False,
        user_agent: str | None = None,
        max_response_bytes: int = 64 * 1024 * 1024,
        clock: Clock | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("RETAB_API_KEY", "")
        if not key or not key.strip():
            raise UsageError("no API key: pass api_key= or set RETAB_API_KEY")
        if any(ch in key for ch in "\r\n\0") or key != key.strip():
            raise UsageError("the API key contains whitespace or control characters")
        url = base_url or os.environ.get("RETAB_API_BASE_URL") or DEFAULT_BASE_URL
        if timeout <= 0 or sync_timeout <= 0:
            raise UsageError("timeouts must be positive")
        if max_response_bytes < 1024:
            raise UsageError("max_response_bytes must be at least 1024")
        if max_connections < 1:
            raise UsageError("max_connections must be at least 1")
        self.base_url = normalize_base_url(url, allow_insecure_http=allow_insecure_http)
        self.timeout = timeout
        self.sync_timeout = sync_timeout
        self.retry = retry or RetryPolicy()
        self._transport = Transport(
            base_url=self.base_url,
            api_key=key,
            timeout=timeout,
            max_connections=max_connections,
            verify_ssl=verify_ssl,
            user_agent=user_agent,
            max_pause=self.retry.max_retry_after,
            max_response_bytes=max_response_bytes,
        )
        self.clock: Clock = clock or SYSTEM_CLOCK
        self.poller = Poller(self, poll or PollPolicy(), self.clock)
        self._state: _State = "unopened"
        self._in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._classifications: Classifications | None = None

    def __repr__(self) -> str:
        return f"<RetabClient {self.base_url} {self._state}>"

    @property
    def state(self) -> _State:
        """``"unopened"``, ``"open"`` or ``"closed"``."""
        return self._state

    @property
    def classifications(self) -> Classifications:
        """Classify documents: create, get, list, cancel, delete, and background runs."""
        if self._classifications is None:
            from ._classifications import Classifications

            self._classifications = Classifications(self)
        return self._classifications

    # -- lifecycle --------------------------------------------------------------

    async def open(self) -> RetabClient:
        """Open the HTTP session. ``async with`` does this for you.

        Raises :class:`ClientStateError` if the client is open or closed already.
        """
        if self._state != "unopened":
            raise ClientStateError(f"cannot open a client that is {self._state}; make a new one")
        self._loop = asyncio.get_running_loop()
        await self._transport.open()
        self._state = "open"
        return self

    async def aclose(self) -> None:
        """Stop polling and close the HTTP session. Safe to call more than once.

        Raises :class:`ClientStateError` when called from another event loop than
        the one that opened the client (which alone can close its connections).
        """
        if self._state == "closed":
            return
        if self._state == "open":
            self._check_loop()
        self._state = "closed"
        try:
            await self.poller.aclose()
        finally:
            await self._transport.close()

    async def __aenter__(self) -> RetabClient:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _require_open(self) -> Transport:
        if self._state == "open":
            if self._loop is not asyncio.get_running_loop():
                self._check_loop()
            return self._transport
        if self._state == "unopened":
            raise ClientStateError(
                "the client is not open: use 'async with RetabClient() as client' "
                "or 'await client.open()' first"
            )
        raise ClientStateError("the client is closed; make a new RetabClient")

    def _check_loop(self) -> None:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not self._loop:
            raise ClientStateError(
                "this client was opened in another event loop (a second asyncio.run(), "
                "another thread?) and its connections belong to that loop: open one "
                "client per event loop"
            )

    def resume(self, token: str) -> RunHandle[Any]:
        """A handle on the run that ``token`` (from :attr:`RunHandle.token`) describes.

        Raises :class:`TokenError` when the token is malformed, altered, names an
        unknown primitive, or was made for another base URL.
        """
        from ._runs import RunHandle
        from ._tokens import decode_token

        primitive, run_id, key = decode_token(token, base_url=self.base_url)
        return RunHandle(self, primitive, run_id, idempotency_key=key)

    # -- the request pipeline ---------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        decode: Callable[[Response], _T],
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        expect_id: str | None = None,
        bypass_pause: bool = False,
    ) -> _T:
        """Send a request under the retry policy and decode the answer.

        Each attempt gets ``timeout`` seconds (default: the client's), cut to what is
        left of the retry policy's total budget. With ``expect_id`` the decoded record
        must carry that id. ``bypass_pause`` sends it even while the client is paused
        by a ``Retry-After`` (for cancels).

        Raises :class:`ClientStateError`, :class:`TransportError` subclasses,
        :class:`APIStatusError` subclasses, :class:`DecodeError`, or
        :class:`ProtocolError` (a redirect, or a record of another id).
        """
        transport = self._require_open()
        per_attempt = self.timeout if timeout is None else timeout

        async def attempt(number: int, budget: float | None) -> _T:
            seconds = per_attempt if budget is None or budget >= per_attempt else budget
            response = await transport.send(
                method,
                path,
                params=params,
                body=body,
                headers=headers,
                timeout=seconds,
                bypass_pause=bypass_pause,
            )
            if not 200 <= response.status < 300:
                raise error_for_status(response, attempt=number)
            result = decode(response)
            if expect_id is not None and getattr(result, "id", None) != expect_id:
                raise _mismatch(result, expect_id, response)
            return result

        self._in_flight += 1
        try:
            return await (retry or self.retry).call(attempt)
        finally:
            self._in_flight -= 1

    @property
    def requests_in_flight(self) -> int:
        """Requests sent (or being retried) and not answered yet. A test that drives a
        ``ManualClock`` moves time only when this is 0 and ``poller.idle``."""
        return self._in_flight

    def pause(self, seconds: float) -> None:
        """Hold every request of this client for ``seconds`` (what a 429 does)."""
        self._transport.pause(seconds)


def _mismatch(record: object, expected: str, response: Response) -> ProtocolError:
    return ProtocolError(
        f"{response.method} {response.url}: asked for {expected!r} but the server "
        f"answered with the record of {getattr(record, 'id', None)!r}",
        method=response.method,
        url=response.url,
        status=response.status,
        request_id=response.request_id,
    )


def no_body(_: Response) -> None:
    """A decoder for responses whose body we do not need (``204``)."""
    return
