"""A rogue server for the reliability suite: it answers whatever bytes a test sets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web


@dataclass
class Canned:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False


class RogueServer:
    """Answers every request with ``self.canned``; counts what it saw."""

    def __init__(self) -> None:
        self.canned = Canned()
        self.seen: list[str] = []
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(f"{request.method} {request.raw_path}")
        canned = self.canned
        if canned.chunked:
            resp = web.StreamResponse(status=canned.status, headers=canned.headers)
            resp.content_type = canned.content_type
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for start in range(0, len(canned.body), 65536):
                await resp.write(canned.body[start : start + 65536])
            await resp.write_eof()
            return resp
        if canned.status == 204:
            return web.Response(status=204, headers=canned.headers)
        return web.Response(
            status=canned.status,
            body=canned.body,
            content_type=canned.content_type,
            headers=canned.headers,
        )

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def rogue() -> AsyncIterator[RogueServer]:
    server = RogueServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
