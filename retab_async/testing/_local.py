"""``LocalRetab``: the local server on a free loopback port, as an async context manager."""

from __future__ import annotations

import dataclasses
import socket
from types import TracebackType
from typing import Any

from aiohttp import web

from .._clock import Clock
from ._app import STATE_KEY, RecordedRequest, ServerState, create_app
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
    ``run_time``, ``seed``, ``faults``, ``record_bodies``, ``max_body_size``);
    ``host`` and ``port`` say where to listen (port 0: any free port); ``clock`` moves
    runs on (share a ``ManualClock`` with the client to decide time in a test).
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
        """Every API request the server saw, in order."""
        return self.state.requests

    def by_operation(self, operation: str) -> list[RecordedRequest]:
        """The recorded requests of one operation (``create``, ``get``, ``list``...)."""
        return self.state.by_operation(operation)

    @property
    def runs(self) -> list[Run]:
        """Every stored run, oldest first."""
        return list(self.state.store)

    def set_faults(self, faults: FaultConfig) -> None:
        """Change fault injection while the server runs."""
        self.config = dataclasses.replace(self.config, faults=faults)
        self.state.config = self.config
        self.state.store.config = self.config
        self.state.faults_injected = 0

    async def start(self) -> None:
        """Start listening."""
        runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        await runner.setup()
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            await runner.cleanup()
            raise
        self.port = sock.getsockname()[1]
        site = web.SockSite(runner, sock, backlog=1024)
        await site.start()
        self._runner = runner

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

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
