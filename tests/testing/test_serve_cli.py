"""``python -m retab_async.testing serve``: start, answer, interrupt, clean exit."""

from __future__ import annotations

import signal
import subprocess
import sys

import aiohttp
import pytest

pytestmark = pytest.mark.subprocess


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "retab_async.testing", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line.startswith("listening on http://127.0.0.1:"), line
    return proc, line.removeprefix("listening on ")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_serve_answers_and_stops_cleanly(sig: signal.Signals) -> None:
    proc, url = _start("--api-key", "k123", "--run-time", "0.01", "--seed", "4")
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(
                url + "/v1/classifications", headers={"Authorization": "Bearer k123"}
            ) as resp:
                assert resp.status == 200
                assert await resp.json() == {
                    "data": [],
                    "list_metadata": {"before": None, "after": None},
                }
            async with session.get(url + "/v1/classifications") as resp:
                assert resp.status == 401
    finally:
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_serve_rejects_bad_options() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "retab_async.testing", "serve", "--fault-rate", "2"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ")
    assert "Traceback" not in proc.stderr
