"""Soak: 5,000 documents through ``map()`` under 20% mixed faults (``nox -s soak``; not in CI).

Reports runs lost (inputs without a result: must be 0), duplicates (inputs with
more than one run on the server: must be 0), inputs that ended in an error,
requests per run, peak RSS, and open file descriptors at the start and the end.

    python benchmarks/soak.py [N] [FAULT_RATE]
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter

from _common import API_KEY, fetch_json, local_server, peak_rss_mb

from retab_async import PollPolicy, RetabClient, RetryPolicy


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def soak(base: str, n: int) -> tuple[Counter[str], list[str], float]:
    docs = [(f"soak{i:05d}.txt", f"invoice number {i}, amount due".encode()) for i in range(n)]
    outcomes: Counter[str] = Counter()
    keys: list[str] = []
    retry = RetryPolicy(
        attempts=10, timeout=60, wait_initial=0.05, wait_max=1.0, max_retry_after=1.0
    )
    started = time.monotonic()
    client = RetabClient(API_KEY, base, timeout=2.0, retry=retry, poll=PollPolicy())
    async with client:
        results = client.classifications.map(docs, ["invoice", "receipt"], concurrency=100)
        async with results:
            async for result in results:
                keys.append(result.key)
                outcomes["ok" if result.ok else type(result.error).__name__] += 1
    return outcomes, keys, time.monotonic() - started


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    rate = sys.argv[2] if len(sys.argv) > 2 else "0.2"
    fds_start = open_fds()
    args = (
        "--run-time",
        "0.2",
        "--run-time-max",
        "1.0",
        "--fault-rate",
        rate,
        "--retry-after",
        "0.1",
    )
    with local_server(*args, "--log-limit", "10000000", "--seed", "21") as (base, _):
        outcomes, keys, elapsed = asyncio.run(soak(base, n))
        runs = fetch_json(base + "/_local/runs")["runs"]
        requests = fetch_json(base + "/_local/requests")
    fds_end = open_fds()
    per_file = Counter(run["filename"] for run in runs)
    expected = {f"soak{i:05d}.txt" for i in range(n)}
    lost = len(expected - set(keys))
    duplicates = sum(1 for count in per_file.values() if count > 1)
    faults = Counter(r["fault"] for r in requests if r["fault"])
    print(f"{n} documents through map(), {float(rate):.0%} mixed faults, {elapsed:.1f} s")
    print(f"faults injected: {dict(faults)}")
    print(f"outcomes: {dict(outcomes)}")
    print(f"results: {len(keys)} for {n} inputs, each once: {len(set(keys)) == len(keys) == n}")
    print(f"runs lost: {lost} (must be 0); duplicate runs: {duplicates} (must be 0)")
    per_run = len(requests) / max(len(runs), 1)
    print(f"runs on the server: {len(runs)}; requests per run: {per_run:.2f}")
    print(f"peak RSS: {peak_rss_mb():.0f} MB; open fds at start {fds_start}, at end {fds_end}")


if __name__ == "__main__":
    main()
