"""A pytest plugin (entry point ``retab_async``) with a ``retab_server`` fixture.

The fixture runs a :class:`LocalRetab` on a background thread with its own event
loop, so it needs no configuration and serves any test: an async test run by
anyio's pytest plugin (installed with retab-async; mark the test
``@pytest.mark.anyio``), by pytest-asyncio or by trio, and a plain synchronous
test::

    import pytest
    from retab_async import RetabClient


    @pytest.mark.anyio
    async def test_classify(retab_server):
        async with RetabClient(retab_server.api_key, retab_server.base_url) as client:
            ...

Mark a test ``@pytest.mark.retab_server(run_time=0.5, faults=...)`` to configure its
server (keyword arguments of :class:`LocalRetab`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ._local import LocalRetab

#: Options of the fixture's server unless its marker says otherwise.
FIXTURE_DEFAULTS: dict[str, Any] = {"run_time": 0.02}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "retab_server(**options): options for the retab_server fixture's LocalRetab"
    )


def server_options(request: pytest.FixtureRequest, **defaults: Any) -> dict[str, Any]:
    """``defaults`` updated with the keyword arguments of the test's ``retab_server`` marker."""
    options = dict(defaults)
    marker = request.node.get_closest_marker("retab_server")
    if marker is not None:
        options.update(marker.kwargs)
    return options


@pytest.fixture
def retab_server(request: pytest.FixtureRequest) -> Iterator[LocalRetab]:
    """A :class:`LocalRetab` with millisecond run times, running on a background
    thread for the duration of the test."""
    with LocalRetab(**server_options(request, **FIXTURE_DEFAULTS)).in_thread() as server:
        yield server
