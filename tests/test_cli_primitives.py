"""The extract and parse commands: the batch machinery of classify, with their own inputs
and result column."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from .test_cli import DOCS, KEY, Server, _columns, _serve, run

pytestmark = pytest.mark.usefixtures("responsive_cli")

SCHEMA = {
    "type": "object",
    "properties": {
        "vendor": {"type": "string"},
        "total": {"type": "number"},
        "paid": {"type": "boolean"},
        "lines": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["vendor", "total", "paid"],
}


@pytest.fixture
def schema(tmp_path: Path) -> str:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(SCHEMA))
    return str(path)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    for server in _serve("--run-time", "0.05"):
        monkeypatch.setenv("RETAB_API_KEY", KEY)
        monkeypatch.setenv("RETAB_API_BASE_URL", server.url)
        yield server


def test_extract_local_prints_a_row_per_file(
    capsys: pytest.CaptureFixture[str], schema: str
) -> None:
    files = [str(d) for d in DOCS[:3]]
    code, out, err = run(capsys, "extract", "--local", *files, "--schema", schema)
    assert code == 0 and "3 completed, 0 failed, 0 cancelled" in err
    assert out.splitlines()[0].split() == ["FILE", "STATUS", "OUTPUT", "RUN", "ERROR"]
    rows = _columns(out)
    assert [r["FILE"] for r in rows] == files
    assert all(r["STATUS"] == "completed" and r["RUN"].startswith("extr_") for r in rows)
    assert all(r["OUTPUT"].startswith('{"vendor":') for r in rows)
    assert all(len(r["OUTPUT"]) <= 40 for r in rows)  # cut short; --json has it whole


def test_extract_json_lines_hold_the_whole_object(
    capsys: pytest.CaptureFixture[str], schema: str
) -> None:
    code, out, _ = run(
        capsys, "extract", "--local", "--json", str(DOCS[2]), "--schema", schema, "--consensus", "3"
    )
    assert code == 0
    row = json.loads(out)
    assert row["status"] == "completed" and row["run_id"].startswith("extr_")
    jsonschema.validate(row["output"], SCHEMA)
    assert set(row["likelihoods"]) >= {"vendor", "total", "paid"}
    assert row["error"] is None


def test_extract_failed_run_exits_1_with_its_error(
    capsys: pytest.CaptureFixture[str], schema: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"[[retab:fail]]")
    code, out, err = run(capsys, "extract", "--local", str(bad), str(DOCS[0]), "--schema", schema)
    assert code == 1 and "1 completed, 1 failed, 0 cancelled" in err
    failed, completed = _columns(out)
    assert failed["STATUS"] == "failed" and failed["OUTPUT"] == "-"
    assert failed["ERROR"].startswith("[DOCUMENT_UNREADABLE] ")
    assert completed["STATUS"] == "completed" and completed["ERROR"] == ""


def test_extract_checkpoint_replays_finished_runs(
    capsys: pytest.CaptureFixture[str], schema: str, tmp_path: Path
) -> None:
    journal = str(tmp_path / "journal.jsonl")
    argv = ["extract", "--local", "--json", *map(str, DOCS[:2]), "--schema", schema]
    code, first, _ = run(capsys, *argv, "--checkpoint", journal)
    assert code == 0
    # A second local server knows none of these runs: the results come from the journal.
    code, again, _ = run(capsys, *argv, "--checkpoint", journal)
    assert code == 0 and again == first
    code, fresh, _ = run(capsys, *argv, "--checkpoint", journal, "--restart")
    assert code == 0
    ids = {json.loads(line)["run_id"] for line in first.splitlines()}
    assert ids.isdisjoint(json.loads(line)["run_id"] for line in fresh.splitlines())


def test_parse_local_counts_pages(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    report.write_bytes(b"first page\fsecond page\fthird page")
    code, out, err = run(capsys, "parse", "--local", str(report), str(DOCS[0]))
    assert code == 0 and "2 completed" in err
    assert out.splitlines()[0].split() == ["FILE", "STATUS", "PAGES", "RUN", "ERROR"]
    rows = _columns(out)
    assert [r["PAGES"] for r in rows] == ["3", "1"]
    assert all(r["RUN"].startswith("prs_") for r in rows)


def test_parse_json_with_a_table_format(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    table = tmp_path / "stock.csv"
    table.write_text("name,qty\nbolts,3\nnuts,5\n")
    code, out, _ = run(
        capsys, "parse", "--local", "--json", str(table), "--table-format", "markdown"
    )
    assert code == 0
    row = json.loads(out)
    assert row["status"] == "completed" and len(row["pages"]) == 1
    assert "| name" in row["text"] and "bolts" in row["text"]


def test_no_wait_starts_runs_and_prints_ids_and_tokens(
    capsys: pytest.CaptureFixture[str], served: Server, schema: str
) -> None:
    code, out, _ = run(capsys, "extract", "--no-wait", "--json", str(DOCS[0]), "--schema", schema)
    assert code == 0
    started = json.loads(out)
    assert started["run_id"].startswith("extr_") and started["token"]
    code, out, _ = run(capsys, "parse", "--no-wait", str(DOCS[1]), "--model", "retab-large")
    assert code == 0
    (row,) = _columns(out)
    assert row["FILE"] == str(DOCS[1]) and row["RUN"].startswith("prs_")
    creates = [r for r in served.get("/_local/requests") if r["operation"] == "create"]
    assert [c["path"] for c in creates] == ["/v1/extractions", "/v1/parses"]
    assert {r["id"] for r in served.runs()} == {started["run_id"], row["RUN"]}


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing listens here: a usage error must come before any request."""
    monkeypatch.setenv("RETAB_API_KEY", KEY)
    monkeypatch.setenv("RETAB_API_BASE_URL", "http://127.0.0.1:9")


