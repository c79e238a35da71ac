"""Every fault kind, alone and mixed, against every operation: each call succeeds or
raises a documented error within its deadline; no create ever makes two runs; every
input of a batch is accounted for exactly once."""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Awaitable, Callable

import anyio
import pytest

from retab_async import (
    APIStatusError,
    DecodeError,
    PollPolicy,
    RetabClient,
    RetabError,
    RetryPolicy,
    RunError,
    TransportError,
)
from retab_async.testing import FaultConfig, LocalRetab

from ..conftest import CATEGORIES, INVOICE

DOCUMENTED = (TransportError, APIStatusError, DecodeError, RunError)
RATE = 0.35

FAULTS: dict[str, FaultConfig] = {
    "rate_limit": FaultConfig(rate_limit=RATE, retry_after=0),
    "server_error": FaultConfig(server_error=RATE),
    "disconnect": FaultConfig(disconnect=RATE),
    "slow": FaultConfig(slow=RATE, slow_seconds=0.3),
    "truncated": FaultConfig(truncated=RATE),
    "not_found": FaultConfig(not_found=RATE, not_found_window=0.5),
    "mixed": FaultConfig.mixed(0.5, retry_after=0, slow_seconds=0.3, not_found_window=0.5),
}

Workload = Callable[[RetabClient, LocalRetab], Awaitable[Counter[str]]]


async def _attempt(outcomes: Counter[str], call: Callable[[], Awaitable[object]]) -> None:
    try:
        await call()
    except DOCUMENTED as exc:
        outcomes[type(exc).__name__] += 1
    else:
        outcomes["ok"] += 1


async def _seed_runs(server: LocalRetab, n: int) -> list[str]:
    faults = server.config.faults
    server.set_faults(FaultConfig())
    async with RetabClient(server.api_key, server.base_url) as setup:
        ids = [(await setup.classifications.create(INVOICE, CATEGORIES)).id for _ in range(n)]
    server.set_faults(faults)
    return ids


async def create(client: RetabClient, server: LocalRetab) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    for background in (True, False) * 6:
        await _attempt(
            outcomes,
            lambda b=background: client.classifications.create(INVOICE, CATEGORIES, background=b),
        )
    return outcomes


async def _each_run(server: LocalRetab, call: Callable[[str], Awaitable[object]]) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    for run_id in await _seed_runs(server, 20):
        await _attempt(outcomes, lambda r=run_id: call(r))
    return outcomes


async def get(client: RetabClient, server: LocalRetab) -> Counter[str]:
    return await _each_run(server, client.classifications.get)


async def listing(client: RetabClient, server: LocalRetab) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    await _seed_runs(server, 7)

    async def walk() -> None:
        found = [c.id async for c in client.classifications.list(limit=2)]
        assert len(found) == 7

    for _ in range(4):
        await _attempt(outcomes, walk)
    return outcomes


async def cancel(client: RetabClient, server: LocalRetab) -> Counter[str]:
    return await _each_run(server, client.classifications.cancel)


async def wait(client: RetabClient, server: LocalRetab) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    handles = []
    for _ in range(8):
        try:
            handles.append(await client.classifications.start(INVOICE, CATEGORIES))
        except DOCUMENTED as exc:
            outcomes[f"start:{type(exc).__name__}"] += 1
    async with anyio.create_task_group() as tg:
        for handle in handles:
            tg.start_soon(_attempt, outcomes, lambda h=handle: h.wait(timeout=8))
    return outcomes


async def batch(client: RetabClient, server: LocalRetab) -> Counter[str]:
    inputs = [(f"doc{i}.txt", f"invoice {i}".encode()) for i in range(12)]
    keys: list[str] = []
    outcomes: Counter[str] = Counter()
    async with client.classifications.map(inputs, CATEGORIES, concurrency=4) as results:
        async for result in results:
            keys.append(result.key)
            outcomes["ok" if result.ok else type(result.error).__name__] += 1
            assert result.ok or isinstance(result.error, RetabError)
    assert sorted(keys) == sorted(k for k, _ in inputs)  # each input exactly once
    return outcomes


WORKLOADS: dict[str, Workload] = {
    "create": create,
    "get": get,
    "list": listing,
    "cancel": cancel,
    "wait": wait,
    "map": batch,
}


# Read-after-write 404s only exist for reads of one run.
SCENARIOS = [
    (fault, workload)
    for fault in FAULTS
    for workload in WORKLOADS
    if not (fault == "not_found" and workload in ("create", "list"))
]


@pytest.mark.parametrize(("fault", "workload"), SCENARIOS, ids=[f"{f}-{w}" for f, w in SCENARIOS])
async def test_fault_matrix(fault: str, workload: str) -> None:
    faults = FAULTS[fault]
    seed = zlib.crc32(f"{fault}-{workload}".encode()) % 1000
    async with LocalRetab(run_time=(0.02, 0.1), seed=seed, faults=faults) as server:
        client = RetabClient(
            server.api_key,
            server.base_url,
            timeout=0.2,
            retry=RetryPolicy.for_tests(attempts=8),
            poll=PollPolicy(min_interval=0.01, max_interval=0.05, list_interval=0.05),
        )
        async with client:
            with anyio.fail_after(30):
                outcomes = await WORKLOADS[workload](client, server)
        injected = Counter(r.fault for r in server.requests if r.fault)
        runs_by_key = Counter(run.idempotency_key for run in server.runs if run.idempotency_key)
    assert injected, "the scenario injected no fault"
    assert all(count == 1 for count in runs_by_key.values()), "a create made two runs"
    creates = {r.headers.get("idempotency-key") for r in server.by_operation("create")}
    assert set(runs_by_key) <= creates
    assert outcomes["ok"] > 0, outcomes
