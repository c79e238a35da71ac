"""as_completed and wait_all: many handles waited on through the shared poller."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import Any

import anyio
import pytest

from retab_async import (
    Classification,
    NotFoundError,
    RetabClient,
    RunCancelled,
    RunFailed,
    RunHandle,
    UsageError,
    WaitTimeout,
    as_completed,
    wait_all,
)
from retab_async.testing import FAIL_MARKER, LocalRetab, ManualClock

from .conftest import CATEGORIES, FAST_POLL, INVOICE, make_client

POLICY = dataclasses.replace(FAST_POLL, jitter=0.0, strategy="get")
BAD = ("bad.txt", FAIL_MARKER)


async def staggered(
    client: RetabClient, clock: ManualClock, n: int
) -> list[RunHandle[Classification]]:
    """``n`` runs started 0.1 s apart on ``clock``, newest first: the reverse of the
    order in which they finish. (With runs of 1 s, none has finished yet, and polls
    at most 0.05 s apart see each one end at a moment of its own.)"""
    handles = []
    for _ in range(n):
        handles.append(await client.classifications.start(INVOICE, CATEGORIES))
        clock.advance(0.1)
    return handles[::-1]


def own_tasks(before: set[asyncio.Task[Any]]) -> list[str]:
    """Tasks started since ``before``, except the local server's connection handlers."""
    names = []
    for task in asyncio.all_tasks() - before:
        if getattr(task.get_coro(), "__qualname__", "") != "RequestHandler.start":
            names.append(task.get_name().rsplit(".", 1)[-1])
    return sorted(names)


async def test_as_completed_yields_handles_in_the_order_their_runs_finish() -> None:
    clock = ManualClock()
    async with (
        LocalRetab(run_time=1.0, clock=clock) as server,
        make_client(server, clock=clock, poll=POLICY) as client,
    ):
        handles = await staggered(client, clock, 4)
        finished: list[RunHandle[Classification]] = []
        tasks: list[list[str]] = []
        watching: list[int] = []
        before = asyncio.all_tasks()

        async def consume() -> None:
            async for handle in as_completed(handles, timeout=10):
                finished.append(handle)
                watching.append(client.poller.watching)  # released as each run is reported

        def done() -> bool:
            tasks.append(own_tasks(before))
            return len(finished) == len(handles)

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await clock.drive(client, until=done)
        assert client.poller.watching == 0
    assert [h.id for h in finished] == [h.id for h in reversed(handles)]
    assert watching == [3, 2, 1, 0]
    assert all(h.done and h.status == "completed" and h.record for h in finished)
    # The consumer and the client's one poller: no task per handle.
    assert max(len(t) for t in tasks) <= 2
    assert {name for t in tasks for name in t} <= {"consume", "retab-poller"}


async def test_wait_all_returns_records_in_input_order() -> None:
    clock = ManualClock()
    async with (
        LocalRetab(run_time=1.0, clock=clock) as server,
        make_client(server, clock=clock, poll=POLICY) as client,
    ):
        handles = await staggered(client, clock, 4)
        results: list[list[Classification]] = []

        async def wait() -> None:
            results.append(await wait_all(handles, timeout=10))

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await clock.drive(client, until=lambda: bool(results))
        assert client.poller.watching == 0
        before = len(server.requests)
        again = await wait_all(handles)  # every handle is done: nothing is sent
        assert len(server.requests) == before
    assert [r.id for r in results[0]] == [h.id for h in handles]
    assert all(r.status == "completed" and r.category == "invoice" for r in results[0])
    assert [r.id for r in again] == [h.id for h in handles]


@pytest.mark.retab_server(run_time=0.3)
async def test_wait_all_raises_the_first_run_that_does_not_complete(client: RetabClient) -> None:
    good = await client.classifications.start(INVOICE, CATEGORIES)
    bad = await client.classifications.start(BAD, CATEGORIES)
    with pytest.raises(RunFailed) as info:
        await wait_all([good, bad], timeout=10)
    assert info.value.run_id == bad.id and info.value.record.status == "failed"
    assert client.poller.watching == 0
    assert bad.status == "failed"


@pytest.mark.retab_server(run_time=0.3)
async def test_wait_all_with_return_exceptions_gives_every_outcome_in_order(
    client: RetabClient, server: LocalRetab
) -> None:
    good = await client.classifications.start(INVOICE, CATEGORIES)
    bad = await client.classifications.start(BAD, CATEGORIES)
    gone = await client.classifications.start(INVOICE, CATEGORIES)
    await client.classifications.cancel(gone.id)  # not through the handle: polling sees it
    same = client.classifications.handle(good.id)  # the same run, from another handle
    results = await wait_all([good, bad, gone, same], timeout=10, return_exceptions=True)
    first, failed, cancelled, again = results
    assert isinstance(first, Classification) and first.status == "completed"
    assert isinstance(failed, RunFailed) and failed.run_id == bad.id
    assert failed.error is not None and failed.record.status == "failed"
    assert isinstance(cancelled, RunCancelled) and cancelled.run_id == gone.id
    assert isinstance(again, Classification) and again.id == good.id
    assert good.done and same.done and client.poller.watching == 0


