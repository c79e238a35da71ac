"""A batch of 1,000 documents through ``map()``: run times 0.5-2 s, concurrency 100.

Ideal time: the sum of the run times divided by the concurrency, plus one (mean)
run. Targets: total within 1.25x of the ideal; at most 3 HTTP requests per
document on average (counted by the server, creates and final fetches included).

    python benchmarks/bench_batch.py [N] [CONCURRENCY]
"""

from __future__ import annotations

import asyncio
import sys
import time

from _common import API_KEY, local_server, server_json, verdict

from retab_async import RetabClient


async def run(base: str, n: int, concurrency: int) -> tuple[float, int, int]:
    docs = [(f"doc{i:05d}.txt", f"invoice number {i}, amount due".encode()) for i in range(n)]
    async with RetabClient(API_KEY, base) as client:
        started = time.monotonic()
        ok = 0
        async with client.classifications.map(
            docs, ["invoice", "receipt"], concurrency=concurrency
        ) as results:
            async for result in results:
                ok += result.ok
        elapsed = time.monotonic() - started
    requests = len(server_json(base, "/_local/requests"))
    return elapsed, ok, requests


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    args = ("--run-time", "0.5", "--run-time-max", "2.0", "--seed", "11", "--log-limit", "1000000")
    with local_server(*args) as base:
        elapsed, ok, requests = asyncio.run(run(base, n, concurrency))
        runs = server_json(base, "/_local/runs")["runs"]
    durations = [r["finishes_at"] - r["created_at"] for r in runs]
    ideal = sum(durations) / concurrency + sum(durations) / len(durations)
    ratio = elapsed / ideal
    per_doc = requests / n
    print(f"{n} documents, run times 0.5-2 s, concurrency {concurrency}")
    print(f"completed {ok}/{n}, runs on the server {len(runs)}")
    print(f"total {elapsed:.2f} s, ideal {ideal:.2f} s: {ratio:.2f}x", end=" ")
    print(f"(target <= 1.25x) {verdict(ratio <= 1.25)}")
    print(f"requests per document: {per_doc:.2f} (target <= 3) {verdict(per_doc <= 3)}")


if __name__ == "__main__":
    main()
