"""Single runs: requests per run against p95 lag, the default poll policy against fixed loops.

For run durations of 0.3-2 s, 2-10 s and 10-60 s (uniform, seeded, served by
``_counterpart.py`` on its own core with realistic records), each strategy
waits for 200 runs:

* **default**: ``RetabClient()`` with the default ``PollPolicy``; every run has
  its own client, so that its poller watches a single run, as in a script that
  waits for one document;
* **presets**: every ``PollPolicy`` classmethod or staticmethod that takes no
  argument and returns a policy (none may exist), measured the same way;
* **fixed X s**: bare aiohttp + msgspec, ``sleep(X)`` then a full ``GET``, until
  terminal (the fewest requests a fixed loop can make for its lag), for X in
  0.25, 0.5, 1 and 2 s.

No time is scaled: the runs last what they say. To keep the wall time bounded,
the runs of every strategy overlap, each starting at a random offset within a
window (15, 40 and 80 s for the three classes). The windows are chosen so that
all strategies together send a few hundred requests per second at most: the
client process stays far from busy (its CPU utilisation is printed), so a
strategy's lag is its own, not the queueing of the others' requests. The whole
benchmark takes about 4 minutes. Requests per run count everything a strategy sent
(creates included; the server tells strategies apart by ``User-Agent``); lag is
the run's scheduled end -> its waiter has the record.

Target (per class): the default sends fewer requests per run than every fixed
loop whose p95 lag is no better, and no fixed loop beats it on both counts. The
frontier lists the strategies by requests per run and marks those no other
strategy beats on both counts.

    python benchmarks/bench_single_run.py [--quick] [--runs N]
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import _bare
from _common import (
    API_KEY,
    Report,
    counterpart,
    cpu_seconds,
    pin_self,
    quantile,
    totals,
)
from _common import parse_args as _parse_args
from _records import CATEGORIES, DOCUMENT, SHAPE, create_body, expected_category

from retab_async import PollPolicy, RetabClient

CLASSES = [  # label, shortest and longest run, window of start times (seconds)
    ("0.3-2 s", 0.3, 2.0, 15.0),
    ("2-10 s", 2.0, 10.0, 40.0),
    ("10-60 s", 10.0, 60.0, 80.0),
]
FIXED = (0.25, 0.5, 1.0, 2.0)
WAIT_TIMEOUT = 300.0
FLOOR = 2  # create, one poll that finds the run finished and brings its output
LIGHT_FLOOR = 3  # create, one light poll, one full fetch (contract D9)

Waiter = Callable[[float], Awaitable[str]]


def presets() -> dict[str, PollPolicy]:
    """``PollPolicy``'s no-argument constructors (documented presets), by name."""
    found: dict[str, PollPolicy] = {}
    for name, attr in vars(PollPolicy).items():
        if name.startswith("_") or not isinstance(attr, (classmethod, staticmethod)):
            continue
        try:
            policy = getattr(PollPolicy, name)()
        except TypeError:
            continue  # needs arguments: not a preset
        if isinstance(policy, PollPolicy):
            found[f"PollPolicy.{name}()"] = policy
    return found


def sdk_waiter(url: str, tag: str, policy: PollPolicy | None) -> Waiter:
    async def one(delay: float) -> str:
        await asyncio.sleep(delay)
        async with RetabClient(API_KEY, url, user_agent=tag, poll=policy) as client:
            handle = await client.classifications.start(DOCUMENT, CATEGORIES, n_consensus=5)
            record = await handle.wait(timeout=WAIT_TIMEOUT)
        if record.category != expected_category(record.id):
            raise AssertionError(record.id)
        return record.id

    return one


def fixed_waiter(url: str, http: Any, interval: float) -> Waiter:
    body = _bare.encode(create_body())

    async def one(delay: float) -> str:
        await asyncio.sleep(delay)
        record = await _bare.create(http, url, body)
        deadline = time.monotonic() + WAIT_TIMEOUT
        while record.status not in _bare.TERMINAL:
            if time.monotonic() > deadline:
                raise TimeoutError(record.id)
            await asyncio.sleep(interval)
            record = await _bare.get(http, url, record.id, True)
        if record.output is None or record.output.category != expected_category(record.id):
            raise AssertionError(record.id)
        return record.id

    return one


async def run_class(
    url: str, runs: int, window: float, seed: int, fixed: tuple[float, ...]
) -> dict[str, dict[str, float]]:
    """Every strategy's runs, overlapped; arrival time (wall clock) per run id, per strategy."""
    rng = random.Random(seed)
    arrivals: dict[str, dict[str, float]] = {}
    sessions = [_bare.session(user_agent=f"bench-fixed-{x:g}") for x in fixed]
    waiters: dict[str, Waiter] = {"default": sdk_waiter(url, "bench-default", None)}
    for name, policy in presets().items():
        waiters[name] = sdk_waiter(url, f"bench-{name}", policy)
    for x, http in zip(fixed, sessions, strict=True):
        waiters[f"fixed {x:g} s"] = fixed_waiter(url, http, x)

    async def timed(name: str, waiter: Waiter, delay: float) -> None:
        run_id = await waiter(delay)
        arrivals[name][run_id] = time.time()

    try:
        tasks = []
        for name, waiter in waiters.items():
            arrivals[name] = {}
            for _ in range(runs):
                tasks.append(timed(name, waiter, rng.uniform(0, window)))
        await asyncio.gather(*tasks)
    finally:
        for http in sessions:
            await http.close()
    return arrivals


