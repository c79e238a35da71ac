"""The command line: in-process for behaviour and output, real subprocesses for signals."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retab_async import PollPolicy, RetabError
from retab_async._cli.main import _poll_policy, main

pytestmark = pytest.mark.usefixtures("responsive_cli")

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
def stuck_server() -> Iterator[Server]:
    """Runs that take ten minutes: still going whenever a test looks, on any machine."""
    yield from _serve("--run-time", "600")


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


def _columns(out: str) -> list[dict[str, str]]:
    """Rows of an aligned table, cut where the header's columns start."""
    header, *lines = out.splitlines()
    names = header.split()
    starts = [header.index(name) for name in names]
    ends = [*starts[1:], None]
    return [
        {n: line[a:b].strip() for n, a, b in zip(names, starts, ends, strict=True)}
        for line in lines
    ]


def test_failed_runs_exit_1_and_errors_have_their_own_column(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"[[retab:fail]]")
    code, out, err = run(
        capsys, "classify", "--local", str(bad), str(DOCS[0]), "--categories", "contract,b"
    )
    assert code == 1
    assert "1 completed, 1 failed, 0 cancelled" in err
    failed, completed = _columns(out)
    assert failed["FILE"] == str(bad) and failed["STATUS"] == "failed"
    assert failed["CATEGORY"] == "-" and failed["RUN"].startswith("clss_")
    assert failed["ERROR"].startswith("[DOCUMENT_UNREADABLE] ")
    assert completed["CATEGORY"] == "contract" and completed["ERROR"] == ""


def test_rows_come_in_the_order_of_the_files(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(d) for d in reversed(DOCS)]  # runs of 0.2-1 s finish in another order
    code, out, _ = run(capsys, "classify", "--local", *files, "--categories", "a,b")
    assert code == 0 and [row["FILE"] for row in _columns(out)] == files
    code, out, _ = run(capsys, "classify", "--local", "--json", *files, "--categories", "a,b")
    assert code == 0 and [json.loads(line)["file"] for line in out.splitlines()] == files


