"""Deadlines hold under a far ``Retry-After`` and a stalled server.

The local server injects the 429s and stalls. Each case is set up so that the
behaviour it guards against takes far longer (a 50 s pause, a 20 s request
timeout, a 2 s stall) than the deadline under test (at most 0.5 s), and the
``fail_after`` guards only stop a regression from hanging the suite: the outcome
does not depend on the speed of the machine.
"""

from __future__ import annotations

import anyio
import pytest

from retab_async import (
    PauseTimeout,
    RateLimitError,
    RequestTimeout,
    RetryPolicy,
    UsageError,
    WaitTimeout,
)
from retab_async.testing import FaultConfig, LocalRetab

from .conftest import CATEGORIES, INVOICE, make_client

FAR = 50.0  # a Retry-After no test may sit out


def _far_429(operation: str) -> FaultConfig:
    return FaultConfig(rate_limit=1.0, retry_after=FAR, operations={operation}, limit=1)


async def test_a_far_pause_fails_a_request_at_its_deadline_without_sending_it(
    server: LocalRetab,
) -> None:
    server.set_faults(_far_429("list"))
    async with make_client(server, timeout=2, retry=RetryPolicy(timeout=5)) as client:
        with pytest.raises(RateLimitError):
            await client.classifications.list_page()  # pauses the client for 50 s
        with anyio.fail_after(10), pytest.raises(PauseTimeout) as info:
            await client.classifications.get("clss_1")
    assert FAR - 10 < info.value.retry_after <= FAR
    assert "paused" in str(info.value) and isinstance(info.value, RequestTimeout)
    assert [r.operation for r in server.requests] == ["list"]  # nothing sent in the pause


async def test_a_pause_past_the_request_timeout_but_within_the_budget_is_waited_out(
    server: LocalRetab,
) -> None:
    server.set_faults(FaultConfig(rate_limit=1.0, retry_after=0.5, operations={"list"}, limit=1))
    policy = RetryPolicy(timeout=30, wait_jitter=0)
    async with make_client(server, timeout=0.2, retry=policy) as client:
        page = await client.classifications.list_page()  # 429, then sent after the pause
    assert page.data == []
    limited, sent = server.requests
    assert (limited.status, sent.status) == (429, 200)
    assert sent.at - limited.at >= 0.5


@pytest.mark.retab_server(run_time=30)
async def test_a_far_pause_does_not_hold_back_the_cleanup_cancel(server: LocalRetab) -> None:
    async with make_client(server, retry=RetryPolicy(timeout=5)) as client:
        with anyio.fail_after(8), pytest.raises(RateLimitError):
            async with client.classifications.run(INVOICE, CATEGORIES) as handle:
                server.set_faults(_far_429("get"))
                await handle.refresh()  # 429: leaves the block with the client paused
        assert client._transport.paused_for > FAR - 10
        assert handle.status == "cancelled"
    (run,) = server.runs
    assert run.status == "cancelled"
    assert [r.operation for r in server.requests] == ["create", "get", "cancel"]


async def test_the_retry_budget_cuts_short_an_attempt_in_flight(server: LocalRetab) -> None:
    server.set_faults(FaultConfig(slow=1.0, slow_seconds=2, operations={"list"}))
    policy = RetryPolicy(timeout=0.3, wait_jitter=0)
    async with make_client(server, timeout=20, retry=policy) as client:
        with anyio.fail_after(15), pytest.raises(RequestTimeout):
            await client.classifications.list_page()
    assert len(server.by_operation("list")) == 1  # no retry can start past the budget


@pytest.mark.retab_server(run_time=30)
async def test_wait_with_cancel_on_timeout_is_bounded_by_the_cancel_grace(
    server: LocalRetab,
) -> None:
    server.set_faults(FaultConfig(slow=1.0, slow_seconds=2, operations={"cancel"}))
    async with make_client(server) as client:
        handle = await client.classifications.start(INVOICE, CATEGORIES)
        with anyio.fail_after(15), pytest.raises(WaitTimeout) as info:
            await handle.wait(timeout=0.1, cancel_on_timeout=True, cancel_grace=0.3)
        assert info.value.cancelled is False  # the cancel's answer did not come in time
        with pytest.raises(UsageError, match="cancel_grace"):
            await handle.wait(timeout=0.1, cancel_on_timeout=True, cancel_grace=-1)
    assert len(server.by_operation("cancel")) == 1
