"""Throughput of the local server serving GET of a completed run, against a bare
aiohttp.web handler returning the same pre-encoded bytes.

Each server runs in its own process; one load generator measures them in
alternating rounds: ``wrk`` when it is installed (``apt-get install wrk``: a C
client that does not become the bottleneck), else aiohttp with 64 requests in
flight. Target: the local server reaches at least 70% of the bare handler's
requests per second.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import aiohttp
from _common import API_KEY, local_server, median, process, verdict

IN_FLIGHT = 64
SECONDS = 3.0
ROUNDS = 3


def load(url: str, headers: dict[str, str]) -> float:
    """Requests per second that ``url`` sustains."""
    if shutil.which("wrk"):
        argv = ["wrk", "-t1", f"-c{IN_FLIGHT}", f"-d{SECONDS:.0f}s"]
        for key, value in headers.items():
            argv += ["-H", f"{key}: {value}"]
        out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
        assert "Non-2xx" not in out, out
        return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return asyncio.run(load_with_aiohttp(url, headers))


async def load_with_aiohttp(url: str, headers: dict[str, str]) -> float:
    done = 0
    stop = time.monotonic() + SECONDS
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < stop:
                async with session.get(url) as resp:
                    await resp.read()
                    assert resp.status == 200
                done += 1

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        return done / (time.monotonic() - started)


async def create_run(base: str) -> str:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {API_KEY}"}) as session:
        body = {
            "document": {"filename": "a.txt", "url": "data:text/plain;base64,aW52b2ljZQ=="},
            "categories": [{"name": f"c{i}", "description": "a category"} for i in range(12)],
            "n_consensus": 5,
        }
        async with session.post(base + "/v1/classifications", json=body) as resp:
            return (await resp.json())["id"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    with local_server("--run-time", "0") as base:
        run_id = asyncio.run(create_run(base))
        record_url = f"{base}/v1/classifications/{run_id}"
        body = asyncio.run(_fetch(record_url, auth))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "body.json"
            path.write_bytes(body)
            with process(
                [str(Path(__file__).parent / "_bare_server.py"), str(path), str(free_port())]
            ) as bare:
                ours, theirs = [], []
                for _ in range(ROUNDS):
                    ours.append(load(record_url, auth))
                    theirs.append(load(bare + "/v1/classifications/x", {}))
    ratio = median(ours) / median(theirs)
    tool = "wrk" if shutil.which("wrk") else "aiohttp"
    print(
        f"GET of a completed run ({len(body)} bytes), {IN_FLIGHT} in flight, "
        f"{ROUNDS}x{SECONDS:.0f}s rounds, load from {tool}"
    )
    print(f"local server:        {median(ours):8.0f} req/s")
    print(f"bare aiohttp.web:    {median(theirs):8.0f} req/s")
    print(f"ratio: {ratio:.2f} (target >= 0.70) {verdict(ratio >= 0.7)}")


async def _fetch(url: str, headers: dict[str, str]) -> bytes:
    async with aiohttp.ClientSession(headers=headers) as session, session.get(url) as resp:
        return await resp.read()


if __name__ == "__main__":
    main()