def tag_of(name: str) -> str:
    if name.startswith("fixed "):
        return "bench-fixed-" + name.split()[1]
    return "bench-" + name.lower()


def main() -> None:
    args = _parse_args(__doc__, runs={"type": int, "default": None})
    report = Report("single_run", "single runs: requests per run against p95 lag", quick=args.quick)
    classes = [("0.05-0.2 s (quick)", 0.05, 0.2, 0.2)] if args.quick else CLASSES
    fixed = tuple(x / 10 for x in FIXED) if args.quick else FIXED
    runs = args.runs or (4 if args.quick else 200)
    report.condition(pin_self())
    report.condition(SHAPE)
    report.condition(
        f"{runs} runs per strategy and class, overlapped (random starts within a window); "
        "no time scaling; counterpart on uvloop"
    )
    found = presets()
    report.condition("presets: " + (", ".join(found) if found else "none offered by PollPolicy"))
    for seed, (label, low, high, window) in enumerate(classes):
        with counterpart("--durations", str(low), str(high), "--seed", str(seed)) as server:
            server.reset()
            cpu0, wall0 = cpu_seconds(), time.monotonic()
            arrivals = asyncio.run(run_class(server.url, runs, window, seed, fixed))
            client_util = (cpu_seconds() - cpu0) / (time.monotonic() - wall0)
            stats = server.stats()
            ends = {run["id"]: run["finishes"] for run in server.runs()}
        rows = {}
        for name, arrived in arrivals.items():
            lags = [at - ends[run_id] for run_id, at in arrived.items()]
            requests = totals(stats, tag_of(name)).get("requests", 0) / len(arrived)
            rows[name] = {
                "requests": requests,
                "p95": quantile(lags, 0.95),
                "p50": quantile(lags, 0.5),
            }
        utils = (client_util, stats["cpu_s"] / stats["wall_s"])
        show(report, label, rows, utils, totals(stats)["requests"] / stats["wall_s"])
    report.write()


def show(
    report: Report,
    label: str,
    rows: dict[str, dict[str, float]],
    utils: tuple[float, float],
    rate: float,
) -> None:
    report.line(
        f"\nruns of {label}: {rate:.0f} requests/s in all; CPU: client {utils[0]:.0%}, "
        f"server {utils[1]:.0%}"
    )
    report.line(f"{'strategy':<28} {'requests/run':>12} {'p50 lag':>8} {'p95 lag':>8}  frontier")
    for name, r in sorted(rows.items(), key=lambda item: item[1]["requests"]):
        beaten = any(
            o["requests"] <= r["requests"] and o["p95"] <= r["p95"] and o != r
            for o in rows.values()
        )
        mark = "" if beaten else "on the frontier"
        report.line(f"{name:<28} {r['requests']:12.1f} {r['p50']:8.3f} {r['p95']:8.3f}  {mark}")
        report.figure(f"{label}/{name}", r)
    floor(report, rows)
    report.row(f"single run {label}: default policy", *judge(rows))


def floor(report: Report, rows: dict[str, dict[str, float]]) -> None:
    """Why a class may be out of reach: the fewest requests any strategy can send."""
    cheapest = min((r["requests"] for n, r in rows.items() if n.startswith("fixed ")), default=None)
    if cheapest is None:
        return
    report.line(
        f"floor: a run costs at least {FLOOR} requests (its create, one poll that finds it "
        f"finished and brings the output, as the default's polls do); light polls with one "
        f"full fetch (contract D9) at least {LIGHT_FLOOR}; the cheapest fixed loop sent "
        f"{cheapest:.1f}" + (": no strategy can send fewer here" if cheapest <= FLOOR else "")
    )


def judge(rows: dict[str, dict[str, float]]) -> tuple[str, str, bool]:
    """The default against the fixed loops: (what happened, target, met).

    Met when the default sends fewer requests than every fixed loop whose p95 lag
    is no better, and no fixed loop beats it on both counts (without that second
    condition, a default slower *and* costlier than every fixed loop would pass).
    """
    default = rows["default"]
    fixed = {n: r for n, r in rows.items() if n.startswith("fixed ")}
    slower = [n for n, r in fixed.items() if r["p95"] >= default["p95"]]
    cheaper = [n for n in slower if fixed[n]["requests"] <= default["requests"]]
    dominating = [
        n
        for n, r in fixed.items()
        if r["p95"] <= default["p95"] and r["requests"] <= default["requests"]
    ]
    detail = f"{default['requests']:.1f} req/run, p95 {default['p95']:.2f} s"
    for what, names in (("not fewer than", cheaper), ("beaten on both by", dominating)):
        if names:
            detail += f"; {what} " + ", ".join(
                f"{n} ({fixed[n]['requests']:.1f}, p95 {fixed[n]['p95']:.2f} s)" for n in names
            )
    if slower and not cheaper:
        detail += f"; fewer than {', '.join(slower)}"
    ok = not cheaper and not dominating
    return detail, "fewer req than every loop with no better p95", ok


if __name__ == "__main__":
    main()
