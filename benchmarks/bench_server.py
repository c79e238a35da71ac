"""Throughput and CPU cost of the local server (``retab_async.testing``) serving GET of a
completed run, against a bare aiohttp.web handler returning the same pre-encoded bytes.

Each server runs in its own process pinned to its own core; the load comes from
``wrk`` (a C load generator, ``apt-get install wrk``) on the other core, 64
connections, in interleaved rounds; medians. Server CPU per request is read
from ``/proc`` (user + system time of the server process over the round).
The counterpart the client benchmarks use (``_counterpart.py``) is measured the
same way, to show how far it is from being their bottleneck.

Without ``wrk`` a Python load generator (aiohttp) is used instead, and every
figure is labelled UNSOUND: it saturates before the servers do, so it cannot
tell them apart.

Target: the local server reaches at least 0.7x of the bare handler's requests per second.

    python benchmarks/bench_server.py [--quick] [--no-wrk]
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from _common import (
    API_KEY,
    HERE,
    Report,
    counterpart,
    local_server,
    median,
    pin_self,
    process,
    process_cpu_seconds,
)
from _common import parse_args as _parse_args
from _records import CATEGORIES

IN_FLIGHT = 64


@dataclass
class Load:
    rps: float
    cpu_us: float


def wrk(url: str, seconds: float, headers: dict[str, str]) -> tuple[int, float]:
    """Requests done and seconds taken, measured by ``wrk``."""
    argv = ["wrk", "-t1", f"-c{IN_FLIGHT}", f"-d{max(1, round(seconds))}s"]
    for key, value in headers.items():
        argv += ["-H", f"{key}: {value}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(out)
    done = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    assert done is not None, out
    taken = float(done.group(2)) / (1000 if done.group(3) == "ms" else 1)
    return int(done.group(1)), taken


async def python_load(url: str, seconds: float, headers: dict[str, str]) -> tuple[int, float]:
    """The fallback load generator (UNSOUND: it is slower than the servers)."""
    done = 0
    stop = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < stop:
                async with session.get(url) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(resp.status)
                done += 1

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        return done, time.monotonic() - started


def load(url: str, pid: int, seconds: float, headers: dict[str, str], sound: bool) -> Load:
    cpu0 = process_cpu_seconds(pid)
    if sound:
        done, taken = wrk(url, seconds, headers)
    else:
        done, taken = asyncio.run(python_load(url, seconds, headers))
    cpu = process_cpu_seconds(pid) - cpu0
    return Load(rps=done / taken, cpu_us=cpu / done * 1e6)


async def create_run(base: str) -> str:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {API_KEY}"}) as session:
        body = {
            "document": {"filename": "a.txt", "url": "data:text/plain;base64,aW52b2ljZQ=="},
            "categories": CATEGORIES,
            "n_consensus": 5,
        }
        async with session.post(base + "/v1/classifications", json=body) as resp:
            return str((await resp.json())["id"])


async def fetch(url: str, headers: dict[str, str]) -> bytes:
    async with aiohttp.ClientSession(headers=headers) as session, session.get(url) as resp:
        return await resp.read()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> None:
    args = _parse_args(__doc__, no_wrk={"action": "store_true", "help": "use the Python load"})
    report = Report("server", "local server throughput and CPU per request", quick=args.quick)
    seconds, rounds = (0.3, 1) if args.quick else (3.0, 5)
    sound = bool(shutil.which("wrk")) and not args.no_wrk
    label = "" if sound else " UNSOUND"
    report.condition(pin_self().replace("client", "load generator"))
    if sound:
        report.condition(f"load from wrk, 1 thread, {IN_FLIGHT} connections")
    else:
        report.condition(
            "UNSOUND: wrk not installed (apt-get install wrk) or --no-wrk; the Python load "
            "generator saturates before the servers do, so these figures cannot tell them apart"
        )
    report.condition(f"{rounds} interleaved rounds of {seconds:g} s, after a warm-up; medians")
    auth = {"Authorization": f"Bearer {API_KEY}"}
    with local_server("--run-time", "0") as (base, local_proc):
        run_id = asyncio.run(create_run(base))
        record_url = f"{base}/v1/classifications/{run_id}"
        body = asyncio.run(fetch(record_url, auth))
        report.condition(f"GET of a completed run: {len(body)} bytes, 12 categories, 5 votes")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "body.json"
            path.write_bytes(body)
            bare_argv = [sys.executable, str(HERE / "_bare_server.py"), str(path), str(free_port())]
            with (
                process(bare_argv) as (bare, bare_proc),
                counterpart("--durations", "0", "0") as cp,
            ):
                cp_id = asyncio.run(create_run(cp.url))
                targets = {
                    "local server": (record_url, local_proc.pid, auth),
                    "bare aiohttp.web": (bare + "/v1/classifications/x", bare_proc.pid, {}),
                    "counterpart": (f"{cp.url}/v1/classifications/{cp_id}", cp.pid, auth),
                }
                for url, pid, headers in targets.values():
                    if not args.quick:
                        load(url, pid, 1.0, headers, sound)  # warm-up
                samples: dict[str, list[Load]] = {name: [] for name in targets}
                names = list(targets)
                for round_ in range(rounds):
                    shift = round_ % len(names)
                    for name in names[shift:] + names[:shift]:
                        url, pid, headers = targets[name]
                        samples[name].append(load(url, pid, seconds, headers, sound))
    results = {
        name: Load(median([x.rps for x in xs]), median([x.cpu_us for x in xs]))
        for name, xs in samples.items()
    }
    report.line(f"{'server':<20} {'req/s':>8} {'CPU µs/req':>11} {'server CPU':>11}")
    for name, r in results.items():
        util = r.rps * r.cpu_us / 1e6
        report.line(f"{name:<20} {r.rps:8.0f} {r.cpu_us:11.1f} {util:10.0%}{label}")
        report.figure(name, vars(r))
    if any(r.rps * r.cpu_us / 1e6 < 0.9 for r in results.values()):
        report.line(
            "a server below 90% of its core was held back by the load generator (or a busy "
            "machine): its CPU per request is the sounder figure"
        )
    ours, bare_ = results["local server"], results["bare aiohttp.web"]
    ratio = ours.rps / bare_.rps
    report.row(
        "local server vs bare aiohttp.web: req/s" + label,
        f"{ratio:.2f}x ({ours.cpu_us:.0f} vs {bare_.cpu_us:.0f} µs server CPU/request)",
        ">= 0.7x",
        ratio >= 0.7,
    )
    cp_ = results["counterpart"]
    report.row(
        "counterpart capacity (client benchmarks' server)" + label,
        f"{cp_.rps:.0f} req/s, {cp_.cpu_us:.0f} µs CPU/request",
    )
    report.write()


if __name__ == "__main__":
    main()
