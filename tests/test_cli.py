"""The command line: in-process for behaviour and output, real subprocesses for signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retab_async._cli import main

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "examples" / "documents").iterdir())
KEY = "sk_cli_test"


class Server:
    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc, self.url = proc, url

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as resp:
            return json.loads(resp.read())

    def runs(self) -> list[dict[str, Any]]:
        return self.get("/_local/runs")["runs"]


def _serve(*args: str) -> Iterator[Server]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "retab_async.testing", "serve", "--api-key", KEY, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip().removeprefix("listening on ")
    try:
        yield Server(proc, url)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)


@pytest.fixture
def fast_server() -> Iterator[Server]:
    yield from _serve("--run-time", "0.05")


@pytest.fixture
def slow_server() -> Iterator[Server]:
    yield from _serve("--run-time", "1.0", "--run-time-max", "2.5", "--seed", "5")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, fast_server: Server) -> Server:
    monkeypatch.setenv("RETAB_API_KEY", KEY)
    monkeypatch.setenv("RETAB_API_BASE_URL", fast_server.url)
    return fast_server


def _cli_env(server: Server) -> dict[str, str]:
    return {**os.environ, "RETAB_API_KEY": KEY, "RETAB_API_BASE_URL": server.url}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_classify_local_prints_sensible_categories(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "classify",
        "--local",
        *map(str, DOCS),
        "--categories",
        "invoice,receipt,contract,letter",
    )
    assert code == 0
    assert "local Retab server" in err and "8 completed" in err
    rows = {line.split()[0]: line.split()[2] for line in out.splitlines()[1:]}
    assert {Path(k).name.split("-")[0]: v for k, v in rows.items()} == {
        "invoice": "invoice",
        "receipt": "receipt",
        "contract": "contract",
        "letter": "letter",
    }


def test_classify_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "classify",
        "--local",
        "--json",
        str(DOCS[0]),
        "--categories",
        "invoice,contract",
        "--consensus",
        "3",
    )
    assert code == 0
    row = json.loads(out)
    assert row["status"] == "completed" and row["category"] == "contract"
    assert row["run_id"].startswith("clss_") and 0 < row["likelihood"] <= 1


def test_classify_with_a_categories_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cats = tmp_path / "cats.json"
    cats.write_text(json.dumps([{"name": "receipt", "description": "proof of payment"}, "letter"]))
    code, out, _ = run(
        capsys, "classify", "--local", "--json", str(DOCS[-1]), "--categories-file", str(cats)
    )
    assert code == 0 and json.loads(out)["category"] == "receipt"


def test_failed_runs_exit_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"[[retab:fail]]")
    code, out, err = run(
        capsys, "classify", "--local", str(bad), str(DOCS[0]), "--categories", "a,b"
    )
    assert code == 1
    assert "1 completed, 1 failed" in err
    assert "failed" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["classify", "--local", "nope.pdf", "--categories", "a"], "nope.pdf: no such file"),
        (["classify", "--local", str(ROOT), "--categories", "a"], "is a directory"),
        (
            ["classify", "--local", str(ROOT / "pyproject.toml"), "--categories", "a"],
            "unsupported file type .toml",
        ),
        (["classify", "--local", str(DOCS[0])], "give --categories"),
        (["classify", "--local", str(DOCS[0]), "--categories", "a,,b"], "blank name"),
        (["classify", "--local", str(DOCS[0]), "--categories", "a,a"], "listed twice"),
        (
            ["classify", "--local", str(DOCS[0]), "--categories", "a", "--consensus", "0"],
            "--consensus",
        ),
        (
            ["classify", "--local", str(DOCS[0]), "--categories", "a", "--concurrency", "0"],
            "--concurrency",
        ),
        (
            ["classify", "--local", str(DOCS[0]), "--categories-file", "missing.json"],
            "missing.json",
        ),
        (["get", "--local", "a/b"], "must not contain '/'"),
        (["wait", "--local", "clss_x", "--timeout", "-1"], "timeout must be"),
        (["list", "--local", "--status", "done"], "unknown status"),
        (["list", "--local", "--limit", "0"], "--limit"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    lines = [line for line in err.splitlines() if not line.startswith("using the local")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_missing_key_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RETAB_API_KEY", raising=False)
    code, _, err = run(capsys, "list")
    assert (
        code == 2
        and err == "error: RETAB_API_KEY is not set (or pass --local to use the local server)\n"
    )


def test_bad_key_is_one_line(
    capsys: pytest.CaptureFixture[str], env: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETAB_API_KEY", "sk_wrong_key")
    code, _, err = run(capsys, "list")
    assert code == 1 and err.count("\n") == 1 and "401" in err
    assert "sk_wrong_key" not in err


def test_unreachable_server_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETAB_API_KEY", KEY)
    monkeypatch.setenv("RETAB_API_BASE_URL", "http://127.0.0.1:9")
    code, _, err = run(capsys, "get", "clss_1")
    assert code == 1 and err.startswith("error: cannot connect") and err.count("\n") == 1


def test_get_wait_cancel_list(capsys: pytest.CaptureFixture[str], env: Server) -> None:
    code, out, _ = run(
        capsys, "classify", "--no-wait", "--json", str(DOCS[0]), "--categories", "contract,letter"
    )
    assert code == 0
    run_id = json.loads(out)["run_id"]
    code, out, _ = run(capsys, "wait", run_id, "--timeout", "10")
    assert code == 0 and "completed" in out and "contract" in out
    code, out, _ = run(capsys, "get", "--json", run_id)
    assert code == 0 and json.loads(out)["output"]["category"] == "contract"
    code, out, _ = run(capsys, "cancel", run_id)
    assert code == 0 and "completed" in out  # a finished run comes back unchanged
    code, out, _ = run(capsys, "list", "--limit", "5", "--status", "completed")
    assert code == 0 and run_id in out


def test_wait_on_a_failed_run_exits_1(
    capsys: pytest.CaptureFixture[str], env: Server, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"[[retab:fail]]")
    code, out, _ = run(capsys, "classify", "--no-wait", "--json", str(bad), "--categories", "a")
    run_id = json.loads(out)["run_id"]
    code, out, err = run(capsys, "wait", run_id)
    assert code == 1 and "DOCUMENT_UNREADABLE" in err


def _spawn(server: Server, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "retab_async", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_cli_env(server),
    )


def _wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _many_files(tmp_path: Path, n: int) -> list[str]:
    paths = []
    for i in range(n):
        path = tmp_path / f"doc{i:02d}.txt"
        path.write_text(f"invoice number {i}, amount due")
        paths.append(str(path))
    return paths


@pytest.mark.subprocess
def test_sigkill_mid_batch_then_rerun_finishes_every_input_once(
    slow_server: Server, tmp_path: Path
) -> None:
    files = _many_files(tmp_path, 20)
    checkpoint = tmp_path / "journal.jsonl"
    argv = [
        "classify",
        *files,
        "--categories",
        "invoice,letter",
        "--concurrency",
        "6",
        "--json",
        "--checkpoint",
        str(checkpoint),
    ]
    proc = _spawn(slow_server, *argv)
    _wait_for(lambda: len(slow_server.runs()) >= 8)
    proc.kill()  # SIGKILL: no clean-up at all
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    again = _spawn(slow_server, *argv)
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert sorted(r["file"] for r in rows) == files
    assert all(r["status"] == "completed" for r in rows)
    runs = slow_server.runs()
    assert len(runs) == 20  # exactly one run per input on the server
    assert sorted(r["filename"] for r in runs) == sorted(Path(f).name for f in files)


@pytest.mark.subprocess
def test_sigint_cancels_in_flight_runs_and_exits_130(slow_server: Server, tmp_path: Path) -> None:
    files = _many_files(tmp_path, 12)
    checkpoint = tmp_path / "journal.jsonl"
    argv = [
        "classify",
        *files,
        "--categories",
        "invoice,letter",
        "--concurrency",
        "4",
        "--checkpoint",
        str(checkpoint),
    ]
    proc = _spawn(slow_server, *argv)
    _wait_for(lambda: len(slow_server.runs()) >= 4)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "interrupted:" in err and "cancelled" in err and "Traceback" not in err
    statuses = [r["status"] for r in slow_server.runs()]
    assert "in_progress" not in statuses and "queued" not in statuses
    assert "cancelled" in statuses
    rerun = _spawn(slow_server, *argv, "--json")
    out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    assert sorted(json.loads(line)["file"] for line in out.splitlines()) == files


@pytest.mark.subprocess
def test_sigint_with_keep_running_leaves_runs(slow_server: Server, tmp_path: Path) -> None:
    files = _many_files(tmp_path, 6)
    proc = _spawn(
        slow_server,
        "classify",
        *files,
        "--categories",
        "a,b",
        "--concurrency",
        "3",
        "--keep-running",
    )
    _wait_for(lambda: len(slow_server.runs()) >= 3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and "left running" in err
    assert "cancelled" not in [r["status"] for r in slow_server.runs()]


@pytest.mark.subprocess
def test_console_script_entry_point() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "retab_async", "--version"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0 and out.stdout.startswith("retab-async ")


def test_progress_bar_only_on_a_terminal() -> None:
    import io

    from retab_async import BatchProgress
    from retab_async._cli_output import Output

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert Output(json_lines=False, stderr=io.StringIO()).progress_bar(4) is None
    stream = Terminal()
    bar = Output(json_lines=False, stderr=stream).progress_bar(4)
    assert bar is not None
    bar.update(BatchProgress(total=4, submitted=4, running=2, completed=1, failed=1))
    bar.close()
    text = stream.getvalue()
    assert text.startswith("\r[###############...............] 2/4")
    assert "running 2" in text and "failed 1" in text and text.endswith("\n")
