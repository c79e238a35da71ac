"""The request pipeline: transport, retry policy and the client-wide pause, in one object.

Every layer above the HTTP edge (the poller, run handles, resources, batches)
sends its requests through a :class:`Pipeline`; none of them knows the client
facade. A request goes: retry policy -> one attempt (send, check the status,
decode, check the id).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from threading import get_ident
from typing import Literal, TypeVar

from .._clock import SYSTEM_CLOCK, Clock
from .._errors import ClientStateError, ProtocolError, RetabError
from .retry import RetryPolicy
from .transport import Params, Response, Transport, error_for_status

__all__ = ["Pipeline", "State", "no_body"]

_T = TypeVar("_T")
State = Literal["unopened", "open", "closed"]


class Pipeline:
    """Sends the requests of one client, and knows whether it may.

    Args:
        transport: the HTTP edge (one aiohttp session).
        retry: the default retry policy.
        timeout: the default seconds for one attempt.
        sync_timeout: seconds a synchronous create may take.
        clock: what the run machinery above reads time from.
    """

    def __init__(
        self,
        transport: Transport,
        retry: RetryPolicy,
        *,
        timeout: float,
        sync_timeout: float,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.transport = transport
        self.retry = retry
        self.timeout = timeout
        self.sync_timeout = sync_timeout
        self.clock = clock
        self.state: State = "unopened"
        self.in_flight = 0
        """Requests sent (or being retried) and not answered yet."""
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def base_url(self) -> str:
        """The API's base URL, without ``/v1``."""
        return self.transport.base_url

    def __repr__(self) -> str:
        return f"<Pipeline {self.base_url} {self.state}>"

    # -- lifecycle --------------------------------------------------------------

    async def open(self) -> None:
        """Open the HTTP session in the running loop, which the pipeline then belongs to.

        Raises :class:`ClientStateError` unless it is unopened.
        """
        if self.state != "unopened":
            raise ClientStateError(f"cannot open a client that is {self.state}; make a new one")
        self._loop = asyncio.get_running_loop()
        await self.transport.open()
        self.state = "open"

    def closing(self) -> None:
        """Refuse new requests from now on.

        Raises :class:`ClientStateError` when called from another event loop than
        the one that opened it (which alone can close its connections).
        """
        if self.state == "open":
            self._check_loop()
        self.state = "closed"

    async def close(self) -> None:
        """Close the HTTP session; later requests raise :class:`ClientStateError`."""
        self.state = "closed"
        await self.transport.close()

    async def ensure_open(self) -> Transport:
        """The transport, opening the pipeline first if it never was (in the running loop,
        which it then belongs to): what lets a client be used without ``async with``.

        Raises :class:`ClientStateError` for a closed pipeline, or one opened in another
        event loop.
        """
        if self.state == "unopened":
            # Transport.open() never suspends, so tasks that all start with their first
            # request cannot interleave here and open two sessions.
            await self.open()
        return self.require_open()

    def require_open(self) -> Transport:
        """The transport, or :class:`ClientStateError` naming why requests cannot be sent
        (not opened yet, closed, or opened in another event loop)."""
        if self.state == "open":
            if self._loop is not asyncio.get_running_loop():
                self._check_loop()
            return self.transport
        if self.state == "unopened":
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

    # -- requests ---------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        decode: Callable[[Response], _T],
        *,
        params: Params | None = None,
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

        The first request of a pipeline never opened opens it (:meth:`ensure_open`).

        Raises :class:`ClientStateError`, :class:`TransportError` subclasses,
        :class:`APIStatusError` subclasses, :class:`DecodeError`, or
        :class:`ProtocolError` (a redirect, or a record of another id).
        """
        # The open pipeline's path has no extra await. Its loop check reads which thread
        # runs our loop (asyncio's own record): a loop running in this thread is the
        # running loop, and asyncio.get_running_loop() costs a getpid() system call.
        # Other loops (uvloop) take the full check.
        if self.state != "open" or getattr(self._loop, "_thread_id", None) != get_ident():
            transport = await self.ensure_open()
        else:
            transport = self.transport
        per_attempt = self.timeout if timeout is None else timeout
        policy = retry or self.retry
        budget = policy.timeout
        # The first attempt is made here, without a closure or the retry policy's frames:
        # they are entered only when it fails.
        started = time.monotonic()
        self.in_flight += 1
        try:
            try:
                # Positional: matching keywords costs more than the call does.
                response = await transport.send(
                    method,
                    path,
                    params,
                    body,
                    headers,
                    per_attempt if budget is None or budget >= per_attempt else budget,
                    bypass_pause,
                )
                return _outcome(response, decode, expect_id, 1)
            except RetabError as exc:
                wait = policy.first_wait(exc, started)
                if wait is None:
                    raise

            send = functools.partial(
                transport.send,
                method,
                path,
                params=params,
                body=body,
                headers=headers,
                bypass_pause=bypass_pause,
            )
            return await _retried(policy, started, wait, send, per_attempt, decode, expect_id)
        finally:
            self.in_flight -= 1

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """Send a request whose answer is read as it arrives (see :meth:`Transport.stream`).

        Sent once: a stream is not retried, since what was read of it cannot be
        taken back. Opens a pipeline never opened; raises :class:`ClientStateError`
        and the rest as :meth:`request` does, when the block is entered.
        """
        transport = await self.ensure_open()
        async with transport.stream(
            method, path, body=body, headers=headers, timeout=timeout
        ) as chunks:
            yield chunks

    def pause(self, seconds: float) -> None:
        """Hold every request of this pipeline for ``seconds`` (what a 429 does)."""
        self.transport.pause(seconds)


async def _retried(
    policy: RetryPolicy,
    started: float,
    wait: float,
    send: Callable[..., Awaitable[Response]],
    per_attempt: float,
    decode: Callable[[Response], _T],
    expect_id: str | None,
) -> _T:
    """The attempts after a failed first one, as ``policy`` allows (a function of its own,
    so that the first attempt's frame makes no closure)."""

    async def attempt(number: int, budget: float | None) -> _T:
        seconds = per_attempt if budget is None or budget >= per_attempt else budget
        return _outcome(await send(timeout=seconds), decode, expect_id, number)

    return await policy.resume(attempt, started, wait)


def _outcome(
    response: Response, decode: Callable[[Response], _T], expect_id: str | None, attempt: int
) -> _T:
    """The decoded answer of attempt number ``attempt``, or the error it stands for."""
    if not 200 <= response.status < 300:
        raise error_for_status(response, attempt=attempt)
    result = decode(response)
    if expect_id is not None and getattr(result, "id", None) != expect_id:
        raise _wrong_id(result, expect_id, response)
    return result


def _wrong_id(record: object, expected: str, response: Response) -> ProtocolError:
    got = getattr(record, "id", None)
    return ProtocolError(
        f"{response.method} {response.url}: asked for {expected!r} but the server "
        f"answered with the record of {got!r}",
        method=response.method,
        url=response.url,
        status=response.status,
        request_id=response.request_id,
    )


def no_body(_: Response) -> None:
    """A decoder for responses whose body we do not need (``204``)."""
    return
