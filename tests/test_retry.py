"""The retry policy, against a real server injecting faults."""

from __future__ import annotations

import pytest

from retab_async import (
    AuthenticationError,
    ConnectError,
    DecodeError,
    RateLimitError,
    RequestTimeout,
    RetryPolicy,
    ServerError,
    UnprocessableEntityError,
)
from retab_async.testing import FaultConfig, LocalRetab

from .conftest import CATEGORIES, INVOICE, make_client


def test_policy_validation_and_backoff() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(timeout=0)
    policy = RetryPolicy(wait_initial=0.1, wait_max=0.5, wait_jitter=0.0, max_retry_after=2)
    assert [policy.backoff(n) for n in (1, 2, 3, 4, 5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert policy.backoff(1, retry_after=1.5) == 1.5
    assert policy.backoff(1, retry_after=99) == 2
    jittered = RetryPolicy(wait_initial=0.1, wait_jitter=0.05)
    assert all(0.1 <= jittered.backoff(1) <= 0.15 for _ in range(50))


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (FaultConfig(server_error=1.0), ServerError),
        (FaultConfig(rate_limit=1.0, retry_after=0), RateLimitError),
        (FaultConfig(disconnect=1.0), ConnectError),
        (FaultConfig(truncated=1.0), DecodeError),
        (FaultConfig(slow=1.0, slow_seconds=4.0), RequestTimeout),
    ],
    ids=["5xx", "429", "disconnect", "truncated", "slow"],
)
async def test_transient_faults_are_retried_then_raised(
    server: LocalRetab, fault: FaultConfig, error: type[Exception]
) -> None:
    server.set_faults(fault)
    # Only the stalled server needs a short timeout, and it stalls far longer than that
    # timeout: every attempt reaches the server first, however slow the machine.
    timeout = 1.0 if fault.slow else 10.0
    policy = RetryPolicy.for_tests(attempts=3)
    async with make_client(server, retry=policy, timeout=timeout) as client:
        with pytest.raises(error):
            await client.classifications.list_page()
    assert len(server.by_operation("list")) == 3


async def test_a_fault_then_success(server: LocalRetab) -> None:
    server.set_faults(FaultConfig(server_error=0.5))
    async with make_client(server, retry=RetryPolicy.for_tests(attempts=20)) as client:
        for _ in range(10):
            await client.classifications.list_page()
    statuses = [r.status for r in server.requests]
    assert statuses.count(200) == 10 and len(statuses) > 10


@pytest.mark.parametrize(
    ("headers_key", "error", "call"),
    [
        ("wrong", AuthenticationError, "list"),
        (None, UnprocessableEntityError, "create"),
    ],
)
async def test_other_4xx_are_never_retried(
    server: LocalRetab, headers_key: str | None, error: type[Exception], call: str
) -> None:
    from retab_async import RetabClient

    key = headers_key or server.api_key
    async with RetabClient(key, server.base_url, retry=RetryPolicy.for_tests()) as client:
        with pytest.raises(error):
            if call == "list":
                await client.classifications.list_page()
            else:
                from retab_async import MIMEData

                # the server refuses this extension; the client lets MIMEData through as given
                await client.classifications.create(
                    MIMEData(filename="a.txt", url="data:text/plain;base64,@@"), CATEGORIES
                )
    assert len(server.requests) == 1


async def test_retry_after_is_honoured(server: LocalRetab) -> None:
    server.set_faults(FaultConfig(rate_limit=1.0, retry_after=0.3, operations={"list"}))
    policy = RetryPolicy(attempts=2, wait_jitter=0, max_retry_after=5)
    async with make_client(server, retry=policy) as client:
        with pytest.raises(RateLimitError) as info:
            await client.classifications.list_page()
    assert info.value.retry_after == pytest.approx(0.3)
    first, second = server.requests
    assert second.at - first.at >= 0.3  # the server saw the retry only after Retry-After


async def test_total_time_budget_stops_retrying(server: LocalRetab) -> None:
    server.set_faults(FaultConfig(server_error=1.0))
    policy = RetryPolicy(attempts=100, timeout=0.3, wait_initial=0.1, wait_jitter=0, wait_max=0.1)
    async with make_client(server, retry=policy) as client:
        with pytest.raises(ServerError):
            await client.classifications.list_page()
    assert 2 <= len(server.requests) <= 4


@pytest.mark.retab_server(seed=11)
async def test_creates_under_faults_make_exactly_one_run_each(server: LocalRetab) -> None:
    server.set_faults(
        FaultConfig(
            server_error=0.15, disconnect=0.15, truncated=0.15, rate_limit=0.1, retry_after=0
        )
    )
    n = 40
    async with make_client(server, retry=RetryPolicy.for_tests(attempts=12)) as client:
        records = [
            await client.classifications.create(INVOICE, CATEGORIES, background=True)
            for _ in range(n)
        ]
    creates = server.by_operation("create")
    assert len(creates) > n  # some were retried...
    assert len(server.runs) == n  # ...and still exactly one run per create
    assert len({r.id for r in records}) == n
    keys = {r.headers["idempotency-key"] for r in creates}
    assert len(keys) == n  # one key per logical create, reused on its retries


async def test_caller_supplied_idempotency_key_is_sent(server: LocalRetab) -> None:
    async with make_client(server) as client:
        first = await client.classifications.create(INVOICE, CATEGORIES, idempotency_key="order-17")
        again = await client.classifications.create(INVOICE, CATEGORIES, idempotency_key="order-17")
    assert first.id == again.id
    assert [r.headers["idempotency-key"] for r in server.requests] == ["order-17", "order-17"]


async def test_a_429_pauses_every_request_of_the_client(server: LocalRetab) -> None:
    server.set_faults(FaultConfig(rate_limit=1.0, retry_after=0.3, operations={"list"}))
    async with make_client(server, retry=RetryPolicy.never()) as client:
        with pytest.raises(RateLimitError):
            await client.classifications.list_page()
        server.set_faults(FaultConfig())
        await client.classifications.create(INVOICE, CATEGORIES)
    limited, create = server.requests
    assert create.at - limited.at >= 0.3
