"""One poller for many runs: shared scheduling, list rounds, request counts."""

from __future__ import annotations

import asyncio

import anyio
import anyio.lowlevel
import pytest

from retab_async import PollPolicy, RetabClient, RetryPolicy
from retab_async.testing import FaultConfig, LocalRetab, ManualClock

from .clocked import drive, settle
from .conftest import CATEGORIES, INVOICE, make_client


def _poller_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "retab-poller"]


async def test_many_waits_share_one_poller_task_and_list_rounds() -> None:
    # Client and server share a clock that moves only when every request is answered, so
    # the strategy the poller picks (from the runs' ages) is the same on any machine.
    n = 60
    clock = ManualClock()
    policy = PollPolicy(list_interval=0.05, min_interval=0.01, jitter=0.0)
    async with (
        LocalRetab(run_time=0.3, clock=clock) as server,
        make_client(server, poll=policy, clock=clock) as client,
    ):
        handles = [await client.classifications.start(INVOICE, CATEGORIES) for _ in range(n)]
        results: list[str] = []

        async def wait(h) -> None:  # type: ignore[no-untyped-def]
            results.append((await h.wait(timeout=10)).category)

        async with anyio.create_task_group() as tg:
            for h in handles:
                tg.start_soon(wait, h)
            await settle(client)
            assert len(_poller_tasks()) == 1
            await drive(clock, client, lambda: len(results) == n)
        stats = client.poller.stats
        assert clock.now() == pytest.approx(0.3, abs=0.06)  # seen within one list round
    assert results == ["invoice"] * n
    assert stats.strategy == {"classifications": "list"}
    assert stats.list_rounds == 7  # t = 0, 0.05, ..., 0.3
    assert stats.final_fetches == 0 and stats.results_from_lists == n  # one completed page
    gets = server.by_operation("get")
    lists = server.by_operation("list")
    assert gets == [] and len(lists) == stats.requests
    assert all(dict(r.query)["limit"] == "100" and "status" in dict(r.query) for r in lists)
    per_run = len(server.requests) / n
    assert per_run < 3, per_run  # create + a share of list pages
    await anyio.lowlevel.checkpoint()
    assert not _poller_tasks()  # the poller ends with its last watch


@pytest.mark.retab_server(run_time=0.3)
async def test_get_strategy_when_forced(server: LocalRetab) -> None:
    policy = PollPolicy(strategy="get", min_interval=0.02)
    async with make_client(server, poll=policy) as client:
        handles = [await client.classifications.start(INVOICE, CATEGORIES) for _ in range(30)]
        async with anyio.create_task_group() as tg:
            for h in handles:
                tg.start_soon(h.wait)
    assert server.by_operation("list") == []
    assert client.poller.stats.list_rounds == 0


@pytest.mark.retab_server(run_time=0.2)
async def test_few_runs_use_gets(client: RetabClient, server: LocalRetab) -> None:
    handles = [await client.classifications.start(INVOICE, CATEGORIES) for _ in range(3)]
    async with anyio.create_task_group() as tg:
        for h in handles:
            tg.start_soon(h.wait)
    assert server.by_operation("list") == []


@pytest.mark.retab_server(run_time=0.2)
async def test_two_handles_on_one_run_share_its_polls(
    client: RetabClient, server: LocalRetab
) -> None:
    handle = await client.classifications.start(INVOICE, CATEGORIES)
    twin = client.classifications.handle(handle.id)
    async with anyio.create_task_group() as tg:
        tg.start_soon(handle.wait)
        tg.start_soon(twin.wait)
    gets = server.by_operation("get")
    assert len([g for g in gets if g.query == [("include_output", "true")]]) == 1
    assert twin.record == handle.record


@pytest.mark.retab_server(run_time=0.5)
async def test_a_429_slows_every_poll(server: LocalRetab) -> None:
    # One poll in flight at a time: every poll after the 429 was sent after it was received.
    policy = PollPolicy(strategy="get", min_interval=0.01, max_in_flight=1)
    retry = RetryPolicy(max_retry_after=5)
    async with make_client(server, poll=policy, retry=retry) as client:
        handles = [await client.classifications.start(INVOICE, CATEGORIES) for _ in range(5)]
        server.set_faults(FaultConfig(rate_limit=1.0, retry_after=0.3, operations={"get"}, limit=1))
        async with anyio.create_task_group() as tg:
            for h in handles:
                tg.start_soon(h.wait)
    gets = server.by_operation("get")
    limited = next(r for r in gets if r.status == 429)
    after = [r for r in gets if r.at > limited.at]
    assert after and min(r.at for r in after) - limited.at >= 0.3


@pytest.mark.retab_server(run_time=0.05)
async def test_polling_interval_grows_with_age(server: LocalRetab) -> None:
    policy = PollPolicy(min_interval=0.01, growth=0.5, jitter=0.0)
    assert policy.interval(0) == 0.01
    assert policy.interval(1.0) == 0.5
    assert policy.interval(100) == policy.max_interval


def test_poll_policy_validation() -> None:
    with pytest.raises(ValueError):
        PollPolicy(min_interval=0)
    with pytest.raises(ValueError):
        PollPolicy(min_interval=2, max_interval=1)
    with pytest.raises(ValueError):
        PollPolicy(strategy="psychic")  # type: ignore[arg-type]


async def test_list_errors_do_not_end_waits() -> None:
    clock = ManualClock()  # rounds are counted on the clock, not by how long they take
    policy = PollPolicy(strategy="list", list_interval=0.02, jitter=0.0)
    faults = FaultConfig(server_error=0.5, operations={"list"})
    async with (
        LocalRetab(run_time=0.3, clock=clock, faults=faults) as server,
        make_client(server, poll=policy, clock=clock) as client,
    ):
        handles = [await client.classifications.start(INVOICE, CATEGORIES) for _ in range(5)]
        async with anyio.create_task_group() as tg:
            for h in handles:
                tg.start_soon(h.wait, 10)
            await clock.drive(client, until=lambda: all(h.done for h in handles))
    assert any(r.fault for r in server.by_operation("list"))
    assert all(h.status == "completed" for h in handles)


def test_a_completed_row_without_its_output_is_fetched_instead() -> None:
    from retab_async import Classification, ClassificationDecision
    from retab_async._runs.primitive import CLASSIFICATIONS

    bare_row = Classification(id="c", status="completed")
    assert not CLASSIFICATIONS.has_result(bare_row)
    full_row = Classification(
        id="c", status="completed", output=ClassificationDecision(category="a")
    )
    assert CLASSIFICATIONS.has_result(full_row)
