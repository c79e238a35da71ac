"""Every benchmark script runs in its quickest mode and writes its result, so none rots.

Smoke tests only: the figures of ``--quick`` mean nothing and nothing here
looks at a timing. The scripts run at the same time, each in its own process,
to keep the suite fast.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = ["server", "decode", "import", "get", "single_run", "waits", "batch", "upload"]
# The server benchmark once more with its fallback load generator, which labels itself unsound.
RUNS = {name: (name, []) for name in SCRIPTS} | {"server_no_wrk": ("server", ["--no-wrk"])}

pytestmark = pytest.mark.subprocess


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run every script with ``--quick`` at once; their outputs and results by name."""
    root = tmp_path_factory.mktemp("bench-results")
    procs = {
        name: subprocess.Popen(
            [sys.executable, str(BENCHMARKS / f"bench_{script}.py"), "--quick", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "RETAB_BENCH_RESULTS": str(root / name)},
        )
        for name, (script, extra) in RUNS.items()
    }
    outputs = {name: proc.communicate(timeout=220) for name, proc in procs.items()}
    env = {**os.environ, "RETAB_BENCH_RESULTS": str(root / "all")}
    (root / "all").mkdir()
    for name in SCRIPTS:
        (root / "all" / f"{name}.json").write_bytes((root / name / f"{name}.json").read_bytes())
    summary = subprocess.run(
        [sys.executable, str(BENCHMARKS / "summary.py")], capture_output=True, text=True, env=env
    )
    return {
        "codes": {name: proc.returncode for name, proc in procs.items()},
        "outputs": outputs,
        "root": root,
        "summary": summary,
    }


@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", SCRIPTS)
def test_script_runs_quick_and_writes_its_result(quick_runs: dict[str, Any], name: str) -> None:
    stdout, stderr = quick_runs["outputs"][name]
    assert quick_runs["codes"][name] == 0, stderr[-3000:]
    assert f"== {name}:" in stdout
    result = json.loads((quick_runs["root"] / name / f"{name}.json").read_text())
    assert result["name"] == name and result["quick"] is True
    if name != "import":  # without the official SDK, import time has nothing to compare
        assert result["rows"], stdout
    for row in result["rows"]:
        assert row["verdict"] in ("PASS", "MISS", "")


@pytest.mark.timeout(240)
def test_server_benchmark_labels_its_python_load_unsound(quick_runs: dict[str, Any]) -> None:
    stdout, stderr = quick_runs["outputs"]["server_no_wrk"]
    assert quick_runs["codes"]["server_no_wrk"] == 0, stderr[-3000:]
    result = json.loads((quick_runs["root"] / "server_no_wrk" / "server.json").read_text())
    assert all("UNSOUND" in row["measure"] for row in result["rows"])
    assert "UNSOUND" in stdout


@pytest.mark.timeout(240)
def test_summary_prints_one_table_of_every_result(quick_runs: dict[str, Any]) -> None:
    summary = quick_runs["summary"]
    assert summary.returncode == 0, summary.stderr
    assert "== summary:" in summary.stdout
    assert "get() 64 in flight: req/s vs bare" in summary.stdout
    assert "10 waits: requests/run" in summary.stdout
    assert "targets met" in summary.stdout


@pytest.fixture
def counterpart() -> Iterator[Any]:
    """The benchmarks' counterpart server with runs that stay ``queued`` for 100 s."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import _common

        with _common.counterpart("--durations", "1000", "1000") as server:
            yield server
    finally:
        sys.path.remove(str(BENCHMARKS))


def _call(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Authorization", "Bearer sk_bench")
    request.add_header("User-Agent", "bench-test")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def test_counterpart_lists_pages_and_counts_like_the_contract(counterpart: Any) -> None:
    base = counterpart.url + "/v1/classifications"
    ids = [_call(base, "POST", b"{}")[1]["id"] for _ in range(250)]
    assert len(set(ids)) == 250

    seen: list[str] = []
    after = None
    for _ in range(5):
        query = "?status=queued&limit=100&order=asc" + (f"&after={after}" if after else "")
        status, page = _call(base + query)
        assert status == 200
        seen += [row["id"] for row in page["data"]]
        assert all(row["status"] == "queued" and row["categories"] for row in page["data"])
        after = page["list_metadata"]["after"]
        if after is None:
            break
    assert seen == ids  # oldest first, each once; `after` is null exactly on the last page

    status, newest = _call(base + "?limit=2&order=desc")
    assert [row["id"] for row in newest["data"]] == ids[:-3:-1]
    assert _call(base + "?status=in_progress&limit=100")[1]["data"] == []
    assert _call(base + "?limit=101")[0] == 422

    status, light = _call(f"{base}/{ids[0]}?include_output=false")
    assert (status, light["output"], light["consensus"]) == (200, None, None)
    status, cancelled = _call(f"{base}/{ids[0]}/cancel", "POST")
    assert cancelled["status"] == "cancelled"
    assert _call(f"{base}/{ids[0]}/cancel", "POST")[1]["status"] == "cancelled"
    assert _call(f"{base}/clss_unknown")[0] == 404
    request = urllib.request.Request(base)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    with refused.value as error:
        assert error.code == 401

    stats = counterpart.stats()
    kinds = stats["tags"]["bench-test"]
    assert kinds["create"]["requests"] == 250
    assert kinds["get_light"]["requests"] == 1 and kinds["cancel"]["requests"] == 2
    assert kinds["get_light"]["bytes_out"] > 4000  # the categories come back every time
    runs = {run["id"]: run for run in counterpart.runs()}
    assert runs[ids[0]]["requests"] == 4  # create, light get, two cancels
    assert runs[ids[1]]["finishes"] - runs[ids[1]]["created"] == pytest.approx(1000)


def test_counterpart_reads_chunked_bodies_and_honours_connection_close(counterpart: Any) -> None:
    host, port = counterpart.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/classifications HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk_bench\r\n"
            b'Transfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n2\r\n1}\r\n0\r\n\r\n'
            b"GET /v1/classifications?limit=1 HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer sk_bench\r\nConnection: close\r\n\r\n"
        )
        received = b""
        while chunk := sock.recv(65536):  # ends when the server closes the connection
            received += chunk
    assert received.count(b"HTTP/1.1 201 Created") == 1
    assert received.count(b"HTTP/1.1 200 OK") == 1
