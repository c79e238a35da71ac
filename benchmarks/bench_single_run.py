"""Detection lag of a single run lasting 0.3-2 s.

A run ends on the server at a known time (the local server reports it); the lag
is how much later ``wait()`` returns. Target: p95 lag at most
max(0.25 s, 20% of the run's duration). Also prints the requests each run cost,
against a fixed 1 s ``sleep`` + ``get`` loop as users write by hand.
"""

from __future__ import annotations

import asyncio
import time

from _common import API_KEY, local_server, p95, server_json, verdict

from retab_async import RetabClient

RUNS = 40
DOC = ("invoice.txt", b"INVOICE, amount due")


async def one_run(client: RetabClient, base: str) -> tuple[float, float, int]:
    before = client.poller.stats.requests
    handle = await client.classifications.start(DOC, ["invoice", "receipt"])
    await handle.wait(timeout=30)
    returned = time.time()
    runs = {r["id"]: r for r in server_json(base, "/_local/runs")["runs"]}
    run = runs[handle.id]
    duration = run["finishes_at"] - run["created_at"]
    return returned - run["finishes_at"], duration, client.poller.stats.requests - before + 1


async def naive_run(client: RetabClient, base: str) -> tuple[float, float, int]:
    handle = await client.classifications.start(DOC, ["invoice", "receipt"])
    requests = 1
    while True:
        await asyncio.sleep(1.0)
        record = await client.classifications.get(handle.id)
        requests += 1
        if record.done:
            break
    returned = time.time()
    run = {r["id"]: r for r in server_json(base, "/_local/runs")["runs"]}[handle.id]
    return returned - run["finishes_at"], run["finishes_at"] - run["created_at"], requests


async def main_async(base: str) -> None:
    async with RetabClient(API_KEY, base) as client:
        ours = [await one_run(client, base) for _ in range(RUNS)]
        naive = [await naive_run(client, base) for _ in range(RUNS // 4)]
    lags = [lag for lag, _, _ in ours]
    # Each run's allowance: max(0.25 s, 20% of its duration); p95 of lag/allowance <= 1.
    shares = [lag / max(0.25, 0.2 * duration) for lag, duration, _ in ours]
    within = sum(share <= 1.0 for share in shares)
    print(f"{RUNS} single runs of 0.3-2 s, waited one at a time")
    print(f"p95 lag {p95(lags):.3f} s; within max(0.25 s, 20% of duration): {within}/{RUNS}")
    print(f"p95 of lag / allowance: {p95(shares):.2f} (target <= 1) {verdict(p95(shares) <= 1.0)}")
    print(f"requests per run: {sum(r for *_, r in ours) / RUNS:.1f} (create, polls, final fetch)")
    naive_lag = p95([lag for lag, _, _ in naive])
    naive_requests = sum(r for *_, r in naive) / len(naive)
    print(f"naive 1 s loop: p95 lag {naive_lag:.3f} s, {naive_requests:.1f} requests per run")


def main() -> None:
    with local_server("--run-time", "0.3", "--run-time-max", "2.0", "--seed", "7") as base:
        asyncio.run(main_async(base))


if __name__ == "__main__":
    main()
