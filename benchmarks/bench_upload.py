"""Uploads: the client's memory while it uploads a 200 MB file, beside throughput and CPU.

The local server (``python -m retab_async.testing serve``) runs in its own process,
pinned to its own core where ``taskset`` exists; it streams the upload to its
temporary directory. The client process (pinned to the other core) uploads one
file of random bytes (incompressible, like a scanned PDF) with
``client.files.upload`` three ways, one after another:

* **streamed, RSS**: the SDK as it is; a thread samples the process's resident
  memory every 2 ms, and the peak minus the resident memory before the upload is
  the growth;
* **streamed, tracemalloc**: the same upload under ``tracemalloc`` (Python
  allocations only, every thread), whose peak is reported;
* **whole file**: the same reservation and complete, but the bytes sent as one
  ``bytes`` object read from disk (what a client that reads the file first does),
  for the ratio.

Throughput is file bytes over the wall time of the whole upload (checksum pass,
reservation, PUT, complete); CPU is the client process's user + system time for it.
Targets: RSS growth under 32 MB and a tracemalloc peak under 16 MB for 200 MB.

    python benchmarks/bench_upload.py [--quick] [--size-mb N]
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
from _common import (
    API_KEY,
    Report,
    cpu_seconds,
    current_rss_mb,
    local_server,
    pin_self,
    process_cpu_seconds,
)
from _common import parse_args as _parse_args

from retab_async import RetabClient

CHUNK = 1024 * 1024


def make_file(directory: Path, size_mb: int) -> Path:
    path = directory / "scan.pdf"
    with path.open("wb") as fh:
        for _ in range(size_mb):
            fh.write(os.urandom(CHUNK))
    return path


@contextmanager
def rss_peak() -> Iterator[list[float]]:
    """Samples resident memory every 2 ms while the block runs: yields ``[before, peak]``."""
    before = current_rss_mb()
    found = [before, before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.002):
            found[1] = max(found[1], current_rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield found
    finally:
        done.set()
        sampler.join()
        found[1] = max(found[1], current_rss_mb())


async def whole_file(client: RetabClient, path: Path) -> None:
    """The counterpart: the same flow with the file read into memory and sent at once."""
    data = await asyncio.to_thread(path.read_bytes)
    digest = hashlib.sha256(data).hexdigest()
    session = await client.files.create_upload(
        "whole.pdf", len(data), content_type="application/pdf", sha256=digest
    )
    async with (
        aiohttp.ClientSession() as http,
        http.put(session.upload_url, data=data, headers=session.upload_headers) as resp,
    ):
        assert resp.status == 200, resp.status
    await client.files.complete_upload(session.file_id, sha256=digest)


async def measured(step: Callable[[], Awaitable[object]]) -> tuple[float, float, float, float]:
    """``(wall s, cpu s, rss before MB, rss peak MB)`` of one step."""
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    with rss_peak() as rss:
        await step()
    return time.perf_counter() - wall0, cpu_seconds() - cpu0, rss[0], rss[1]


async def run(base: str, path: Path, size_mb: int) -> dict[str, float]:
    out: dict[str, float] = {}
    async with RetabClient(API_KEY, base, timeout=120.0) as client:
        small = path.with_name("warm.pdf")
        small.write_bytes(os.urandom(64 * 1024))
        await client.files.upload(small)  # connections, imports, first allocations

        wall, cpu, before, peak = await measured(lambda: client.files.upload(path))
        out.update(streamed_wall=wall, streamed_cpu=cpu, streamed_growth=peak - before)
        out["rss_before"] = before

        tracemalloc.start()
        try:
            await client.files.upload(path, filename="traced.pdf")
            out["traced_peak"] = tracemalloc.get_traced_memory()[1] / 2**20
        finally:
            tracemalloc.stop()

        wall, cpu, before, peak = await measured(lambda: whole_file(client, path))
        out.update(whole_wall=wall, whole_cpu=cpu, whole_growth=peak - before)
    return out


def main() -> None:
    args = _parse_args(__doc__, size_mb={"type": int, "default": 200, "help": "file size, MB"})
    size_mb = 8 if args.quick else args.size_mb
    report = Report("upload", f"upload a {size_mb} MB file, streamed", quick=args.quick)
    report.condition(pin_self())
    report.condition(
        f"one {size_mb} MiB file of random bytes; local server in its own process, "
        "writing uploads to its temporary directory; loopback"
    )
    with tempfile.TemporaryDirectory() as tmp, local_server() as (base, proc):
        path = make_file(Path(tmp), size_mb)
        server_cpu0 = process_cpu_seconds(proc.pid)
        found = asyncio.run(run(base, path, size_mb))
        server_cpu = process_cpu_seconds(proc.pid) - server_cpu0
    mb = size_mb * CHUNK / 1e6
    report.condition(f"client RSS before the upload: {found['rss_before']:.0f} MB")
    ratio = found["whole_growth"] / max(found["streamed_growth"], 0.1)
    report.row(
        f"{size_mb} MB upload: client peak RSS growth",
        f"{found['streamed_growth']:.1f} MB (whole file in memory: "
        f"{found['whole_growth']:.0f} MB, {ratio:.0f}x)",
        "< 32 MB",
        found["streamed_growth"] < 32,
    )
    report.row(
        f"{size_mb} MB upload: tracemalloc peak",
        f"{found['traced_peak']:.1f} MB",
        "< 16 MB",
        found["traced_peak"] < 16,
    )
    report.row(
        f"{size_mb} MB upload: throughput",
        f"{mb / found['streamed_wall']:.0f} MB/s streamed, "
        f"{mb / found['whole_wall']:.0f} MB/s whole file",
    )
    report.row(
        f"{size_mb} MB upload: client CPU",
        f"{found['streamed_cpu']:.2f} s streamed ({found['streamed_cpu'] / mb * 1000:.1f} s/GB), "
        f"{found['whole_cpu']:.2f} s whole file; server CPU for all uploads {server_cpu:.2f} s",
    )
    for key, value in found.items():
        report.figure(key, value)
    report.write()


if __name__ == "__main__":
    main()