@pytest.mark.usefixtures("nowhere")
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["extract", str(DOCS[0]), "--schema", "missing.json"], "'missing.json' does not exist"),
        (["extract", str(DOCS[0]), "--schema", str(DOCS[0])], "is not valid JSON"),
        (["extract", "nope.pdf", "--schema", "{schema}"], "nope.pdf: no such file"),
        (["extract", str(DOCS[0]), "--schema", "{list}"], "holds a list, not a JSON object"),
        (["extract", str(DOCS[0]), "--schema", "{schema}", "--consensus", "17"], "--consensus"),
        (["extract", "--local", "--no-wait", str(DOCS[0]), "--schema", "{schema}"], "--no-wait"),
        (["parse", str(DOCS[0]), str(DOCS[0])], "given twice"),
        (["parse", str(DOCS[0]), "--concurrency", "0"], "--concurrency"),
        (["parse", str(DOCS[0]), "--timeout", "-1"], "--timeout must be a positive number"),
        (["parse", "--local", "--no-wait", str(DOCS[0])], "--no-wait"),
    ],
)
def test_usage_errors_exit_2_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    (tmp_path / "schema.json").write_text(json.dumps(SCHEMA))
    (tmp_path / "list.json").write_text("[]")
    paths = {"{schema}": str(tmp_path / "schema.json"), "{list}": str(tmp_path / "list.json")}
    code, out, err = run(capsys, *(paths.get(a, a) for a in argv))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


@pytest.mark.parametrize(
    "argv",
    [
        ["extract", "--local", str(DOCS[0])],  # no --schema
        ["parse", "--local", str(DOCS[0]), "--table-format", "latex"],
        ["parse", "--local", str(DOCS[0]), "--consensus", "3"],  # parses take no votes
    ],
)
def test_argument_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, *argv)
    assert exit_info.value.code == 2
    assert "local Retab server" not in capsys.readouterr().err


