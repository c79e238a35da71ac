"""Driving a :class:`ManualClock`: time moves only when the client has nothing else to do."""

from __future__ import annotations

from collections.abc import Callable

import anyio.lowlevel

from retab_async import RetabClient
from retab_async.testing import ManualClock


async def settle(client: RetabClient) -> None:
    """Return once the client waits for time to move on: every request answered, and
    the poller asleep until a later moment."""
    while True:
        for _ in range(5):  # let woken waiters run (no I/O involved)
            await anyio.lowlevel.checkpoint()
        if client.poller.idle and not client.requests_in_flight:
            return
        await anyio.sleep(0.0005)  # a request is in flight: real time, real sockets


async def drive(
    clock: ManualClock,
    client: RetabClient,
    done: Callable[[], bool],
    *,
    step: float | None = None,
    limit: int = 10_000,
) -> None:
    """Advance ``clock`` (by ``step``, or to the next timer) each time the client is idle,
    until ``done()``."""
    for _ in range(limit):
        await settle(client)
        if done():
            return
        if step is None:
            clock.advance_to_next()
        else:
            clock.advance(step)
    raise AssertionError(f"not done after {limit} steps; {clock!r}")
