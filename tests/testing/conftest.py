"""Server tests talk to the local server with aiohttp's own client: real bytes, no SDK."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from retab_async.testing import LocalRetab


def text_doc(text: str, filename: str = "doc.txt") -> dict[str, str]:
    return {
        "filename": filename,
        "url": "data:text/plain;base64," + base64.b64encode(text.encode()).decode(),
    }


def create_body(text: str = "INVOICE total due", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "document": text_doc(text),
        "categories": [{"name": "invoice"}, {"name": "receipt"}],
    }
    body.update(extra)
    return body


class Api:
    """A thin raw HTTP helper for one server."""

    def __init__(self, server: LocalRetab, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session
        self.auth = {"Authorization": f"Bearer {server.api_key}"}

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
        payload = io.BytesIO(data) if data is not None and len(data) > 1024 * 1024 else data
        hdrs = dict(self.auth if auth else {})
        hdrs.update(headers or {})
        async with self.session.request(
            method,
            self.server.base_url + path,
            json=json,
            data=payload,
            params=params,
            headers=hdrs,
        ) as resp:
            raw = await resp.read()
            try:
                body = await resp.json(content_type=None) if raw else None
            except ValueError:
                body = raw.decode()
            return resp.status, body, resp.headers

    async def create(self, **extra: Any) -> dict[str, Any]:
        status, body, _ = await self.call("POST", "/v1/classifications", json=create_body(**extra))
        assert status == 201, body
        return body


@pytest.fixture
async def api(server: LocalRetab) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(server, session)
