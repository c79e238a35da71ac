"""Where the memory of many concurrent waits goes (a diagnostic tool, not a benchmark).

Starts ``N`` waits as ``bench_waits.py`` does (one task per run: ``start()`` with
a realistic create, then ``handle.wait(timeout=...)``), against a counterpart
whose runs outlast the measurement, so that all ``N`` are waiting at once. Then,
in this process:

* RSS: before the client, its peak while creating, and once everything waits;
* Python objects per wait, by type (``gc`` objects counted before and while
  waiting, ``sys.getsizeof`` summed), which covers the tracked containers;
* with ``--trace``, tracemalloc's allocations alive while waiting, grouped by
  source line (``--group traceback`` for the top tracebacks), per wait.

The waits are then cancelled (the runs keep going on the server) and the
client closed.

``--timeline`` instead runs ``bench_waits.py``'s own measurement of retab-async
(runs of 2-10 s) and prints, every half second, the RSS growth beside glibc's
heap (``mallinfo2``: the heap's size, its mmapped blocks, the bytes in use)
and the runs watched: RSS beyond glibc's share is CPython's object allocator
(pymalloc arenas), which follows the waits; glibc's share are the large
blocks, the response bodies of list pages.

    python benchmarks/mem_waits.py [-n 10000] [--trace] [--group lineno|traceback]
    python benchmarks/mem_waits.py --timeline [-n 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ctypes
import gc
import sys
import threading
import time
import tracemalloc
from typing import Any

import anyio
import anyio.lowlevel
from _common import API_KEY, counterpart, current_rss_mb, peak_rss_mb, pin_self
from _records import CATEGORIES, DOCUMENT

from retab_async import RetabClient

CREATES_IN_FLIGHT = 100


def _census() -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for obj in gc.get_objects():
        counts[type(obj).__qualname__] += 1
    return counts


def _sizes() -> dict[str, tuple[int, int]]:
    sizes: dict[str, list[int]] = {}
    for obj in gc.get_objects():
        row = sizes.setdefault(type(obj).__qualname__, [0, 0])
        row[0] += 1
        row[1] += sys.getsizeof(obj)
    return {k: (c, s) for k, (c, s) in sizes.items()}


async def _measure(url: str, n: int, args: argparse.Namespace) -> None:
    gc.collect()
    before_sizes = _sizes()
    rss0 = current_rss_mb()
    snap0 = tracemalloc.take_snapshot() if tracemalloc.is_tracing() else None
    t0 = time.monotonic()
    async with RetabClient(API_KEY, url) as client:
        creating = asyncio.Semaphore(CREATES_IN_FLIGHT)
        started = 0

        async def one() -> None:
            nonlocal started
            try:
                handle = await client.classifications.start(DOCUMENT, CATEGORIES, n_consensus=5)
            finally:
                creating.release()
            started += 1
            await handle.wait(timeout=3600.0)

        tasks = []
        for _ in range(n):
            await creating.acquire()
            tasks.append(asyncio.create_task(one()))
        while started < n or client.poller.watching < n:
            await asyncio.sleep(0.05)
        creates_s = time.monotonic() - t0
        rss_peak_creating = peak_rss_mb()
        await asyncio.sleep(args.settle)  # a few list rounds while everything waits
        gc.collect()
        rss_waiting = current_rss_mb()
        snap1 = tracemalloc.take_snapshot() if snap0 is not None else None
        after_sizes = _sizes()
        print(
            f"N={n}: creates took {creates_s:.1f} s; RSS before {rss0:.1f} MB, "
            f"peak so far +{rss_peak_creating - rss0:.1f} MB (peak RSS is since start), "
            f"waiting +{rss_waiting - rss0:.1f} MB = {(rss_waiting - rss0) * 2**20 / n:.0f} B/wait"
        )
        print(f"poller: {client.poller.stats}")
        print("\nPython objects per wait (gc-tracked; count, sys.getsizeof bytes):")
        rows = []
        for kind, (count, size) in after_sizes.items():
            c0, s0 = before_sizes.get(kind, (0, 0))
            if count - c0 >= n // 2:
                rows.append((size - s0, kind, count - c0))
        rows.sort(reverse=True)
        total = 0
        for size, kind, count in rows:
            total += size
            print(f"  {kind:<40} {count / n:6.2f}/wait {size / n:8.0f} B/wait")
        print(f"  {'(total of these)':<40} {'':>11} {total / n:8.0f} B/wait")
        if snap0 is not None and snap1 is not None:
            key = args.group
            stats = snap1.compare_to(snap0, key)
            grown = sum(s.size_diff for s in stats)
            print(
                f"\ntracemalloc: +{grown / 2**20:.1f} MB alive = {grown / n:.0f} B/wait; "
                f"top by {key}:"
            )
            for stat in stats[: args.top]:
                if key == "traceback":
                    print(
                        f"  {stat.size_diff / n:8.0f} B/wait {stat.count_diff / n:6.2f} blocks/wait"
                    )
                    for line in stat.traceback.format(limit=args.depth):
                        print("     " + line)
                else:
                    frame = stat.traceback[0]
                    where = f"{frame.filename.split('site-packages/')[-1]}:{frame.lineno}"
                    print(
                        f"  {stat.size_diff / n:8.0f} B/wait {stat.count_diff / n:6.2f} "
                        f"blocks/wait  {where}"
                    )
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        print(f"\nafter cancelling every wait: poller watching {client.poller.watching}")
    print(f"peak RSS growth over the whole run: {peak_rss_mb() - rss0:.1f} MB")


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in [
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        ]
    ]


def _glibc() -> tuple[float, float, float]:
    """glibc's heap size, mmapped blocks and bytes in use, in MB (zeros elsewhere)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return 0.0, 0.0, 0.0
    return info.arena / 2**20, info.hblkhd / 2**20, info.uordblks / 2**20


