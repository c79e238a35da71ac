"""The injectable clock: a manual clock decides when sleeps, deadlines and polls happen."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from retab_async import Clock, PollPolicy, RetabClient, WaitTimeout
from retab_async._clock import SYSTEM_CLOCK
from retab_async.testing import LocalRetab, ManualClock

from .clocked import drive, settle
from .conftest import CATEGORIES, INVOICE, make_client


def test_both_clocks_are_clocks() -> None:
    assert isinstance(SYSTEM_CLOCK, Clock)
    assert isinstance(ManualClock(), Clock)
    client = RetabClient("k", "http://127.0.0.1:1")
    assert client.clock is SYSTEM_CLOCK


async def test_sleep_returns_only_when_advanced_far_enough() -> None:
    clock = ManualClock(start=100.0)
    woke: list[float] = []

    async def sleeper(seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(clock.now())

    async with anyio.create_task_group() as tg:
        tg.start_soon(sleeper, 2.0)
        tg.start_soon(sleeper, 1.0)
        await anyio.lowlevel.checkpoint()
        assert clock.pending == 2 and clock.next_due == 101.0
        clock.advance(0.5)
        await anyio.lowlevel.checkpoint()
        assert woke == []
        clock.advance(0.5)
        await anyio.lowlevel.checkpoint()
        assert woke == [101.0]
        assert clock.advance_to_next() == 1.0
    assert woke == [101.0, 102.0]
    assert clock.pending == 0 and clock.next_due is None


async def test_move_on_after_is_cancelled_by_the_clock_only() -> None:
    clock = ManualClock()
    reached = False
    async with anyio.create_task_group() as tg:

        async def waiter() -> None:
            nonlocal reached
            with clock.move_on_after(3.0) as scope:
                await anyio.sleep_forever()
            reached = scope.cancelled_caught

        tg.start_soon(waiter)
        await anyio.sleep(0.01)  # real time passes; the manual clock does not
        assert not reached
        clock.advance(3.0)
    assert reached
    assert clock.pending == 0


async def test_a_left_scope_leaves_no_timer_and_time_never_goes_back() -> None:
    clock = ManualClock()
    with clock.move_on_after(5.0):
        pass
    assert clock.pending == 0
    with clock.move_on_after(0) as scope:
        await anyio.lowlevel.checkpoint()
    assert scope.cancelled_caught
    with pytest.raises(ValueError):
        clock.advance(-1)


async def test_wait_timeout_is_decided_by_the_clock() -> None:
    clock = ManualClock()
    # 0.05 s apart at first, then 15% of the run's age
    policy = PollPolicy(jitter=0.0, min_interval=0.05, growth=0.15, max_interval=5.0)
    async with (
        LocalRetab(run_time=30, clock=clock) as server,
        make_client(server, clock=clock, poll=policy) as client,
    ):
        handle = await client.classifications.start(INVOICE, CATEGORIES)
        outcome: list[BaseException] = []

        async def wait() -> None:
            try:
                await handle.wait(timeout=5, cancel_on_timeout=True)
            except WaitTimeout as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await drive(clock, client, lambda: bool(outcome))
        error = outcome[0]
        assert isinstance(error, WaitTimeout)
        assert error.elapsed == 5.0 and error.cancelled
        assert clock.now() == 5.0
        assert server.runs[0].status == "cancelled"
        # Polls were spaced by the run's age on the clock: few, and none after the deadline.
        gets = server.by_operation("get")
        assert 15 <= len(gets) <= 40, len(gets)


async def test_a_run_is_seen_complete_at_the_first_poll_after_it_ends() -> None:
    clock = ManualClock()
    async with (
        LocalRetab(run_time=2.0, clock=clock) as server,
        make_client(server, clock=clock) as client,
    ):
        handle = await client.classifications.start(INVOICE, CATEGORIES)
        done: list[str] = []

        async def wait() -> None:
            done.append((await handle.wait()).status)

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await settle(client)
            await drive(clock, client, lambda: bool(done))
        assert done == ["completed"]
        lag = clock.now() - 2.0
        assert 0 <= lag <= client.poller.policy.base_interval(2.0) * 1.2
