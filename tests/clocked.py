"""Driving a :class:`ManualClock` from tests: time moves only when the client waits for it."""

from __future__ import annotations

from collections.abc import Callable

from retab_async import RetabClient
from retab_async._clock import _until_waiting
from retab_async.testing import ManualClock


async def settle(client: RetabClient) -> None:
    """Return once the client waits for time to move on: every request answered, and
    the poller asleep until a later moment."""
    await _until_waiting(client)


async def drive(
    clock: ManualClock,
    client: RetabClient,
    done: Callable[[], bool],
    *,
    step: float | None = None,
) -> None:
    """``clock.drive``, with the argument order the tests use."""
    await clock.drive(client, done, step=step)
