"""The split and partition commands: the batch machinery of classify, with subdocuments
(split) or a key (partition) as their input, and each entry's pages as their result column."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_cli import DOCS, KEY, Server, _columns, _serve, run

pytestmark = pytest.mark.usefixtures("responsive_cli")

BUNDLE = b"INVOICE 1\nDue: 30 EUR\fcontinued\fLetter\nDear Sir\fInvoice 2"


@pytest.fixture
def bundle(tmp_path: Path) -> str:
    path = tmp_path / "bundle.txt"
    path.write_bytes(BUNDLE)
    return str(path)


def test_split_local_prints_each_subdocument_with_its_pages(
    capsys: pytest.CaptureFixture[str], bundle: str
) -> None:
    code, out, err = run(
        capsys, "split", "--local", bundle, str(DOCS[0]), "--subdocuments", "invoice, letter"
    )
    assert code == 0 and "2 completed, 0 failed, 0 cancelled" in err
    assert out.splitlines()[0].split() == ["FILE", "STATUS", "SUBDOCUMENTS", "RUN", "ERROR"]
    rows = _columns(out)
    assert [r["FILE"] for r in rows] == [bundle, str(DOCS[0])]
    assert rows[0]["SUBDOCUMENTS"] == "invoice:1-2+4,letter:3"
    assert all(r["STATUS"] == "completed" and r["RUN"].startswith("splt_") for r in rows)


def test_split_json_from_a_subdocuments_file(
    capsys: pytest.CaptureFixture[str], bundle: str, tmp_path: Path
) -> None:
    subdocuments = tmp_path / "subdocuments.json"
    subdocuments.write_text(
        json.dumps([{"name": "invoice", "allow_multiple_instances": True}, "letter"])
    )
    code, out, _ = run(
        capsys,
        "split",
        "--local",
        "--json",
        bundle,
        "--subdocuments-file",
        str(subdocuments),
        "--consensus",
        "3",
    )
    assert code == 0
    row = json.loads(out)
    assert row["status"] == "completed" and row["run_id"].startswith("splt_")
    assert [(e["name"], e["pages"]) for e in row["output"]] == [
        ("invoice", [1, 2]),
        ("letter", [3]),
        ("invoice", [4]),
    ]
    assert len(row["likelihoods"]) == 3


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing listens here: a usage error must come before any request."""
    monkeypatch.setenv("RETAB_API_KEY", "sk_cli_test")
    monkeypatch.setenv("RETAB_API_BASE_URL", "http://127.0.0.1:9")


@pytest.mark.usefixtures("nowhere")
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["split", "{doc}"], "give --subdocuments a,b,c or --subdocuments-file"),
        (
            ["split", "{doc}", "--subdocuments", "a,,b"],
            "--subdocuments: subdocument #1 has a blank",
        ),
        (["split", "{doc}", "--subdocuments", "a,a"], "'a' is listed twice"),
        (["split", "{doc}", "--subdocuments-file", "{empty}"], "must not be empty"),
        (["split", "{doc}", "--subdocuments-file", "{object}"], "expected a non-empty JSON list"),
        (["split", "{doc}", "--subdocuments-file", "{bad}"], "unknown keys: ['kind']"),
        (["split", "{doc}", "--subdocuments-file", "missing.json"], "missing.json"),
        (["split", "{doc}", "--subdocuments", "a", "--subdocuments-file", "{empty}"], "not both"),
        (["split", "{doc}", "--subdocuments", "a", "--consensus", "0"], "--consensus"),
    ],
)
def test_usage_errors_exit_2_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    (tmp_path / "empty.json").write_text("[]")
    (tmp_path / "object.json").write_text('{"name": "a"}')
    (tmp_path / "bad.json").write_text('[{"name": "a", "kind": "x"}]')
    paths = {f"{{{p.stem}}}": str(p) for p in tmp_path.iterdir()} | {"{doc}": str(DOCS[0])}
    code, out, err = run(capsys, *(paths.get(a, a) for a in argv))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_help_of_split(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, "split", "--help")
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--subdocuments", "--subdocuments-file", "--consensus", "--checkpoint"):
        assert option in text


