"""No run outlives the caller that can reach it: cancellations that land while a create
is in flight, and creates that fail after the server did the work.

The server holds every run for 30 s and delays its answer to most creates by 20 ms
after creating the run, so random cancellations land in every phase: before the
create is sent, while it is in flight (the run exists, its id is not known yet),
and while the caller waits. Whatever the machine's speed, every run must end
cancelled, except those whose handle the caller holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable

import anyio
import pytest

from retab_async import ConnectError, RequestTimeout, RetabClient, RetryPolicy
from retab_async.testing import FaultConfig, LocalRetab

from ..conftest import CATEGORIES, INVOICE, make_client

_SLOW_CREATES = FaultConfig(slow=0.8, slow_seconds=0.02, operations={"create"})


async def _cancel_after(delay: float, native: bool, work: Callable[[], Awaitable[None]]) -> None:
    """Run ``work`` and cancel it after ``delay`` seconds: by a cancel scope, or (``native``)
    by ``Task.cancel()`` as an asyncio framework would."""
    if not native:
        with anyio.move_on_after(delay):
            await work()
        return
    task = asyncio.ensure_future(work())
    await asyncio.sleep(delay)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _run_body(client: RetabClient) -> None:
    async with client.classifications.run(INVOICE, CATEGORIES) as handle:
        await handle.wait()


async def _map_batch(client: RetabClient) -> None:
    docs = [(f"d{i}.txt", b"INVOICE 42, amount due") for i in range(6)]
    async with client.classifications.map(docs, CATEGORIES, concurrency=3) as results:
        async for _ in results:
            pass


def _not_cancelled(server: LocalRetab, reachable: frozenset[str] = frozenset()) -> list[str]:
    return [r.id for r in server.runs if r.status != "cancelled" and r.id not in reachable]


@pytest.mark.timeout(120)
async def test_random_cancellations_of_run_and_map_leave_no_run_going() -> None:
    rng = random.Random(9)
    async with LocalRetab(run_time=30, faults=_SLOW_CREATES) as server:
        async with make_client(server) as client:
            for i in range(160):
                work = _map_batch if i % 4 == 3 else _run_body
                delay = rng.uniform(0.0, 0.02)
                await _cancel_after(delay, native=i % 2 == 1, work=lambda w=work: w(client))
            assert client.poller.watching == 0
        creates = server.by_operation("create")
        assert len(server.runs) >= 100  # the work really started runs
        assert any(r.fault == "slow" for r in creates)
        assert _not_cancelled(server) == []


async def test_random_cancellations_of_start_leave_only_handles_the_caller_holds() -> None:
    rng = random.Random(10)
    held: set[str] = set()
    async with LocalRetab(run_time=30, faults=_SLOW_CREATES) as server:
        async with make_client(server) as client:

            async def start() -> None:
                handle = await client.classifications.start(INVOICE, CATEGORIES)
                held.add(handle.id)

            for i in range(40):
                await _cancel_after(rng.uniform(0.0, 0.02), native=i % 2 == 1, work=start)
        assert len(server.runs) > len(held)  # some creates were cut off in flight...
        assert _not_cancelled(server, frozenset(held)) == []  # ...and their runs were cancelled


async def test_a_timed_out_create_gives_its_key_to_recover_the_run() -> None:
    faults = FaultConfig(slow=1.0, slow_seconds=0.5, operations={"create"}, limit=1)
    async with LocalRetab(run_time=30, faults=faults) as server:
        async with make_client(server, timeout=0.1, retry=RetryPolicy.never()) as client:
            with pytest.raises(RequestTimeout) as caught:
                await client.classifications.start(INVOICE, CATEGORIES)
            key = caught.value.idempotency_key
            assert key is not None and key.startswith("rtab-")
            (run,) = server.runs  # the server did start it
            assert run.status != "cancelled"  # the caller may recover it: not cancelled
            handle = await client.classifications.start(INVOICE, CATEGORIES, idempotency_key=key)
        assert handle.id == run.id and len(server.runs) == 1
        replay = server.by_operation("create")[-1]
        assert dict(replay.headers)["idempotency-key"] == key


async def test_your_own_key_lets_you_recover_a_run_whose_start_was_cancelled() -> None:
    faults = FaultConfig(slow=1.0, slow_seconds=0.2, operations={"create"}, limit=1)
    async with LocalRetab(run_time=30, faults=faults) as server:
        async with make_client(server) as client:
            with anyio.move_on_after(0.05):
                await client.classifications.start(INVOICE, CATEGORIES, idempotency_key="order-7")
            (run,) = server.runs
            assert run.status in ("queued", "in_progress")  # yours: not cancelled behind your back
            handle = await client.classifications.start(
                INVOICE, CATEGORIES, idempotency_key="order-7"
            )
        assert handle.id == run.id and len(server.runs) == 1


async def test_run_cancels_the_run_of_a_create_that_failed_after_the_server_did_the_work() -> None:
    faults = FaultConfig(disconnect=1.0, operations={"create"}, limit=1)
    async with LocalRetab(run_time=30, faults=faults) as server:
        async with make_client(server, retry=RetryPolicy.never()) as client:
            with pytest.raises(ConnectError) as caught:
                async with client.classifications.run(INVOICE, CATEGORIES):
                    pytest.fail("the block must not run without a run")
        assert caught.value.idempotency_key is not None
        (run,) = server.runs
        assert run.status == "cancelled"
        keys = {dict(r.headers)["idempotency-key"] for r in server.by_operation("create")}
        assert keys == {caught.value.idempotency_key}  # replayed, not created twice