def test_table_holds_rows_back_until_earlier_inputs_finish() -> None:
    import io

    from retab_async import BatchResult
    from retab_async._cli.output import Output, ResultTable, category_column

    stdout = io.StringIO()
    table = ResultTable(
        Output(json_lines=True, stdout=stdout), ["a", "b", "c"], category_column(["x"])
    )
    error = RetabError("no run")
    table.add(BatchResult("b", "b", None, error, None))
    assert stdout.getvalue() == ""
    table.add(BatchResult("a", "a", None, error, None))
    assert [json.loads(line)["file"] for line in stdout.getvalue().splitlines()] == ["a", "b"]
    table.flush()  # nothing left: "c" never finished
    assert len(stdout.getvalue().splitlines()) == 2


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
        (
            ["classify", "--local", str(DOCS[0]), "--categories", "a,,b"],
            "--categories: category 2 is blank",
        ),
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
            ["classify", "--local", str(DOCS[0]), "--categories", "a", "--timeout", "0"],
            "--timeout must be a positive number of seconds",
        ),
        (
            ["classify", "--local", str(DOCS[0]), "--categories-file", "missing.json"],
            "missing.json",
        ),
        (
            ["classify", "--local", str(DOCS[0]), str(DOCS[0]), "--categories", "a"],
            "given twice",
        ),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "local Retab server" not in err  # refused before a server was started


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key and an address where nothing listens: a usage error must come before any
    request, or the command would report that it cannot connect."""
    monkeypatch.setenv("RETAB_API_KEY", KEY)
    monkeypatch.setenv("RETAB_API_BASE_URL", "http://127.0.0.1:9")


@pytest.mark.usefixtures("nowhere")
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["get", "a/b"], "must not contain '/'"),
        (["wait", "clss_x", "--timeout", "-1"], "--timeout must be a positive number of seconds"),
        (["wait", "clss_x", "--timeout", "nan"], "--timeout must be a positive number of seconds"),
        (
            ["list", "--status", "done"],
            "--status must be one of: cancelled, completed, failed, in_progress, pending, queued",
        ),
        (["list", "--limit", "0"], "--limit must be from 1 to 10000"),
        (["get", "--local", "clss_x"], "--local cannot be used with get"),
        (["wait", "--local", "clss_x"], "--local cannot be used with wait"),
        (["cancel", "--local", "clss_x"], "--local cannot be used with cancel"),
        (["list", "--local"], "--local cannot be used with list"),
        (
            ["classify", "--local", "--no-wait", str(DOCS[0]), "--categories", "a"],
            "--local cannot be used with --no-wait",
        ),
    ],
)
def test_usage_errors_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_an_empty_file_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.pdf"
    empty.touch()
    code, out, err = run(
        capsys, "classify", "--local", str(DOCS[0]), str(empty), "--categories", "a"
    )
    assert (code, out) == (2, "")
    assert err == f"error: {empty}: the file is empty\n"


def test_plain_http_to_a_remote_host_needs_the_flag(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETAB_API_KEY", KEY)
    monkeypatch.setenv("RETAB_API_BASE_URL", "http://0.0.0.0:9")  # not loopback by name
    code, _, err = run(capsys, "get", "clss_1")
    assert code == 2
    assert "--allow-insecure-http" in err and "RETAB_ALLOW_INSECURE_HTTP=1" in err
    assert "allow_insecure_http=True" not in err
    # With the flag, or the variable, the request goes out (and finds nobody there).
    code, _, err = run(capsys, "get", "clss_1", "--allow-insecure-http")
    assert code == 1 and err.startswith("error: cannot connect")
    monkeypatch.setenv("RETAB_ALLOW_INSECURE_HTTP", "1")
    code, _, err = run(capsys, "get", "clss_1")
    assert code == 1 and err.startswith("error: cannot connect")


def test_help_shows_defaults_environment_and_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv in (["--help"], ["classify", "--help"], ["wait", "--help"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        for variable in ("RETAB_API_KEY", "RETAB_API_BASE_URL", "RETAB_ALLOW_INSECURE_HTTP"):
            assert variable in text
        assert "exit codes:" in text and "124" in text and "130" in text
    with pytest.raises(SystemExit):
        main(["classify", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # help lines wrap with the terminal
    assert "(default: 16)" in text and "(default: retab-small)" in text
    assert "(default: no limit)" in text
    assert "--local" in text


def test_missing_key_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RETAB_API_KEY", raising=False)
    code, _, err = run(capsys, "list")
    assert (
        code == 2
        and err == "error: RETAB_API_KEY is not set (or pass --local to use the local server)\n"
    )


def test_bad_key_is_one_line_naming_the_variable(
    capsys: pytest.CaptureFixture[str], env: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETAB_API_KEY", "sk_wrong_key")
    code, _, err = run(capsys, "list")
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("error: the API did not accept the key in RETAB_API_KEY (401")
    assert "sk_wrong_key" not in err


def test_bad_key_ends_a_batch_at_once(
    capsys: pytest.CaptureFixture[str], env: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETAB_API_KEY", "sk_wrong_key")
    argv = ["classify", *map(str, DOCS), "--categories", "a,b", "--concurrency", "1"]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (1, "")
    assert (
        err == "error: the API did not accept the key in RETAB_API_KEY (401: Not authenticated)\n"
    )
    creates = [r for r in env.get("/_local/requests") if r["operation"] == "create"]
    assert len(creates) == 1  # the first refusal stopped the batch
    code, out, err = run(capsys, *argv[:-2], "--no-wait")
    assert code == 1 and out == "" and "RETAB_API_KEY (401" in err and err.count("\n") == 1


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
    code, out, _ = run(capsys, "list", "--limit", "5", "--status", "completed")
    assert code == 0 and run_id in out


def test_get_prints_aligned_fields(capsys: pytest.CaptureFixture[str], env: Server) -> None:
    code, out, _ = run(capsys, "classify", "--json", str(DOCS[0]), "--categories", "contract,b")
    run_id = json.loads(out)["run_id"]
    code, out, _ = run(capsys, "get", run_id)
    assert code == 0
    fields = dict(line.split(None, 1) for line in out.splitlines())
    assert fields["id"] == run_id and fields["status"] == "completed"
    assert fields["category"] == "contract" and fields["file"] == DOCS[0].name
    values_start = {len(line) - len(line.split(None, 1)[1]) for line in out.splitlines()}
    assert len(values_start) == 1  # every value starts in the same column


def test_list_is_a_table_with_a_header(capsys: pytest.CaptureFixture[str], env: Server) -> None:
    files = [str(d) for d in DOCS[:3]]
    code, out, _ = run(capsys, "classify", *files, "--categories", "contract,letter,b")
    assert code == 0
    code, out, _ = run(capsys, "list", "--limit", "10")
    assert code == 0
    assert out.splitlines()[0].split() == ["ID", "STATUS", "FILE", "CATEGORY", "CREATED"]
    rows = _columns(out)
    assert len(rows) == 3 and all(r["ID"].startswith("clss_") for r in rows)
    assert sorted(r["FILE"] for r in rows) == sorted(d.name for d in DOCS[:3])
    assert {r["STATUS"] for r in rows} == {"completed"}
    code, out, err = run(capsys, "list", "--status", "failed")
    assert (code, out, err) == (0, "", "no classifications found\n")  # no header either


def test_cancel_on_a_finished_run_says_nothing_was_cancelled(
    capsys: pytest.CaptureFixture[str], env: Server
) -> None:
    code, out, _ = run(capsys, "classify", "--json", str(DOCS[0]), "--categories", "a,b")
    run_id = json.loads(out)["run_id"]
    code, out, err = run(capsys, "cancel", run_id)
    assert code == 0 and "completed" in out
    assert err == f"nothing was cancelled: run {run_id} had already ended (completed)\n"
    assert [r["status"] for r in env.runs()] == ["completed"]


def test_cancel_and_wait_timeout_on_a_running_run(
    capsys: pytest.CaptureFixture[str], stuck_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETAB_API_KEY", KEY)
    monkeypatch.setenv("RETAB_API_BASE_URL", stuck_server.url)
    code, out, _ = run(
        capsys, "classify", "--no-wait", "--json", str(DOCS[0]), "--categories", "a,b"
    )
    run_id = json.loads(out)["run_id"]
    code, out, err = run(capsys, "wait", run_id, "--timeout", "0.05")
    assert code == 124  # its own exit code: the run is still going, not failed
    assert err.startswith(f"error: run {run_id} is still ") and "keeps running" in err
    code, out, err = run(capsys, "cancel", run_id)
    assert code == 0 and err == f"run {run_id} was cancelled\n"
    code, out, err = run(capsys, "wait", run_id)
    assert code == 1 and "was cancelled" in err


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
    assert "Traceback" not in err
    statuses = [r["status"] for r in slow_server.runs()]
    assert "in_progress" not in statuses and "queued" not in statuses
    assert "cancelled" in statuses
    # The summary counts what the server holds.
    summary = re.search(r"interrupted: (\d+) completed, (\d+) failed, (\d+) cancelled", err)
    assert summary is not None, err
    assert int(summary[1]) == statuses.count("completed")
    assert int(summary[3]) == statuses.count("cancelled")
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
    from retab_async._cli.output import Output

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


def test_runs_past_the_timeout_are_counted_apart_and_left_running(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for server in _serve("--run-time", "30"):
        monkeypatch.setenv("RETAB_API_KEY", KEY)
        monkeypatch.setenv("RETAB_API_BASE_URL", server.url)
        argv = ["classify", str(DOCS[0]), "--categories", "a,b", "--timeout", "0.2"]
        code, out, err = run(capsys, *argv)
        assert code == 1
        assert err == "0 completed, 0 failed, 0 cancelled, 1 timed out (left running)\n"
        (row,) = _columns(out)
        assert row["STATUS"] == "timed_out" and row["ERROR"].endswith("left running")
        assert [r["status"] for r in server.runs()] in (["queued"], ["in_progress"])


@pytest.mark.parametrize(
    ("name", "policy"),
    [
        ("default", PollPolicy()),
        ("responsive", PollPolicy.responsive()),
        ("low-latency", PollPolicy.low_latency()),
        ("economical", PollPolicy.economical()),
    ],
)
def test_poll_names_the_default_policy_or_a_preset(
    monkeypatch: pytest.MonkeyPatch, name: str, policy: PollPolicy
) -> None:
    monkeypatch.setenv("RETAB_POLL", "economical" if name != "economical" else "default")
    assert _poll_policy(name) == policy  # --poll wins over RETAB_POLL
    monkeypatch.setenv("RETAB_POLL", name)
    assert _poll_policy(None) == policy
    monkeypatch.delenv("RETAB_POLL")
    assert _poll_policy(None) == PollPolicy()


@pytest.mark.usefixtures("nowhere")
def test_an_unknown_retab_poll_is_a_usage_error_before_anything_starts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETAB_POLL", "fast")
    for argv in (["get", "clss_x"], ["classify", "--local", str(DOCS[0]), "--categories", "a"]):
        code, out, err = run(capsys, *argv)
        assert (code, out) == (2, "")
        assert err == (
            "error: RETAB_POLL='fast' is not a poll policy; choose one of default, "
            "responsive, low-latency, economical\n"
        )  # before the local server started: no note about it


def test_an_unknown_poll_option_is_refused_by_the_parser(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["get", "--poll", "fast", "clss_x"])
    assert exit_.value.code == 2
    assert "--poll: invalid choice: 'fast'" in capsys.readouterr().err
