"""Every benchmark script runs in its quickest mode and writes its result, so none rots.

Smoke tests only: the figures of ``--quick`` mean nothing and nothing here
looks at a timing. The scripts run at the same time, each in its own process,
to keep the suite fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = ["server", "decode", "import", "get", "single_run", "waits", "batch"]
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
    outputs = {name: proc.communicate(timeout=110) for name, proc in procs.items()}
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


@pytest.mark.timeout(120)
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


@pytest.mark.timeout(120)
def test_server_benchmark_labels_its_python_load_unsound(quick_runs: dict[str, Any]) -> None:
    stdout, stderr = quick_runs["outputs"]["server_no_wrk"]
    assert quick_runs["codes"]["server_no_wrk"] == 0, stderr[-3000:]
    result = json.loads((quick_runs["root"] / "server_no_wrk" / "server.json").read_text())
    assert all("UNSOUND" in row["measure"] for row in result["rows"])
    assert "UNSOUND" in stdout


@pytest.mark.timeout(120)
def test_summary_prints_one_table_of_every_result(quick_runs: dict[str, Any]) -> None:
    summary = quick_runs["summary"]
    assert summary.returncode == 0, summary.stderr
    assert "== summary:" in summary.stdout
    assert "get() 64 in flight: req/s vs bare" in summary.stdout
    assert "waits x10: requests/run" in summary.stdout
    assert "targets met" in summary.stdout
