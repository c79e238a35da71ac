"""After exceptions, cancellation, early exits and client exit: no open session or
connector, no pending task, no open file descriptor, no warning (warnings are errors)."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from retab_async import DocumentError, RetabClient, RetabError
from retab_async.testing import LocalRetab

from ..conftest import CATEGORIES, INVOICE, make_client


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _early_list_break(client: RetabClient) -> None:
    for _ in range(5):
        await client.classifications.create(INVOICE, CATEGORIES)
    async for _ in client.classifications.list(limit=2):
        break


async def _early_map_exit(client: RetabClient) -> None:
    docs = [(f"d{i}.txt", b"invoice") for i in range(10)]
    async with client.classifications.map(docs, CATEGORIES, concurrency=3) as results:
        async for _ in results:
            break


async def _map_break_without_closing(client: RetabClient) -> None:
    # The first result (a document that cannot be read) comes while two runs are in flight,
    # on any machine: the batch is left with watches that only closing the client ends.
    docs = [Path("/nonexistent/missing.pdf")] + [(f"d{i}.txt", b"invoice") for i in range(6)]
    async for result in client.classifications.map(docs, CATEGORIES, concurrency=3):
        assert isinstance(result.error, DocumentError)
        assert client.poller.watching == 2
        break


async def _early_watch_break(client: RetabClient) -> None:
    handle = await client.classifications.start(INVOICE, CATEGORIES)
    async for _ in handle.watch():
        break


async def _exception_in_run(client: RetabClient) -> None:
    with pytest.raises(LookupError):
        async with client.classifications.run(INVOICE, CATEGORIES):
            raise LookupError


async def _cancelled_wait(client: RetabClient) -> None:
    handle = await client.classifications.start(INVOICE, CATEGORIES)
    with anyio.move_on_after(0.01):
        await handle.wait()


async def _cancelled_task(client: RetabClient) -> None:
    async def work() -> None:
        handle = await client.classifications.start(INVOICE, CATEGORIES)
        await handle.wait()

    task = asyncio.create_task(work())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def _api_error(client: RetabClient) -> None:
    with pytest.raises(RetabError):
        await client.classifications.get("clss_missing")


async def _many_waits(client: RetabClient) -> None:
    handles = [await client.classifications.start(INVOICE, CATEGORIES) for _ in range(30)]
    async with anyio.create_task_group() as tg:
        for handle in handles:
            tg.start_soon(handle.wait)


SCENARIOS: dict[str, Callable[[RetabClient], Awaitable[None]]] = {
    "break out of list()": _early_list_break,
    "leave map() early": _early_map_exit,
    "break out of map() without closing": _map_break_without_closing,
    "break out of watch()": _early_watch_break,
    "exception in run()": _exception_in_run,
    "cancelled wait": _cancelled_wait,
    "cancelled task": _cancelled_task,
    "API error": _api_error,
    "many waits": _many_waits,
}


def _baseline() -> tuple[int, set[asyncio.Task[object]]]:
    gc.collect()
    return _fds(), set(asyncio.all_tasks())


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_nothing_is_left_behind(scenario: str) -> None:
    fds_before, tasks_before = _baseline()
    for _ in range(3):  # repeated, so that a leak grows
        async with LocalRetab(run_time=0.05) as server:
            client = make_client(server)
            async with client:
                await SCENARIOS[scenario](client)
            assert client._transport._session is None
            assert client.poller.watching == 0
    await anyio.lowlevel.checkpoint()  # let finished tasks be reaped
    gc.collect()
    leftover = {t for t in asyncio.all_tasks() if t not in tasks_before and not t.done()}
    assert leftover == set()
    assert _fds() <= fds_before


async def test_client_exit_with_a_wait_in_flight() -> None:
    fds_before, _ = _baseline()
    async with LocalRetab(run_time=30) as server, make_client(server) as client:
        handle = await client.classifications.start(INVOICE, CATEGORIES)
        with anyio.move_on_after(0.05):
            await handle.wait()
    gc.collect()
    assert _fds() <= fds_before
