"""``LocalRetab``: the local server on a free loopback port, as an async context manager,
or on a background thread of its own (``with server.in_thread():``)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

from aiohttp import web

from .._clock import Clock
from ._app import STATE_KEY, RecordedRequest, ServerState, close_if_no_head, create_app
from ._config import FaultConfig, ServerConfig
from ._store import Run

__all__ = ["LocalRetab"]


class LocalRetab:
    """A running local Retab server.

    Example::

        async with LocalRetab(run_time=0.01) as server:
            async with RetabClient(server.api_key, server.base_url) as client:
                ...
            assert len(server.runs) == 1

    Keyword arguments are those of :class:`ServerConfig` (``api_key``, ``queue_time``,
    ``run_time``, ``seed``, ``faults``, ``record_bodies``, ``log_limit``, ``max_runs``,
    ``header_timeout``, ...); ``host`` and ``port`` say where to listen (port 0: any
    free port); ``clock`` moves runs on and decides when idempotency records expire
    (share a ``ManualClock`` with the client to decide time in a test).

    Raises ``TypeError`` for an unknown option and ``ValueError`` for a bad value.
    """

    def __init__(
        self,
        config: ServerConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        **options: Any,
    ) -> None:
        base = config or ServerConfig()
        self.config = dataclasses.replace(base, **options) if options else base
        self.host = host
        self.port = port
        self._app = create_app(self.config, clock=clock)
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None

    @property
    def state(self) -> ServerState:
        """The server's state: its store and request log."""
        return self._app[STATE_KEY]

    @property
    def api_key(self) -> str:
        """The key the server accepts."""
        return self.config.api_key

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._runner is None:
            raise RuntimeError("the local server is not running")
        return f"http://{self.host}:{self.port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """The API requests the server saw, in order: the latest ``log_limit`` of them."""
        return self.state.requests

    def by_operation(self, operation: str) -> list[RecordedRequest]:
        """The recorded requests of one operation (``create``, ``get``, ``list``...)."""
        return self.state.by_operation(operation)

    @property
    def runs(self) -> list[Run]:
        """Every stored run, oldest first (with ``max_runs``, the ones not evicted)."""
        return list(self.state.store)

    def set_faults(self, faults: FaultConfig) -> None:
        """Change fault injection while the server runs."""
        self.config = dataclasses.replace(self.config, faults=faults)
        self.state.config = self.config
        self.state.store.config = self.config
        self.state.faults_injected = 0

    async def start(self) -> None:
        """Start listening.

        Raises ``OSError`` when the address cannot be bound.
        """
        # aiohttp closes a connection whose next request head is late keepalive_timeout
        # after its previous response; the first head of a connection is timed here.
        runner = web.AppRunner(
            self._app,
            access_log=None,
            handle_signals=False,
            keepalive_timeout=self.config.header_timeout,
        )
        await runner.setup()
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
            self._listener = await asyncio.get_running_loop().create_server(
                self._protocol_factory(runner), sock=sock, backlog=1024
            )
        except OSError:
            sock.close()
            await runner.cleanup()
            raise
        self.port = sock.getsockname()[1]
        self._runner = runner

    def _protocol_factory(self, runner: web.AppRunner) -> Callable[[], web.RequestHandler]:
        """aiohttp's connection factory, with a timer on each connection's first request head."""
        make = runner.server
        assert make is not None
        loop = asyncio.get_running_loop()
        state = self.state
        timeout = self.config.header_timeout

        def connection() -> web.RequestHandler:
            handler = make()
            state.head_timers[handler] = loop.call_later(timeout, close_if_no_head, state, handler)
            return handler

        return connection

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            listener, self._listener = self._listener, None
            if listener is not None:
                listener.close()
            await runner.cleanup()
            for timer in self.state.head_timers.values():
                timer.cancel()
            self.state.head_timers.clear()

    @contextlib.contextmanager
    def in_thread(self) -> Iterator[LocalRetab]:
        """Run the server on a background thread with its own event loop, for as long
        as the ``with`` block lasts.

        This serves tests of any kind: synchronous ones, and async ones on any event
        loop or plugin (anyio, pytest-asyncio, trio). Reading ``runs``, ``requests``
        and ``state`` and calling :meth:`set_faults` from another thread is safe;
        do not ``await`` :meth:`start` or :meth:`stop` yourself.

        Raises ``OSError`` when the server cannot listen.
        """
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="retab-local-server", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result()
            try:
                yield self
            finally:
                asyncio.run_coroutine_threadsafe(self.stop(), loop).result()
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()

    async def __aenter__(self) -> LocalRetab:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
