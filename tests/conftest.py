"""Shared fixtures: a local server with millisecond run times and a client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from retab_async import PollPolicy, RetabClient, RetryPolicy
from retab_async.testing import LocalRetab
from retab_async.testing._pytest_plugin import FIXTURE_DEFAULTS, server_options

INVOICE = ("invoice.txt", b"INVOICE 42. Amount due 300 EUR, payment due in 30 days.")
RECEIPT = ("receipt.txt", b"RECEIPT. Paid by card. Thank you for your purchase.")
CATEGORIES = ["invoice", "receipt", "letter"]

# Property tests draw the same examples on every run and never time an example: a
# loaded machine changes how long the suite takes, never what it finds.
settings.register_profile(
    "retab-async",
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.load_profile("retab-async")

FAST_POLL = PollPolicy(min_interval=0.005, max_interval=0.05, not_found_grace=2.0)


@pytest.fixture
def responsive_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line polls with ``PollPolicy.responsive()`` (``RETAB_POLL``), also in
    the processes a test starts.

    Its ``--local`` runs last 0.2-1 s, and the default policy first polls a run 2.3 s
    after its creation: every command would wait that long. The CLI's tests are about
    what it sends and prints, which the poll schedule does not change (the schedule
    has tests of its own, on a manual clock; ``--poll`` has its own tests)."""
    monkeypatch.setenv("RETAB_POLL", "responsive")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def server(request: pytest.FixtureRequest) -> AsyncIterator[LocalRetab]:
    """A local server on the test's own event loop, configured like the plugin's
    ``retab_server`` fixture (``@pytest.mark.retab_server(**options)``) and keeping
    request bodies. (The plugin's fixture runs its server on a thread of its own;
    tests of the package read and steer the server from the loop that serves it.)"""
    options = server_options(request, **FIXTURE_DEFAULTS, record_bodies=True)
    async with LocalRetab(**options) as local:
        yield local


def make_client(server: LocalRetab, **options: Any) -> RetabClient:
    """A client for ``server`` with fast retries and polling unless told otherwise."""
    options.setdefault("retry", RetryPolicy.for_tests())
    options.setdefault("poll", FAST_POLL)
    options.setdefault("timeout", 5.0)
    return RetabClient(server.api_key, server.base_url, **options)


@pytest.fixture
async def client(server: LocalRetab) -> AsyncIterator[RetabClient]:
    async with make_client(server) as c:
        yield c
