"""Helpers shared by the benchmark scripts (not a benchmark itself).

Placement: with ``taskset`` and at least two cores, every server a benchmark
starts runs pinned to core 1 and the measuring process pins itself to core 0,
so that the two never compete for a core. Results: each script writes one JSON
file into ``$RETAB_BENCH_RESULTS`` (default: ``retab-async-bench`` in the
temporary directory); ``summary.py`` prints them as one table.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

API_KEY = "sk_bench"
HERE = Path(__file__).resolve().parent
CLIENT_CORE = 0
SERVER_CORE = 1


# -- command line and placement -------------------------------------------------


def parse_args(doc: str | None, **extra: Any) -> argparse.Namespace:
    """``--quick`` (a smoke test: tiny rounds, no meaningful figures) plus ``extra`` options."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke-test sizes; figures mean nothing"
    )
    for name, kwargs in extra.items():
        parser.add_argument(f"--{name.replace('_', '-')}", **kwargs)
    return parser.parse_args()


def can_pin() -> bool:
    """Whether servers can get a core of their own."""
    if not shutil.which("taskset") or not hasattr(os, "sched_setaffinity"):
        return False
    return {CLIENT_CORE, SERVER_CORE} <= os.sched_getaffinity(0)


def pin_self() -> str:
    """Pin this (measuring) process to the client core; describe the placement."""
    if not can_pin():
        return "not pinned (taskset or a second core missing): client and server share cores"
    os.sched_setaffinity(0, {CLIENT_CORE})
    return f"client on core {CLIENT_CORE}, server pinned to core {SERVER_CORE} (taskset)"


def server_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` run under ``taskset`` on the server core, when possible."""
    prefix = ["taskset", "-c", str(SERVER_CORE)] if can_pin() else []
    return [*prefix, *argv]


# -- servers ------------------------------------------------------------------


@contextlib.contextmanager
def process(argv: Sequence[str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run a server that prints ``listening on URL ...`` first; yield the URL and process."""
    proc = subprocess.Popen(server_argv(argv), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    url = line.removeprefix("listening on ").split()[0]
    try:
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()


@contextlib.contextmanager
def local_server(*args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The project's own local server (``python -m retab_async.testing serve``)."""
    serve = [sys.executable, "-m", "retab_async.testing", "serve", "--api-key", API_KEY]
    with process([*serve, "--no-bodies", *args]) as found:
        yield found


@dataclass
class Counterpart:
    """A running ``_counterpart.py``: the URL and its bench-only routes."""

    url: str
    loop: str
    pid: int

    def reset(self) -> None:
        fetch_json(self.url + "/_bench/reset")

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = fetch_json(self.url + "/_bench/stats")
        return stats

    def runs(self) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = fetch_json(self.url + "/_bench/runs")
        return runs


@contextlib.contextmanager
def counterpart(*args: str) -> Iterator[Counterpart]:
    """Start the counterpart server (``_counterpart.py``) with ``args``."""
    argv = [sys.executable, str(HERE / "_counterpart.py"), *args]
    proc = subprocess.Popen(server_argv(argv), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"counterpart did not start: {line!r}")
    url, _, loop = line.removeprefix("listening on ").partition(" ")
    try:
        yield Counterpart(url, loop.strip("()"), proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()


def fetch_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as resp:
        return json.loads(resp.read())


def totals(stats: dict[str, Any], tag: str | None = None) -> dict[str, int]:
    """Requests and bytes over every kind (of one ``User-Agent`` tag, or all)."""
    out = {"requests": 0, "bytes_in": 0, "bytes_out": 0}
    for name, kinds in stats["tags"].items():
        if tag is not None and name != tag:
            continue
        for row in kinds.values():
            for key in out:
                out[key] += row[key]
    return out


def by_kind(stats: dict[str, Any], tag: str | None = None) -> dict[str, int]:
    """Requests per kind (create, get_light, get_full, list_<status>, ...)."""
    return _per_kind(stats, tag, ("requests",))


def bytes_by_kind(stats: dict[str, Any], tag: str | None = None) -> dict[str, int]:
    """Bytes on the wire (request and response) per kind."""
    return _per_kind(stats, tag, ("bytes_in", "bytes_out"))


def _per_kind(stats: dict[str, Any], tag: str | None, keys: tuple[str, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, kinds in stats["tags"].items():
        if tag is None or name == tag:
            for kind, row in kinds.items():
                out[kind] = out.get(kind, 0) + sum(row[key] for key in keys)
    return out


# -- measuring ----------------------------------------------------------------


def cpu_seconds() -> float:
    """CPU time of this process (user + system), all threads."""
    return time.process_time()


def process_cpu_seconds(pid: int) -> float:
    """CPU time of another process (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))]


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def have(module: str) -> bool:
    """Whether ``module`` can be imported (the official SDK, uvloop)."""
    import importlib.util

    return importlib.util.find_spec(module) is not None


# -- results ------------------------------------------------------------------


def results_dir() -> Path:
    default = Path(tempfile.gettempdir()) / "retab-async-bench"
    path = Path(os.environ.get("RETAB_BENCH_RESULTS", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    system = f"Linux {platform.release()}; Python {platform.python_version()}"
    return f"{os.cpu_count()} cores, {cpu}; {system}"


class Report:
    """What one benchmark script found: printed lines, and rows for the summary table."""

    def __init__(self, name: str, title: str, *, quick: bool) -> None:
        self.name = name
        self.data: dict[str, Any] = {
            "name": name,
            "title": title,
            "quick": quick,
            "when": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(),
            "conditions": [],
            "rows": [],
            "figures": {},
            "load": [os.getloadavg()[0]],
        }
        print(
            f"== {name}: {title}"
            + (" [--quick: smoke test, figures mean nothing]" if quick else "")
        )

    def condition(self, text: str) -> None:
        """A condition of the measurement (placement, loop, record shapes...)."""
        self.data["conditions"].append(text)
        print(f"   {text}")

    def line(self, text: str = "") -> None:
        print(text)

    def row(self, measure: str, value: str, target: str = "", ok: bool | None = None) -> None:
        """One line of the summary table; ``ok`` None means no target."""
        mark = "" if ok is None else verdict(ok)
        self.data["rows"].append(
            {"measure": measure, "value": value, "target": target, "verdict": mark}
        )
        print(f"-> {measure}: {value}" + (f" (target {target}) {mark}" if target else ""))

    def figure(self, key: str, value: Any) -> None:
        """A raw figure kept in the JSON (for tests and later comparison)."""
        self.data["figures"][key] = value

    def write(self) -> Path:
        self.data["load"].append(os.getloadavg()[0])
        path = results_dir() / f"{self.name}.json"
        path.write_text(json.dumps(self.data, indent=1))
        return path
