"""``python -m retab_async.testing serve``: start, answer, interrupt, clean exit."""

from __future__ import annotations

import os
import re
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


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    return err


def test_serve_prints_the_environment_lines_to_paste() -> None:
    proc, url = _start("--api-key", "k 456", "--run-time", "0.01")
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().rstrip("\n") for _ in range(2)]
        assert lines == [
            "export RETAB_API_KEY='k 456'",
            f"export RETAB_API_BASE_URL={url}",
        ]
        # Pasted into a shell, the lines point the SDK's own CLI at the server.
        script = (
            "; ".join(lines) + "; exec " + " ".join([sys.executable, "-m", "retab_async", "list"])
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("RETAB_")}
        out = subprocess.run(
            ["sh", "-c", script], capture_output=True, text=True, timeout=60, env=env
        )
        assert out.returncode == 0, out.stderr
    finally:
        _stop(proc)


def test_serve_help_shows_every_default() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "retab_async.testing", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0
    section = out.stdout.split("options:", 1)[1]
    entries = [" ".join(e.split()) for e in re.split(r"\n(?=  -)", section) if e.strip()]
    named = {entry.split()[0].rstrip(","): entry for entry in entries}
    assert "(default: sk_local_test)" in named["--api-key"]
    assert {"--host", "--port", "--run-time", "--seed", "--log-limit", "--body-timeout"} <= set(
        named
    )
    for option, entry in named.items():
        if option != "-h":
            assert "(default: " in entry, f"{option} does not show its default: {entry}"


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
