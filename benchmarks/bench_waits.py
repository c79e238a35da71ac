"""Many concurrent waits in one process: 100, 1,000 and 10,000 runs of 2-10 s each.

Each measurement runs in a fresh client process (so that its peak RSS is its
own) against a fresh ``_counterpart.py`` (its own core, uvloop) whose runs last
2-10 s (uniform, seeded; the first 10% ``queued``, then ``in_progress``, then
``completed``) and carry realistic records (``_records.SHAPE``).

Users' code: one plain asyncio task per run, started as creates are admitted
(100 creates in flight), each awaiting its own result. The harness checks
each result's category and keeps only the time it arrived.

* **retab-async**: ``start()`` then ``handle.wait()``; one client, its shared poller.
* **naive loop**: bare aiohttp + msgspec (``_bare.py``), per run: create, then
  ``sleep(interval)`` + ``GET ?include_output=false`` until terminal, then one
  full ``GET``: the loop with the fewest bytes for its lag. Its interval is
  retab-async's measured p95 lag at the same N, so that both have about the
  same p95 lag (a fixed loop's lag is spread over [0, interval]).

Measured (server side unless said): HTTP requests per run (creates included),
bytes on the wire per run (requests and responses, headers included; also per kind,
with list pages by status), p95 and
p99 lag (the run's scheduled end -> the waiting task has its result), peak RSS
growth of the client, client CPU (``time.process_time``, creates included),
and the counterpart's CPU utilisation.

Targets at 10,000 waits: <= 1.5 requests per run, p95 lag <= 0.5 s, p99 <= 1 s,
bytes per run <= the naive loop's, RSS growth <= 60 MB, client CPU <= 0.3x the
naive loop's. A missed target is printed as MISS; the script never fails on one.

    python benchmarks/bench_waits.py [--quick] [--sizes 100 1000 10000] [--profile N]

``--profile N`` only profiles retab-async waiting for N runs (cProfile, CPU time)
and prints where its client time goes.
"""

from __future__ import annotations

import asyncio
import cProfile
import dataclasses
import gc
import json
import pstats
import subprocess
import sys
import time
from typing import Any

import _bare
import anyio
import anyio.lowlevel
from _common import (
    API_KEY,
    Report,
    by_kind,
    bytes_by_kind,
    counterpart,
    cpu_seconds,
    current_rss_mb,
    peak_rss_mb,
    pin_self,
    quantile,
    totals,
    verdict,
)
from _common import parse_args as _parse_args
from _records import CATEGORIES, DOCUMENT, SHAPE, create_body, expected_category

from retab_async import RetabClient

CREATES_IN_FLIGHT = 100
WAIT_TIMEOUT = 300.0


