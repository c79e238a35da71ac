"""20,000 documents on a Dask cluster against one process with ``map()``.

The same batch (runs of 0.05-0.25 s, 512 in flight in total) goes through
``client.classifications.map()`` in this process, then through
``retab_async.dask.map_bag`` on a ``LocalCluster`` of 1, 2 and 4 worker
processes (in-flight limit split between them). Each configuration gets a fresh
local server (``python -m retab_async.testing serve``) pinned to its own core;
this process, the Dask scheduler and the workers share the other core. Reported
per configuration: wall time, requests per document (counted by the server),
client CPU per document (this process + every worker), the server's CPU, and
duplicate runs (the server's run count minus the inputs: must be 0); ratios are
against ``map()``, from this one run.

    python benchmarks/bench_dask.py [--quick] [--documents N] [--workers 1,2,4]
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from _common import (
    API_KEY,
    Report,
    cpu_seconds,
    fetch_json,
    local_server,
    parse_args,
    pin_self,
    process_cpu_seconds,
)

from retab_async import PollPolicy, RetabClient

CATEGORIES = ["invoice", "receipt", "contract", "letter"]
IN_FLIGHT = 512
RUN_TIME = ("0.05", "0.25")  # seconds: short runs, so that overheads show


@dataclass
class Outcome:
    name: str
    n: int
    wall: float
    completed: int
    client_cpu: float
    server_cpu: float
    requests: int
    runs: int

    @property
    def duplicates(self) -> int:
        return self.runs - self.n


def documents(n: int, folder: Path) -> list[str]:
    """``n`` files of 1.4 kB in ``folder`` (made once): workers read them as users' would."""
    body = b"Acme Hosting. Amount due 300 EUR, payment due in 30 days. " * 24
    paths = [folder / f"doc-{i:06d}.txt" for i in range(n)]
    for i, path in enumerate(paths):
        if not path.exists():
            path.write_bytes(b"INVOICE %d. " % i + body)
    return [str(path) for path in paths]


def server_totals(url: str) -> tuple[int, int]:
    requests = fetch_json(url + "/_local/requests")
    runs = fetch_json(url + "/_local/runs")["created"]
    return len(requests), runs


async def run_map(url: str, docs: list[str]) -> int:
    async with RetabClient(API_KEY, url, poll=PollPolicy()) as client:
        batch = client.classifications.map(docs, CATEGORIES, concurrency=IN_FLIGHT)
        async with batch:
            return sum([result.ok async for result in batch])


def measure_map(docs: list[str]) -> Outcome:
    n = len(docs)
    with local_server(*_server_args(n)) as (url, proc):
        cpu0, server0 = cpu_seconds(), process_cpu_seconds(proc.pid)
        started = time.monotonic()
        completed = anyio.run(run_map, url, docs)
        wall = time.monotonic() - started
        cpu, server_cpu = cpu_seconds() - cpu0, process_cpu_seconds(proc.pid) - server0
        requests, runs = server_totals(url)
    return Outcome("map(), 1 process", n, wall, completed, cpu, server_cpu, requests, runs)


def measure_dask(docs: list[str], workers: int) -> Outcome:
    import dask.bag as db
    from distributed import Client, LocalCluster

    from retab_async.dask import RetabPlugin, map_bag

    n = len(docs)
    with (
        local_server(*_server_args(n)) as (url, proc),
        LocalCluster(
            n_workers=workers,
            threads_per_worker=2,
            processes=True,
            dashboard_address=":0",
            env={"RETAB_API_KEY": API_KEY},
        ) as cluster,
        Client(cluster) as client,
    ):
        client.register_plugin(RetabPlugin(url, concurrency=IN_FLIGHT // workers))
        bag = db.from_sequence(docs, npartitions=workers * 8)
        client.run(_warm_up)
        cpu0, workers0 = cpu_seconds(), _worker_cpu(client)
        server0 = process_cpu_seconds(proc.pid)
        started = time.monotonic()
        rows = map_bag(bag, "classifications", categories=CATEGORIES).compute()
        wall = time.monotonic() - started
        cpu = cpu_seconds() - cpu0 + _worker_cpu(client) - workers0
        server_cpu = process_cpu_seconds(proc.pid) - server0
        requests, runs = server_totals(url)
    completed = sum(row["status"] == "completed" for row in rows)
    name = f"Dask, {workers} worker{'s' if workers > 1 else ''}"
    return Outcome(name, n, wall, completed, cpu, server_cpu, requests, runs)


def _warm_up() -> None:
    import pandas  # noqa: F401  # imported by workers on first use: not part of the batch


def _worker_cpu(client: Any) -> float:
    def cpu() -> float:
        import psutil

        times = psutil.Process().cpu_times()
        return float(times.user + times.system)

    return sum(client.run(cpu).values())


def _server_args(n: int) -> list[str]:
    return ["--run-time", RUN_TIME[0], "--run-time-max", RUN_TIME[1], "--log-limit", str(50 * n)]


def main() -> None:
    args = parse_args(
        __doc__, documents={"type": int, "default": None}, workers={"default": "1,2,4"}
    )
    report = Report("dask", "a batch on a Dask cluster against map()", quick=args.quick)
    n = args.documents or (300 if args.quick else 20_000)
    counts = [int(w) for w in args.workers.split(",")]
    report.condition(pin_self())
    report.condition(
        f"{n} files of 1.4 kB (a Bag of paths), runs of {RUN_TIME[0]}-{RUN_TIME[1]} s, "
        f"{IN_FLIGHT} in flight in total (split between workers), 8 partitions per worker, "
        "2 threads per worker"
    )
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as folder:
        docs = documents(n, Path(folder))
        outcomes = [measure_map(docs)] + [measure_dask(docs, w) for w in counts]
    report.condition(
        f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} "
        "cores (a shared machine: other processes compete for both cores)"
    )
    base = outcomes[0]
    report.line(
        f"{'configuration':<20} {'wall s':>7} {'x map':>6} {'req/doc':>8} "
        f"{'client CPU ms/doc':>18} {'server CPU %':>13} {'done':>7} {'dupes':>6}"
    )
    for o in outcomes:
        report.line(
            f"{o.name:<20} {o.wall:>7.2f} {o.wall / base.wall:>6.2f} {o.requests / n:>8.2f} "
            f"{o.client_cpu / n * 1e3:>18.3f} {o.server_cpu / o.wall * 100:>12.0f}% "
            f"{o.completed:>7} {o.duplicates:>6}"
        )
        report.figure(
            o.name,
            {
                "wall_s": o.wall,
                "requests_per_document": o.requests / n,
                "client_cpu_ms_per_document": o.client_cpu / n * 1e3,
                "server_cpu_share": o.server_cpu / o.wall,
                "duplicates": o.duplicates,
                "completed": o.completed,
            },
        )
    for o in outcomes[1:]:
        report.row(f"{o.name}: wall vs map()", f"{o.wall / base.wall:.2f}x")
        report.row(f"{o.name}: duplicate runs", str(o.duplicates), "0", o.duplicates == 0)
    report.row("map(): duplicate runs", str(base.duplicates), "0", base.duplicates == 0)
    report.write()


if __name__ == "__main__":  # required: Dask starts its workers as fresh processes
    main()
