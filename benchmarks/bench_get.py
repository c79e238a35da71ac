"""``client.classifications.get`` against a counterpart server that is never the bottleneck.

Three clients, each fetching the same completed ~6 KB record
(``_records.SHAPE``) from ``_counterpart.py`` (its own process, pinned to its
own core, uvloop, pre-encoded bodies):

* retab-async's ``get()``;
* a bare aiohttp + msgspec loop (``_bare.py``: the same stack without the SDK);
* the official ``retab`` package's ``AsyncRetab`` (when installed).

At 64 requests in flight and at 1, after one uncounted round of every client
(what a process sets up once is then in place). Each measurement: a collected
heap, a fresh event loop and client, a warm-up, then a timed window. Rounds are
many and short (30 of 0.3 s), so that a change in the machine's load hits both
sides alike: in every round retab-async and the bare loop are measured back to
back (which of the two goes first alternates); the official client, in every
third round, before or after that pair. Per client: requests per second, client
CPU per request (``time.process_time`` of this process, pinned to its own core),
bytes on the wire per request (request and response, headers included, counted
by the server), and the server's CPU utilisation during the window (it must stay
well below 100% for the figures to mean anything); the table shows each client's
medians over the rounds.

Targets: retab-async at least 0.9x of the bare loop in requests per second and
in CPU per request (bare µs / ours µs), at 64 and at 1 in flight. The verdict
takes the median of the per-round ratios (ours against the bare loop of the same
round: load that changes between rounds cancels out); the ratio of the two
medians is printed beside it, with the spread (lowest-highest) of the per-round
ratios, and the 1-minute load average before and after each setting.

    python benchmarks/bench_get.py [--quick] [--rounds N] [--profile IN_FLIGHT]
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import os
import pstats
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import _bare
from _common import (
    API_KEY,
    Counterpart,
    Report,
    counterpart,
    cpu_seconds,
    have,
    median,
    parse_args,
    pin_self,
    totals,
)
from _records import SHAPE, expected_category

from retab_async import RetabClient

Call = Callable[[], Awaitable[Any]]
OURS, BARE, OFFICIAL = "retab-async", "bare aiohttp+msgspec", "official AsyncRetab"


@dataclass
class Sample:
    rps: float
    cpu_us: float
    bytes_per_request: float
    server_util: float


@dataclass
class Settings:
    seconds: float
    warmup: float
    rounds: int


async def drive(call: Call, in_flight: int, seconds: float) -> int:
    """Keep ``in_flight`` calls going for ``seconds``; how many completed."""
    done = 0
    stop = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < stop:
            await call()
            done += 1

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return done


async def timed(call: Call, server: Counterpart, in_flight: int, s: Settings) -> Sample:
    await drive(call, in_flight, s.warmup)
    server.reset()
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    done = await drive(call, in_flight, s.seconds)
    wall, cpu = time.monotonic() - wall0, cpu_seconds() - cpu0
    stats = server.stats()
    wire = totals(stats)
    return Sample(
        rps=done / wall,
        cpu_us=cpu / done * 1e6,
        bytes_per_request=(wire["bytes_in"] + wire["bytes_out"]) / max(1, wire["requests"]),
        server_util=stats["cpu_s"] / stats["wall_s"],
    )


def check(output: Any, run_id: str) -> None:
    """The record came back complete, with the category the server chose."""
    if output is None or output.category != expected_category(run_id):
        raise AssertionError(f"{run_id}: {output!r}")


async def ours(server: Counterpart, run_id: str, in_flight: int, s: Settings) -> Sample:
    async with RetabClient(API_KEY, server.url) as client:
        record = await client.classifications.get(run_id)
        assert record.category == expected_category(run_id), record
        return await timed(lambda: client.classifications.get(run_id), server, in_flight, s)


async def bare(server: Counterpart, run_id: str, in_flight: int, s: Settings) -> Sample:
    async with _bare.session() as http:
        record = await _bare.get(http, server.url, run_id, True)
        check(record.output, run_id)
        return await timed(lambda: _bare.get(http, server.url, run_id, True), server, in_flight, s)


async def official(server: Counterpart, run_id: str, in_flight: int, s: Settings) -> Sample:
    from retab import AsyncRetab

    client = AsyncRetab(api_key=API_KEY, base_url=server.url)
    try:
        record = await client.classifications.get(run_id)
        check(record.output, run_id)
        return await timed(lambda: client.classifications.get(run_id), server, in_flight, s)
    finally:
        await client.client.aclose()


CLIENTS = {OURS: ours, BARE: bare, OFFICIAL: official}


async def create_run(server: Counterpart) -> str:
    from _records import create_body

    async with _bare.session() as http:
        record = await _bare.create(http, server.url, _bare.encode(create_body()))
        return record.id


@dataclass
class Result:
    """Each client's medians over the rounds, and the per-round ratios of ours to bare."""

    medians: dict[str, Sample]
    speed: list[float]  # per round: ours req/s / bare req/s
    cpu: list[float]  # per round: bare CPU µs / ours CPU µs
    load: tuple[float, float]  # 1-minute load average before and after


def order(round_: int, names: list[str]) -> list[str]:
    """The clients of round ``round_``: ours and bare back to back (either first, by
    turns), any other client before or after that pair (by turns)."""
    pair = [OURS, BARE] if round_ % 2 == 0 else [BARE, OURS]
    others = [name for name in names if name not in pair]
    return pair + others if round_ // 2 % 2 == 0 else others + pair