class Tally:
    """What the harness keeps: when each result arrived, when the last create ended."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.creates_done = 0.0
        self.poller: dict[str, Any] = {}


async def ours(url: str, n: int, interval: float, tally: Tally) -> None:
    async with RetabClient(API_KEY, url) as client:
        creating = asyncio.Semaphore(CREATES_IN_FLIGHT)

        async def one() -> None:
            try:
                handle = await client.classifications.start(DOCUMENT, CATEGORIES, n_consensus=5)
            finally:
                creating.release()
            tally.creates_done = time.monotonic()
            record = await handle.wait(timeout=WAIT_TIMEOUT)
            if record.category != expected_category(record.id):
                raise AssertionError(f"{record.id}: {record.category}")
            tally.arrived[record.id] = time.time()

        await _launch(n, creating, one)
        stats = getattr(client.poller, "stats", None)
        if dataclasses.is_dataclass(stats) and not isinstance(stats, type):
            tally.poller = dataclasses.asdict(stats)


async def naive(url: str, n: int, interval: float, tally: Tally) -> None:
    async with _bare.session() as http:
        creating = asyncio.Semaphore(CREATES_IN_FLIGHT)

        async def one() -> None:
            try:
                # Each create encodes its own body, as one per document would be.
                record = await _bare.create(http, url, _bare.encode(create_body()))
            finally:
                creating.release()
            tally.creates_done = time.monotonic()
            run_id = record.id
            deadline = time.monotonic() + WAIT_TIMEOUT
            while record.status not in _bare.TERMINAL:
                if time.monotonic() > deadline:
                    raise TimeoutError(run_id)
                await asyncio.sleep(interval)
                record = await _bare.get(http, url, run_id, False)
            record = await _bare.get(http, url, run_id, True)
            if record.output is None or record.output.category != expected_category(run_id):
                raise AssertionError(f"{run_id}: {record.output}")
            tally.arrived[run_id] = time.time()

        await _launch(n, creating, one)


async def _launch(n: int, creating: asyncio.Semaphore, one: Any) -> None:
    tasks = []
    for _ in range(n):
        await creating.acquire()
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)


STRATEGIES = {"retab-async": ours, "naive loop": naive}


def measure_here(
    strategy: str, n: int, interval: float, durations: tuple[float, float]
) -> dict[str, Any]:
    """One strategy at one size, in this (fresh) process."""
    low, high = durations
    with counterpart("--durations", str(low), str(high), "--seed", str(n)) as server:
        tally = Tally()
        # Both strategies' modules are imported already (anyio loads its event loop
        # backend on first use: load it now): growth is what waiting costs.
        anyio.run(anyio.lowlevel.checkpoint)
        gc.collect()
        rss0 = current_rss_mb()
        server.reset()
        cpu0, wall0 = cpu_seconds(), time.monotonic()
        asyncio.run(STRATEGIES[strategy](server.url, n, interval, tally))
        cpu, wall = cpu_seconds() - cpu0, time.monotonic() - wall0
        growth = peak_rss_mb() - rss0
        stats = server.stats()
        runs = server.runs()
    arrived = tally.arrived
    assert len(arrived) == n == len(runs), (len(arrived), n, len(runs))
    lags = [arrived[run["id"]] - run["finishes"] for run in runs]
    wire = totals(stats)
    return {
        "requests_per_run": wire["requests"] / n,
        "bytes_per_run": (wire["bytes_in"] + wire["bytes_out"]) / n,
        "kinds": by_kind(stats),
        "kinds_bytes": bytes_by_kind(stats),
        "p50": quantile(lags, 0.5),
        "p95": quantile(lags, 0.95),
        "p99": quantile(lags, 0.99),
        "max": max(lags),
        "rss_growth_mb": growth,
        "cpu_s": cpu,
        "wall_s": wall,
        "server_util": stats["cpu_s"] / stats["wall_s"],
        "interval": interval,
        "creates_s": tally.creates_done - wall0,
        "poller": tally.poller,
    }


def measure(
    strategy: str, n: int, interval: float, durations: tuple[float, float]
) -> dict[str, Any]:
    """One strategy in a fresh process, so that its peak RSS is its own."""
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import bench_waits as b; "
        "print(json.dumps(b.measure_here(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), "
        "(float(sys.argv[5]), float(sys.argv[6])))))"
    )
    argv = [
        sys.executable,
        "-c",
        code,
        sys.path[0],
        strategy,
        str(n),
        str(interval),
        *map(str, durations),
    ]
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{strategy} at {n} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def profile(n: int, durations: tuple[float, float]) -> None:
    """Where retab-async's client CPU goes while waiting for ``n`` runs."""
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    result = measure_here("retab-async", n, 0.0, durations)
    profiler.disable()
    print({k: v for k, v in result.items() if k != "poller"})
    pstats.Stats(profiler).sort_stats("tottime").print_stats(35)