LEDGER = b"Invoice number: A\nTotal: 3\fcontinued\fInvoice number: B\nInvoice number: C"


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    path = tmp_path / "ledger.txt"
    path.write_bytes(LEDGER)
    return str(path)


def test_partition_local_prints_each_chunk_with_its_pages(
    capsys: pytest.CaptureFixture[str], ledger: str
) -> None:
    code, out, err = run(
        capsys,
        "partition",
        "--local",
        ledger,
        "--key",
        "invoice number",
        "--instructions",
        "one chunk per invoice",
    )
    assert code == 0 and "1 completed, 0 failed, 0 cancelled" in err
    assert out.splitlines()[0].split() == ["FILE", "STATUS", "CHUNKS", "RUN", "ERROR"]
    (row,) = _columns(out)
    assert row["CHUNKS"] == "A:1-2,B:3,C:3" and row["RUN"].startswith("prtn_")


def test_partition_json_without_overlap(capsys: pytest.CaptureFixture[str], ledger: str) -> None:
    argv = ["partition", "--local", "--json", ledger, "--key", "invoice number"]
    code, out, _ = run(capsys, *argv, "--instructions", "x", "--no-overlap", "--consensus", "3")
    assert code == 0
    row = json.loads(out)
    assert [(c["key"], c["pages"]) for c in row["output"]] == [("A", [1, 2]), ("B", [3])]
    assert len(row["likelihoods"]) == 2


@pytest.mark.usefixtures("nowhere")
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--key", " ", "--instructions", "x"], "--key must name what to partition by"),
        (["--key", "k", "--instructions", "x", "--consensus", "17"], "--consensus"),
    ],
)
def test_partition_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, "partition", str(DOCS[0]), *argv)
    assert (code, out) == (2, "")
    assert err.startswith("error: ") and message in err


def test_partition_without_instructions_sends_them_empty(
    capsys: pytest.CaptureFixture[str], ledger: str
) -> None:
    # The library takes instructions="" too: the API requires the field, not a text in it.
    argv = ["partition", "--local", "--json", ledger, "--key", "invoice number"]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert [c["key"] for c in json.loads(out)["output"]] == ["A", "B", "C"]


def test_partition_requires_a_key(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, "partition", "--local", str(DOCS[0]), "--instructions", "x")
    assert exit_info.value.code == 2 and "--key" in capsys.readouterr().err


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    for server in _serve("--run-time", "0.05"):
        monkeypatch.setenv("RETAB_API_KEY", KEY)
        monkeypatch.setenv("RETAB_API_BASE_URL", server.url)
        yield server


def test_started_splits_and_partitions_are_waited_for_listed_and_cancelled(
    capsys: pytest.CaptureFixture[str], served: Server, bundle: str, ledger: str
) -> None:
    code, out, _ = run(capsys, "split", "--no-wait", "--json", bundle, "--subdocuments", "letter")
    split = json.loads(out)
    code, out, _ = run(capsys, "wait", split["token"], "--timeout", "10")
    fields = dict(line.split(None, 1) for line in out.splitlines())
    assert code == 0 and fields["status"] == "completed"
    assert json.loads(fields["output"]) == [
        {"name": "letter", "pages": [1, 2, 3, 4], "regions": None}
    ]
    argv = ["partition", "--no-wait", "--json", ledger, "--key", "invoice number"]
    code, out, _ = run(capsys, *argv, "--instructions", "x")
    partition = json.loads(out)
    assert code == 0 and partition["run_id"].startswith("prtn_")
    code, out, _ = run(capsys, "wait", partition["token"], "--timeout", "10")
    assert code == 0
    code, out, _ = run(capsys, "list", "--primitive", "partitions", "--status", "completed")
    assert code == 0 and [r["ID"] for r in _columns(out)] == [partition["run_id"]]
    code, out, err = run(capsys, "cancel", split["run_id"], "--primitive", "splits")
    assert code == 0 and "nothing was cancelled" in err