async def _overtime(
    call: str, timeout: float
) -> tuple[list[Any], RunHandle[Classification], RunHandle[Classification]]:
    """Run ``call`` (``wait_all``, ``gather`` or ``as_completed``) over a run that ended
    and one that ends long after ``timeout``; return what it gave and the two handles."""
    clock = ManualClock()
    async with (
        LocalRetab(run_time=0.3, clock=clock) as server,
        make_client(server, clock=clock, poll=POLICY) as client,
    ):
        early = await client.classifications.start(INVOICE, CATEGORIES)
        clock.advance(1.0)
        late = await client.classifications.start(INVOICE, CATEGORIES)
        out: list[Any] = []

        async def wait() -> None:
            try:
                if call == "as_completed":
                    async for handle in as_completed([late, early], timeout=timeout):
                        out.append(handle)
                elif call == "gather":
                    out.extend(
                        await wait_all([late, early], timeout=timeout, return_exceptions=True)
                    )
                else:
                    out.extend(await wait_all([late, early], timeout=timeout))
            except WaitTimeout as exc:
                out.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await clock.drive(client, until=lambda: out and not isinstance(out[-1], RunHandle))
        assert client.poller.watching == 0
        assert clock.now() == pytest.approx(1.0 + timeout)
    return out, early, late


@pytest.mark.parametrize("call", ["wait_all", "as_completed"])
async def test_a_timeout_names_the_first_run_still_going(call: str) -> None:
    out, early, late = await _overtime(call, 0.2)
    error = out[-1]
    assert isinstance(error, WaitTimeout) and isinstance(error, TimeoutError)
    assert error.run_id == late.id and error.elapsed == pytest.approx(0.2)
    assert error.status in ("queued", "in_progress")
    assert early.done and not late.done and late.status == error.status
    if call == "as_completed":
        assert out[:-1] == [early]  # what finished in time was yielded first


async def test_a_timeout_with_return_exceptions_keeps_what_finished() -> None:
    out, early, late = await _overtime("gather", 0.2)
    timed_out, record = out
    assert isinstance(timed_out, WaitTimeout) and timed_out.run_id == late.id
    assert isinstance(record, Classification) and record.id == early.id
    assert record.status == "completed"


@pytest.mark.retab_server(run_time=30)
async def test_leaving_as_completed_early_stops_polling_the_rest(client: RetabClient) -> None:
    done = await client.classifications.start(INVOICE, CATEGORIES)
    await done.cancel()  # done, with its final record
    going = [await client.classifications.start(INVOICE, CATEGORIES) for _ in range(3)]
    async with contextlib.aclosing(as_completed([*going, done])) as finished:
        async for handle in finished:
            assert handle is done  # already done: yielded first, without a request
            assert client.poller.watching == 3
            break
    assert client.poller.watching == 0
    assert not any(h.done for h in going)


async def test_a_run_that_cannot_be_polled_is_yielded_and_raises_when_awaited(
    server: LocalRetab,
) -> None:
    poll = dataclasses.replace(FAST_POLL, not_found_grace=0.0)
    async with make_client(server, poll=poll) as client:
        good = await client.classifications.start(INVOICE, CATEGORIES)
        missing = client.classifications.handle("clss_never_existed")
        finished = [h async for h in as_completed([missing, good], timeout=10)]
        assert {h.id for h in finished} == {good.id, missing.id}
        assert not missing.done
        with pytest.raises(NotFoundError):
            await missing
        results = await wait_all([good, missing], timeout=10, return_exceptions=True)
        assert isinstance(results[1], NotFoundError) and results[0] == good.record
        with pytest.raises(NotFoundError):
            await wait_all([good, missing], timeout=10)


async def test_handles_of_a_client_never_opened_open_it(server: LocalRetab) -> None:
    async with make_client(server) as setup:
        run_id = (await setup.classifications.create(INVOICE, CATEGORIES)).id
    client = make_client(server)
    try:
        (record,) = await wait_all([client.classifications.handle(run_id)], timeout=10)
        assert record.id == run_id and client.state == "open"
    finally:
        await client.aclose()


async def test_nothing_to_wait_for(client: RetabClient) -> None:
    assert await wait_all([]) == []
    assert await wait_all([], return_exceptions=True) == []
    assert [h async for h in as_completed([])] == []


async def test_bad_arguments_fail_at_once(client: RetabClient, server: LocalRetab) -> None:
    record = await client.classifications.create(INVOICE, CATEGORIES)
    handle = client.classifications.handle(record)
    with pytest.raises(UsageError, match="item 1 is a Classification"):
        await wait_all([handle, record])  # type: ignore[list-item]
    with pytest.raises(UsageError, match="timeout"):
        as_completed([handle], timeout=-1)
    with pytest.raises(UsageError, match="timeout"):
        await wait_all([handle], timeout=float("nan"))
    assert len(server.requests) == 1