def main() -> None:
    args = _parse_args(
        __doc__,
        sizes={"type": int, "nargs": "+", "default": None},
        profile={"type": int, "metavar": "N", "help": "profile retab-async at N waits"},
    )
    if args.profile:
        profile(args.profile, (2.0, 10.0))
        return
    report = Report("waits", "concurrent waits with realistic records", quick=args.quick)
    sizes = args.sizes or ([10] if args.quick else [100, 1000, 10_000])
    durations = (0.05, 0.15) if args.quick else (2.0, 10.0)
    report.condition(pin_self())
    report.condition(SHAPE)
    report.condition(
        f"runs of {durations[0]:g}-{durations[1]:g} s; one fresh client process and counterpart "
        "(uvloop, own core) per measurement; client on the default asyncio loop"
    )
    header = (
        f"{'N':>6} {'strategy':<12} {'req/run':>7} {'kB/run':>7} {'p50':>6} {'p95':>6} {'p99':>6} "
        f"{'max':>6} {'RSS MB':>7} {'CPU ms/run':>10} {'srv CPU':>7} {'creates':>7} {'wall':>5}  "
        "requests by kind"
    )
    report.line(header)
    results: dict[int, dict[str, dict[str, Any]]] = {}
    # --quick measures in this process: its RSS figures mean nothing, as all its figures.
    run = measure_here if args.quick else measure
    failures: dict[int, str] = {}
    for n in sizes:
        try:
            mine = run("retab-async", n, 0.0, durations)
            interval = max(0.05, mine["p95"])
            theirs = run("naive loop", n, interval, durations)
        except RuntimeError as exc:  # a wait that failed: reported as a miss, never a crash
            failures[n] = str(exc).strip().splitlines()[-1]
            report.line(f"{n:>6} FAILED: {exc}")
            continue
        results[n] = {"retab-async": mine, "naive loop": theirs}
        for name, r in results[n].items():
            label = name if name == "retab-async" else f"naive {interval:.2f}s"
            report.line(
                f"{n:>6} {label:<12} {r['requests_per_run']:7.2f} {r['bytes_per_run'] / 1000:7.1f} "
                f"{r['p50']:6.3f} {r['p95']:6.3f} {r['p99']:6.3f} {r['max']:6.2f} "
                f"{r['rss_growth_mb']:7.1f} {r['cpu_s'] / n * 1000:10.2f} {r['server_util']:7.0%} "
                f"{r['creates_s']:6.1f}s {r['wall_s']:4.0f}s  "
                + " ".join(f"{k}={v}" for k, v in sorted(r["kinds"].items()))
            )
            report.figure(f"{n}/{name}", r)
            report.line(
                f"{'':>6} {'':<12} kB/run by kind: "
                + " ".join(f"{k}={v / n / 1000:.1f}" for k, v in sorted(r["kinds_bytes"].items()))
            )
        if mine["poller"]:
            counters = {k: v for k, v in mine["poller"].items() if isinstance(v, int) and v}
            report.line(
                f"{'':>6} retab-async poller: " + " ".join(f"{k}={v}" for k, v in counters.items())
            )
    for n in sizes:
        if n in failures:
            report.row(f"{n:,} waits", f"failed: {failures[n]}", "every wait completes", False)
        else:
            verdicts(report, n, results[n], final=n == sizes[-1])
    report.write()


def verdicts(report: Report, n: int, r: dict[str, dict[str, Any]], *, final: bool) -> None:
    """PASS/MISS per target at ``n``; the summary table gets the largest ``n``."""
    mine, theirs = r["retab-async"], r["naive loop"]
    checks = [
        (
            "requests/run",
            f"{mine['requests_per_run']:.2f}",
            "<= 1.5",
            mine["requests_per_run"] <= 1.5,
        ),
        ("p95 lag", f"{mine['p95']:.2f} s", "<= 0.5 s", mine["p95"] <= 0.5),
        ("p99 lag", f"{mine['p99']:.2f} s", "<= 1 s", mine["p99"] <= 1.0),
        (
            "bytes/run vs naive at same p95",
            f"{mine['bytes_per_run'] / theirs['bytes_per_run']:.2f}x "
            f"({mine['bytes_per_run'] / 1000:.1f} vs {theirs['bytes_per_run'] / 1000:.1f} kB; "
            f"naive p95 {theirs['p95']:.2f} s)",
            "<= 1.0x",
            mine["bytes_per_run"] <= theirs["bytes_per_run"],
        ),
        ("RSS growth", f"{mine['rss_growth_mb']:.0f} MB", "<= 60 MB", mine["rss_growth_mb"] <= 60),
        (
            "client CPU vs naive",
            f"{mine['cpu_s'] / theirs['cpu_s']:.2f}x "
            f"({mine['cpu_s']:.1f} vs {theirs['cpu_s']:.1f} s)",
            "<= 0.3x",
            mine["cpu_s"] <= 0.3 * theirs["cpu_s"],
        ),
    ]
    report.line(f"\n{n} waits: " + ", ".join(f"{m} {verdict(ok)}" for m, _, _, ok in checks))
    if theirs["p95"] > 1.2 * mine["p95"]:
        report.line(
            f"   the naive loop could not hold a p95 lag of {mine['p95']:.2f} s "
            f"(it reached {theirs['p95']:.2f} s): it sent fewer requests than that lag needs, "
            "so the comparison favours it"
        )
    if final:
        for measure_, value, target, ok in checks:
            report.row(f"{n:,} waits: {measure_}", value, target, ok)


if __name__ == "__main__":
    main()