def timeline(n: int) -> None:
    """RSS and glibc's share of it over one ``bench_waits`` measurement of ``n`` runs."""
    import bench_waits

    from retab_async._runs.poller import Poller

    samples: list[tuple[float, float, float, float, float, int]] = []
    stop = threading.Event()
    watched: list[Any] = []

    def sample() -> None:
        while not stop.wait(0.05):
            watching = watched[-1].watching if watched else 0
            samples.append((time.monotonic(), current_rss_mb(), *_glibc(), watching))

    # Only to read how many runs are watched: the client is bench_waits' own.
    original = Poller.__init__

    def remember(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        watched.append(self)

    Poller.__init__ = remember  # type: ignore[method-assign]
    rss0, glibc0 = current_rss_mb(), _glibc()
    thread = threading.Thread(target=sample, daemon=True)
    start = time.monotonic()
    thread.start()
    try:
        result = bench_waits.measure_here("retab-async", n, 0.0, (2.0, 10.0))
    finally:
        stop.set()
        thread.join()
    print(
        f"N={n}: peak RSS growth {result['rss_growth_mb']:.1f} MB (bench_waits' figure); "
        f"glibc at start: heap {glibc0[0]:.1f} MB, in use {glibc0[2]:.1f} MB"
    )
    print(f"{'t':>6} {'RSS+':>6} {'heap':>6} {'mmap':>6} {'in use':>6} {'watched':>7}")
    peak = max(samples, key=lambda row: row[1])
    for row in [*samples[::10], peak]:
        t, rss, heap, mapped, used, watching = row
        label = "  <- peak" if row is peak else ""
        print(
            f"{t - start:5.1f}s {rss - rss0:6.1f} {heap:6.1f} {mapped:6.1f} {used:6.1f} "
            f"{watching:7d}{label}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000)
    parser.add_argument("--trace", action="store_true", help="tracemalloc (slow)")
    parser.add_argument("--group", default="lineno", choices=["lineno", "filename", "traceback"])
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--timeline", action="store_true", help="RSS over a bench_waits run")
    args = parser.parse_args()
    print(pin_self())
    if args.timeline:
        timeline(args.n)
        return
    anyio.run(anyio.lowlevel.checkpoint)  # anyio loads its backend on first use: not a wait's
    if args.trace:
        tracemalloc.start(args.depth if args.group == "traceback" else 1)
    with counterpart("--durations", "3000", "3000") as server:
        asyncio.run(_measure(server.url, args.n, args))


if __name__ == "__main__":
    main()
