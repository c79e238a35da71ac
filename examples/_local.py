"""Shared by the examples: use the real API when RETAB_API_KEY is set, else a local server."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator

from retab_async import RetabClient
from retab_async.testing import LocalRetab


@contextlib.asynccontextmanager
async def client_for_example(**server_options: object) -> AsyncIterator[RetabClient]:
    """A client on the real API if ``RETAB_API_KEY`` is set, else on an in-process local server."""
    if os.environ.get("RETAB_API_KEY"):
        async with RetabClient() as client:
            yield client
        return
    options = {"run_time": (0.2, 0.8), **server_options}
    async with LocalRetab(**options) as server:  # type: ignore[arg-type]
        print(f"(using the local Retab server at {server.base_url})", file=sys.stderr)
        async with RetabClient(server.api_key, server.base_url) as client:
            yield client
