"""Helpers shared by the benchmark scripts (not a benchmark itself)."""

from __future__ import annotations

import contextlib
import json
import resource
import statistics
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any

API_KEY = "sk_bench"


@contextlib.contextmanager
def local_server(*args: str) -> Iterator[str]:
    """Run ``python -m retab_async.testing serve`` in its own process; yield its URL."""
    serve = ["-m", "retab_async.testing", "serve", "--api-key", API_KEY, "--no-bodies", *args]
    with process(serve) as url:
        yield url


@contextlib.contextmanager
def process(argv: Sequence[str]) -> Iterator[str]:
    """Run a server script that prints ``listening on URL`` first; yield the URL."""
    proc = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip().removeprefix("listening on ")
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def server_json(url: str, path: str) -> Any:
    with urllib.request.urlopen(url + path, timeout=60) as resp:
        return json.loads(resp.read())


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"