def settle(server: Counterpart, run_id: str, s: Settings) -> None:
    """One uncounted round of every client, so that what a process sets up once (lazy
    imports, caches, the allocator's thresholds) is in place before any counted round."""
    for name in CLIENTS:
        if name != OFFICIAL or have("retab"):
            asyncio.run(CLIENTS[name](server, run_id, 64, s))


def measure(server: Counterpart, run_id: str, in_flight: int, s: Settings) -> Result:
    names = [name for name in CLIENTS if name != OFFICIAL or have("retab")]
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    before = os.getloadavg()[0]
    for round_ in range(s.rounds):
        # The official client only needs its order of magnitude: every third round.
        present = names if round_ % 3 == 0 else [OURS, BARE]
        for name in order(round_, present):
            gc.collect()  # each client starts from a collected heap
            samples[name].append(asyncio.run(CLIENTS[name](server, run_id, in_flight, s)))
    ours_, bare_ = samples[OURS], samples[BARE]
    return Result(
        medians={
            name: Sample(
                rps=median([x.rps for x in xs]),
                cpu_us=median([x.cpu_us for x in xs]),
                bytes_per_request=median([x.bytes_per_request for x in xs]),
                server_util=max(x.server_util for x in xs),
            )
            for name, xs in samples.items()
        },
        speed=[o.rps / b.rps for o, b in zip(ours_, bare_, strict=True)],
        cpu=[b.cpu_us / o.cpu_us for o, b in zip(ours_, bare_, strict=True)],
        load=(before, os.getloadavg()[0]),
    )


def profile(server: Counterpart, run_id: str, in_flight: int, s: Settings) -> None:
    """Where retab-async's client time goes (cProfile, by own time)."""
    profiler = cProfile.Profile(time.process_time)  # CPU time: the machine may be busy
    profiler.enable()
    asyncio.run(ours(server, run_id, in_flight, s))
    profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(30)


def main() -> None:
    args = parse_args(
        __doc__,
        rounds={"type": int, "metavar": "N", "help": "interleaved rounds (default 30)"},
        profile={"type": int, "metavar": "IN_FLIGHT", "help": "cProfile our client at IN_FLIGHT"},
    )
    quick = args.quick
    report = Report("get", "get() of a completed record: retab-async, bare, official", quick=quick)
    s = Settings(seconds=0.1, warmup=0.02, rounds=2) if quick else Settings(0.3, 0.1, 30)
    if args.rounds:
        s.rounds = args.rounds
    report.condition(pin_self())
    report.condition(SHAPE)
    with counterpart("--durations", "0", "0") as server:
        report.condition(f"counterpart: raw asyncio protocol on {server.loop}, pre-encoded bodies")
        report.condition(
            f"clients on the default asyncio loop; {s.rounds} interleaved rounds of "
            f"{s.seconds:g} s after {s.warmup:g} s of warm-up each (ours and bare back to "
            "back in every round); medians, and the median of per-round ratios"
        )
        if have("retab"):
            report.condition(f"official SDK: retab {version('retab')} (httpx, pydantic)")
        else:
            report.condition("official SDK not installed (pip install -e '.[bench]'): not measured")
        run_id = asyncio.run(create_run(server))
        settle(server, run_id, s)
        for in_flight in (64, 1):
            show(report, in_flight, measure(server, run_id, in_flight, s))
        if args.profile:
            profile(server, run_id, args.profile, s)
    report.write()


def show(report: Report, in_flight: int, result: Result) -> None:
    results = result.medians
    load = f"load average {result.load[0]:.2f} -> {result.load[1]:.2f}"
    report.line(f"\n{in_flight} in flight ({load}):")
    report.line(
        f"{'client':<22} {'req/s':>8} {'CPU µs/req':>11} {'bytes/req':>10} {'server CPU':>11}"
    )
    for name, r in results.items():
        report.line(
            f"{name:<22} {r.rps:8.0f} {r.cpu_us:11.1f} {r.bytes_per_request:10.0f} "
            f"{r.server_util:10.0%}"
        )
        report.figure(f"{in_flight}/{name}", vars(r))
    ours_, bare_ = results[OURS], results[BARE]
    speed, cpu = median(result.speed), median(result.cpu)
    report.figure(f"{in_flight}/ratios", {"speed": result.speed, "cpu": result.cpu})
    report.figure(f"{in_flight}/load", list(result.load))
    busiest = max(r.server_util for r in results.values())
    if busiest < 0.8:
        report.line(f"server CPU at most {busiest:.0%} of its core: it was not the bottleneck")
    else:
        report.line(f"WARNING: server CPU reached {busiest:.0%} of its core: figures are capped")
    report.row(
        f"get() {in_flight} in flight: req/s vs bare",
        f"{speed:.2f}x (rounds {min(result.speed):.2f}-{max(result.speed):.2f}; medians "
        f"{ours_.rps:.0f} vs {bare_.rps:.0f}: {ours_.rps / bare_.rps:.2f}x; "
        f"server CPU <= {busiest:.0%})",
        ">= 0.9x",
        speed >= 0.9,
    )
    report.row(
        f"get() {in_flight} in flight: CPU/request, bare/ours",
        f"{cpu:.2f}x (rounds {min(result.cpu):.2f}-{max(result.cpu):.2f}; medians "
        f"{ours_.cpu_us:.0f} vs {bare_.cpu_us:.0f} µs: {bare_.cpu_us / ours_.cpu_us:.2f}x)",
        ">= 0.9x",
        cpu >= 0.9,
    )
    official_ = results.get(OFFICIAL)
    if official_ is not None:
        report.row(
            f"get() {in_flight} in flight: req/s vs official",
            f"{ours_.rps / official_.rps:.1f}x ({official_.cpu_us:.0f} µs CPU/request official)",
        )


if __name__ == "__main__":
    main()
