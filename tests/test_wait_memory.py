"""Waiting costs little per run: a wait's deadline is the poller's, not a timer or a
cancel scope of its own; deadlines are exact on the client's clock; a wait that
ends any way leaves nothing behind."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

import anyio
import pytest

from retab_async import Classification, PollPolicy, RetabClient, RunHandle, WaitTimeout
from retab_async.testing import LocalRetab, ManualClock

from .clocked import drive, settle
from .conftest import CATEGORIES, INVOICE, make_client

POLICY = PollPolicy(list_interval=0.5, min_interval=0.5, jitter=0.0)


def _deadlines(client: RetabClient) -> int:
    """Deadlines the poller still holds for waiters that have not left."""
    return sum(1 for entry in client.poller._deadlines if not entry[2].done())


async def test_a_deadline_falls_exactly_on_the_clients_clock() -> None:
    clock = ManualClock()
    async with (
        LocalRetab(run_time=100.0, clock=clock) as server,
        make_client(server, poll=POLICY, clock=clock) as client,
    ):
        handle = await client.classifications.start(INVOICE, CATEGORIES)
        caught: list[WaitTimeout] = []

        async def wait() -> None:
            with pytest.raises(WaitTimeout) as info:
                await handle.wait(timeout=5.25)
            caught.append(info.value)

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await drive(clock, client, lambda: bool(caught))
        assert clock.now() == pytest.approx(5.25)
        assert caught[0].elapsed == pytest.approx(5.25)
        assert caught[0].status == "in_progress" and not caught[0].cancelled
        assert client.poller.watching == 0 and _deadlines(client) == 0
    assert server.runs[0].status == "in_progress"  # the run goes on


async def test_waits_with_different_deadlines_share_one_run() -> None:
    clock = ManualClock()
    async with (
        LocalRetab(run_time=4.0, clock=clock) as server,
        make_client(server, poll=POLICY, clock=clock) as client,
    ):
        handle = await client.classifications.start(INVOICE, CATEGORIES)
        outcomes: dict[str, object] = {}

        async def wait(name: str, timeout: float | None) -> None:
            try:
                outcomes[name] = (await handle.wait(timeout=timeout)).category
            except WaitTimeout as exc:
                outcomes[name] = ("timeout", clock.now(), exc.elapsed)

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait, "short", 2.0)
            tg.start_soon(wait, "long", 60.0)
            tg.start_soon(wait, "none", None)
            await drive(clock, client, lambda: len(outcomes) == 3)
        assert outcomes["short"] == ("timeout", pytest.approx(2.0), pytest.approx(2.0))
        assert outcomes["long"] == outcomes["none"] == "invoice"
        assert clock.now() < 5.0
        assert client.poller.watching == 0 and _deadlines(client) == 0


async def test_a_zero_timeout_on_a_run_going_times_out_at_once() -> None:
    clock = ManualClock()
    async with (
        LocalRetab(run_time=10.0, clock=clock) as server,
        make_client(server, poll=POLICY, clock=clock) as client,
    ):
        handle = await client.classifications.start(INVOICE, CATEGORIES)
        with pytest.raises(WaitTimeout) as info:
            await handle.wait(timeout=0)
        assert info.value.elapsed == 0.0
        assert client.poller.watching == 0 and _deadlines(client) == 0


async def test_cancelled_waits_leave_their_runs_and_no_deadline() -> None:
    clock = ManualClock()
    async with (
        LocalRetab(run_time=100.0, clock=clock) as server,
        make_client(server, poll=POLICY, clock=clock) as client,
    ):
        handles = [await client.classifications.start(INVOICE, CATEGORIES) for _ in range(100)]
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                for handle in handles:
                    tg.start_soon(handle.wait, 1000.0)
                await settle(client)
                assert client.poller.watching == 100 and _deadlines(client) == 100
                scope.cancel()
        assert scope.cancelled_caught
        assert client.poller.watching == 0 and _deadlines(client) == 0
        # The deadlines of waiters gone are dropped once they are half of those held.
        assert len(client.poller._deadlines) < 100
    assert {run.status for run in server.runs} == {"in_progress"}
    assert server.by_operation("cancel") == []


async def test_a_thousand_waits_cost_little_memory_each() -> None:
    # Measured with tracemalloc, not the process's RSS: the same bytes on any machine.
    # What is counted: the caller's task, its wait, and the poller's share while every
    # run waits (the records were decoded before). About 1.9 kB per wait on CPython
    # 3.11; with an anyio Event and a cancel scope per wait, it was 5.1 kB.
    n = 1000
    clock = ManualClock()
    async with (
        LocalRetab(run_time=1000.0, clock=clock) as server,
        make_client(server, poll=POLICY, clock=clock) as client,
    ):
        handles: list[RunHandle[Classification]] = [
            await client.classifications.start(INVOICE, CATEGORIES) for _ in range(n)
        ]
        await settle(client)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            # Plain asyncio tasks, as an asyncio application's: an anyio task group
            # adds its own bookkeeping per task.
            tasks = [asyncio.create_task(handle.wait(3600.0)) for handle in handles]
            await settle(client)
            assert client.poller.watching == n
            gc.collect()
            during = tracemalloc.take_snapshot()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            tracemalloc.stop()
        grown = sum(stat.size_diff for stat in during.compare_to(before, "filename"))
        assert grown / n < 3000, f"{grown / n:.0f} bytes per wait"
