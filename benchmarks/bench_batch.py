"""A batch of 1,000 documents through ``map()``: run times 0.5-2 s, concurrency 100.

Against ``_counterpart.py`` (its own core, realistic records). Ideal time: the
sum of the run times divided by the concurrency, plus one mean run. Targets:
total within 1.25x of the ideal; at most 3 HTTP requests per document on
average (counted by the server, creates and final fetches included).

    python benchmarks/bench_batch.py [--quick] [--documents N] [--concurrency C]
"""

from __future__ import annotations

import asyncio
import time

from _common import API_KEY, Report, counterpart, cpu_seconds, parse_args, pin_self, totals
from _records import CATEGORIES, DOCUMENT, SHAPE, expected_category

from retab_async import RetabClient


async def run(base: str, n: int, concurrency: int) -> tuple[float, int]:
    name, data = DOCUMENT
    docs = [(f"{i:05d}-{name}", data) for i in range(n)]
    async with RetabClient(API_KEY, base) as client:
        started = time.monotonic()
        ok = 0
        async with client.classifications.map(docs, CATEGORIES, concurrency=concurrency) as results:
            async for result in results:
                if result.ok and result.record.category == expected_category(result.record.id):
                    ok += 1
        return time.monotonic() - started, ok


def main() -> None:
    args = parse_args(
        __doc__,
        documents={"type": int, "default": None},
        concurrency={"type": int, "default": None},
    )
    report = Report("batch", "a batch through map()", quick=args.quick)
    n = args.documents or (30 if args.quick else 1000)
    concurrency = args.concurrency or (10 if args.quick else 100)
    low, high = (0.05, 0.2) if args.quick else (0.5, 2.0)
    report.condition(pin_self())
    report.condition(SHAPE)
    with counterpart("--durations", str(low), str(high), "--seed", "11") as server:
        server.reset()
        cpu0 = cpu_seconds()
        elapsed, ok = asyncio.run(run(server.url, n, concurrency))
        cpu = cpu_seconds() - cpu0
        stats = server.stats()
        runs = server.runs()
    durations = [r["finishes"] - r["created"] for r in runs]
    ideal = sum(durations) / concurrency + sum(durations) / len(durations)
    ratio = elapsed / ideal
    wire = totals(stats)
    per_doc = wire["requests"] / n
    report.line(f"{n} documents, run times {low:g}-{high:g} s, concurrency {concurrency}")
    report.line(f"completed and checked {ok}/{n}; runs on the server {len(runs)}")
    report.line(
        f"total {elapsed:.2f} s, ideal {ideal:.2f} s; client CPU {cpu / n * 1e3:.2f} ms/document"
    )
    kb = (wire["bytes_in"] + wire["bytes_out"]) / n / 1000
    report.line(f"bytes on the wire per document: {kb:.1f} kB")
    report.line(f"counterpart CPU {stats['cpu_s'] / stats['wall_s']:.0%} of its core")
    report.figure("elapsed_s", elapsed)
    report.figure("ideal_s", ideal)
    report.figure("requests_per_document", per_doc)
    report.row(f"batch of {n:,}: time vs ideal", f"{ratio:.2f}x", "<= 1.25x", ratio <= 1.25)
    report.row(f"batch of {n:,}: requests/document", f"{per_doc:.2f}", "<= 3", per_doc <= 3)
    report.write()


if __name__ == "__main__":
    main()
