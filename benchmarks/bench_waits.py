"""10,000 concurrent waits in one process, run times random in 2-10 s.

Starts N runs against the local server (its own process) and waits for all of
them at once through one client's shared poller; then does the same with a
naive per-run loop (fixed 1 s ``sleep`` + ``get``, as users write by hand).
Measured per strategy: results correct, HTTP requests per run (counted by the
server, create and final fetch included), p95 detection lag (the server's
scheduled end of a run -> ``wait()`` returns), and peak RSS growth of the client.

Targets: <= 3 requests per run, p95 lag <= 1 s, RSS growth <= 100 MB; against the
naive loop >= 3x fewer requests with no worse p95 lag.

    python benchmarks/bench_waits.py [N]
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections import Counter

import anyio

from _common import API_KEY, current_rss_mb, local_server, p95, peak_rss_mb, server_json, verdict
from retab_async import RetabClient, RunHandle

DOC = ("invoice.txt", b"INVOICE number 1, amount due")
CATEGORIES = ["invoice", "receipt", "letter"]
CREATES_IN_FLIGHT = 100


async def start_then(client: RetabClient, limiter: anyio.CapacityLimiter, wait) -> None:  # type: ignore[no-untyped-def]
    """Start one run (creates are bounded) and wait for it at once, as a user's task would."""
    async with limiter:
        handle = await client.classifications.start(DOC, CATEGORIES)
    await wait(handle)


async def shared_poller(client: RetabClient, handle: RunHandle, done: dict) -> None:  # type: ignore[type-arg]
    record = await handle.wait(timeout=120)
    done[handle.id] = (time.time(), record.category)


async def naive_loop(client: RetabClient, handle: RunHandle, done: dict) -> None:  # type: ignore[type-arg]
    for _ in range(600):
        await anyio.sleep(1.0)
        record = await client.classifications.get(handle.id)
        if record.done:
            done[handle.id] = (time.time(), record.category)
            return
    raise TimeoutError(handle.id)


async def run(base: str, n: int, strategy: str) -> dict[str, float]:
    gc.collect()
    rss_before = current_rss_mb()
    requests_before = server_json(base, "/_local/requests")
    seen_before = len(requests_before)
    done: dict[str, tuple[float, str | None]] = {}
    waiter = shared_poller if strategy == "shared poller" else naive_loop
    async with RetabClient(API_KEY, base, max_connections=200) as client:
        started = time.monotonic()
        limiter = anyio.CapacityLimiter(CREATES_IN_FLIGHT)
        async with anyio.create_task_group() as tg:
            for _ in range(n):
                tg.start_soon(start_then, client, limiter, lambda h: waiter(client, h, done))
        elapsed = time.monotonic() - started
    runs = {r["id"]: r for r in server_json(base, "/_local/runs")["runs"]}
    requests = len(server_json(base, "/_local/requests")) - seen_before
    lags = [at - runs[run_id]["finishes_at"] for run_id, (at, _) in done.items()]
    outcomes = Counter(category for _, category in done.values())
    assert outcomes == Counter({"invoice": n}), outcomes
    return {
        "requests_per_run": requests / n,
        "p95_lag": p95(lags),
        "max_lag": max(lags),
        "rss_growth": peak_rss_mb() - rss_before,
        "elapsed": elapsed,
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    args = ("--run-time", "2", "--run-time-max", "10", "--seed", "3", "--log-limit", "10000000")
    results = {}
    # The shared poller first: its RSS figure must not include the naive loop's.
    for strategy in ("shared poller", "naive 1 s loop"):
        with local_server(*args) as base:
            results[strategy] = asyncio.run(run(base, n, strategy))
    print(f"{n} concurrent waits, run times 2-10 s, one client process")
    for strategy, r in results.items():
        print(
            f"{strategy:<15} requests/run {r['requests_per_run']:5.2f}  p95 lag {r['p95_lag']:.3f} s  "
            f"max lag {r['max_lag']:.3f} s  peak RSS growth {r['rss_growth']:6.1f} MB  total {r['elapsed']:.1f} s"
        )
    ours, naive = results["shared poller"], results["naive 1 s loop"]
    fewer = naive["requests_per_run"] / ours["requests_per_run"]
    print(f"requests/run <= 3: {verdict(ours['requests_per_run'] <= 3)}")
    print(f"p95 lag <= 1 s: {verdict(ours['p95_lag'] <= 1.0)}")
    print(f"RSS growth <= 100 MB: {verdict(ours['rss_growth'] <= 100)} (peak RSS is process-wide, measured first)")
    print(f"vs naive: {fewer:.1f}x fewer requests (target >= 3x) {verdict(fewer >= 3)}, "
          f"p95 lag {ours['p95_lag']:.3f} s vs {naive['p95_lag']:.3f} s {verdict(ours['p95_lag'] <= naive['p95_lag'])}")


if __name__ == "__main__":
    main()