def test_help_of_extract_and_parse(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, wanted in (
        (["extract", "--help"], ["--schema", "--consensus", "--checkpoint", "--no-wait"]),
        (["parse", "--help"], ["--table-format", "markdown", "--checkpoint", "--local"]),
    ):
        with pytest.raises(SystemExit) as exit_info:
            run(capsys, *argv)
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        assert all(option in text for option in wanted) and "exit codes:" in text


def test_single_run_commands_address_any_primitive(
    capsys: pytest.CaptureFixture[str], served: Server, schema: str
) -> None:
    code, out, _ = run(capsys, "extract", "--no-wait", "--json", str(DOCS[0]), "--schema", schema)
    started = json.loads(out)
    run_id, token = started["run_id"], started["token"]
    code, out, _ = run(capsys, "wait", token, "--timeout", "10")  # the token names extractions
    fields = dict(line.split(None, 1) for line in out.splitlines())
    assert code == 0 and fields["id"] == run_id and fields["status"] == "completed"
    assert fields["output"].startswith('{"vendor":')
    code, out, _ = run(capsys, "get", "--json", run_id, "--primitive", "extractions")
    assert code == 0
    jsonschema.validate(json.loads(out)["output"], SCHEMA)
    code, out, _ = run(capsys, "list", "--primitive", "extractions", "--status", "completed")
    assert code == 0 and out.splitlines()[0].split() == [
        "ID",
        "STATUS",
        "FILE",
        "OUTPUT",
        "CREATED",
    ]
    assert [r["ID"] for r in _columns(out)] == [run_id]
    code, out, err = run(capsys, "cancel", run_id, "--primitive", "extractions")
    assert (
        code == 0 and err == f"nothing was cancelled: run {run_id} had already ended (completed)\n"
    )
    # Ids are opaque: without --primitive an extraction's id is looked up as a classification.
    code, out, err = run(capsys, "get", run_id)
    hint, error = err.splitlines()
    assert code == 1 and out == "" and "404" in error
    assert hint.startswith("no classification has this id") and "--primitive" in hint
    # A token names its primitive: --primitive may only agree with it.
    code, out, err = run(capsys, "get", token, "--primitive", "parses")
    assert (code, out) == (2, "") and "for a run of extractions, not of parses" in err
    code, out, _ = run(capsys, "get", token, "--primitive", "extractions")
    assert code == 0 and out.startswith("id ")
    paths = [r["path"] for r in served.get("/_local/requests")]
    assert f"/v1/extractions/{run_id}/cancel" not in paths  # nothing sent to a finished run


def test_wait_timeout_names_how_to_cancel_a_run_of_another_primitive(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for server in _serve("--run-time", "30"):
        monkeypatch.setenv("RETAB_API_KEY", KEY)
        monkeypatch.setenv("RETAB_API_BASE_URL", server.url)
        code, out, _ = run(capsys, "parse", "--no-wait", "--json", str(DOCS[0]))
        run_id = json.loads(out)["run_id"]
        code, out, err = run(capsys, "wait", run_id, "--primitive", "parses", "--timeout", "0.05")
        assert code == 124
        assert f"`retab-async cancel {run_id} --primitive parses`" in err
        code, out, err = run(capsys, "cancel", run_id, "--primitive", "parses")
        assert code == 0 and err == f"run {run_id} was cancelled\n"
        assert [r["status"] for r in server.runs()] == ["cancelled"]


def test_list_of_parses_by_status_is_refused(
    capsys: pytest.CaptureFixture[str], served: Server
) -> None:
    code, out, err = run(capsys, "list", "--primitive", "parses", "--status", "completed")
    assert (code, out) == (2, "") and err == "error: parses cannot be listed by --status\n"
    code, out, err = run(capsys, "list", "--primitive", "parses")
    assert (code, out, err) == (0, "", "no parses found\n")
    assert [r["path"] for r in served.get("/_local/requests")] == ["/v1/parses"]


def test_a_bad_token_is_refused_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETAB_API_KEY", KEY)
    monkeypatch.setenv("RETAB_API_BASE_URL", "http://127.0.0.1:9")
    code, out, err = run(capsys, "wait", "rtab1.abc.def")
    assert (code, out) == (2, "") and "checksum does not match" in err


def test_max_response_mb_bounds_what_the_cli_reads(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"lorem ipsum dolor sit amet\n" * 80_000)  # 2.2 MB: a 4 MB parse record
    code, out, _ = run(capsys, "parse", "--local", str(big), "--max-response-mb", "1")
    (row,) = _columns(out)
    assert code == 1 and "exceeds the 1048576-byte limit" in row["ERROR"]
    assert "--max-response-mb" in row["ERROR"]
    code, out, _ = run(capsys, "parse", "--local", str(big), "--max-response-mb", "8")
    assert code == 0 and _columns(out)[0]["STATUS"] == "completed"
    code, out, err = run(capsys, "parse", "--local", str(big), "--max-response-mb", "0.5")
    assert (code, out) == (2, "") and "--max-response-mb must be" in err
