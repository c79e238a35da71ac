"""A pytest plugin (entry point ``retab_async``) with a ``retab_server`` fixture.

Use it with anyio's pytest plugin (``@pytest.mark.anyio``)::

    async def test_classify(retab_server):
        async with RetabClient(retab_server.api_key, retab_server.base_url) as client:
            ...

Mark a test ``@pytest.mark.retab_server(run_time=0.5, faults=...)`` to configure its server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from ._local import LocalRetab


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "retab_server(**options): options for the retab_server fixture's LocalRetab"
    )


@pytest.fixture
async def retab_server(request: pytest.FixtureRequest) -> AsyncIterator[LocalRetab]:
    """A running :class:`LocalRetab` with millisecond run times, stopped after the test."""
    options: dict[str, Any] = {"run_time": 0.02}
    marker = request.node.get_closest_marker("retab_server")
    if marker is not None:
        options.update(marker.kwargs)
    async with LocalRetab(**options) as server:
        yield server
