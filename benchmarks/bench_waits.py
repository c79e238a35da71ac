"""10,000 concurrent waits in one process, run times random in 2-10 s.

Starts N runs against the local server (its own process), one plain asyncio task
per run as users write with ``asyncio.gather``, and waits for all of
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
import json
import subprocess
import sys
import time
from collections import Counter

import anyio
from _common import API_KEY, current_rss_mb, local_server, p95, peak_rss_mb, server_json, verdict

from retab_async import RetabClient, RunHandle

DOC = ("invoice.txt", b"INVOICE number 1, amount due")
CATEGORIES = ["invoice", "receipt", "letter"]
CREATES_IN_FLIGHT = 100


async def start_then(client: RetabClient, creating: anyio.Semaphore, wait) -> None:  # type: ignore[no-untyped-def]
    """Start one run and wait for it at once, as a user's task would."""
    try:
        handle = await client.classifications.start(DOC, CATEGORIES)
    finally:
        creating.release()
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
        creating = anyio.Semaphore(CREATES_IN_FLIGHT)
        tasks = []
        for _ in range(n):  # a plain asyncio task per run, started as creates are admitted
            await creating.acquire()
            tasks.append(
                asyncio.create_task(start_then(client, creating, lambda h: waiter(client, h, done)))
            )
        await asyncio.gather(*tasks)
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


def measure(strategy: str, n: int) -> dict[str, float]:
    """One strategy in a fresh process, so that its peak RSS is its own."""
    code = (
        "import asyncio, json, sys; sys.path.insert(0, 'benchmarks'); import bench_waits as b; "
        f"print(json.dumps(b.measure_here({strategy!r}, {n})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_here(strategy: str, n: int) -> dict[str, float]:
    args = ("--run-time", "2", "--run-time-max", "10", "--seed", "3", "--log-limit", "10000000")
    with local_server(*args) as base:
        return asyncio.run(run(base, n, strategy))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    results = {strategy: measure(strategy, n) for strategy in ("shared poller", "naive 1 s loop")}
    print(f"{n} concurrent waits, run times 2-10 s, one client process per strategy")
    for strategy, r in results.items():
        print(
            f"{strategy:<15} requests/run {r['requests_per_run']:5.2f}  "
            f"p95 lag {r['p95_lag']:.3f} s  max lag {r['max_lag']:.3f} s  "
            f"peak RSS growth {r['rss_growth']:6.1f} MB  total {r['elapsed']:.1f} s"
        )
    ours, naive = results["shared poller"], results["naive 1 s loop"]
    fewer = naive["requests_per_run"] / ours["requests_per_run"]
    print(f"requests/run <= 3: {verdict(ours['requests_per_run'] <= 3)}")
    print(f"p95 lag <= 1 s: {verdict(ours['p95_lag'] <= 1.0)}")
    growth_ok = verdict(ours["rss_growth"] <= 100)
    print(f"RSS growth <= 100 MB: {growth_ok} (the waiting tasks themselves included)")
    print(
        f"vs naive: {fewer:.1f}x fewer requests (target >= 3x) {verdict(fewer >= 3)}, "
        f"p95 lag {ours['p95_lag']:.3f} s vs {naive['p95_lag']:.3f} s "
        f"{verdict(ours['p95_lag'] <= naive['p95_lag'])}"
    )


if __name__ == "__main__":
    main()
