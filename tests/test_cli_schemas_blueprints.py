"""The generate-schema and blueprint commands: one run from all files, and blueprints of
local files (uploaded first) or of files uploaded before, on the batch machinery."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from .test_cli import KEY, Server, _columns, _serve, run

pytestmark = pytest.mark.usefixtures("responsive_cli")

INVOICE = "Invoice number: 42\nTotal: 12.50\fShip to: Lyon\n"
RECEIPT = "Invoice number: 43\nTotal: 7\nPaid: yes\n"


@pytest.fixture
def examples(tmp_path: Path) -> list[str]:
    paths = [tmp_path / "invoice.txt", tmp_path / "receipt.txt"]
    for path, text in zip(paths, (INVOICE, RECEIPT), strict=True):
        path.write_text(text)
    return [str(p) for p in paths]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    for server in _serve("--run-time", "0.05"):
        monkeypatch.setenv("RETAB_API_KEY", KEY)
        monkeypatch.setenv("RETAB_API_BASE_URL", server.url)
        yield server


def test_generate_schema_makes_one_run_from_every_file(
    capsys: pytest.CaptureFixture[str], examples: list[str]
) -> None:
    code, out, err = run(capsys, "generate-schema", "--local", *examples)
    assert code == 0 and "1 completed, 0 failed, 0 cancelled" in err
    assert out.splitlines()[0].split() == ["FILE", "STATUS", "SCHEMA", "RUN", "ERROR"]
    (row,) = _columns(out)
    assert row["FILE"] == ", ".join(examples) and row["RUN"].startswith("schgen_")
    assert row["SCHEMA"] == "invoice_number, total, ship_to, paid"


def test_generate_schema_json_is_a_schema_extract_can_use(
    capsys: pytest.CaptureFixture[str], examples: list[str], tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys, "generate-schema", "--local", "--json", *examples, "--instructions", "Invoices"
    )
    assert code == 0
    schema = json.loads(out)["json_schema"]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["description"] == "Invoices"
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema))
    code, out, _ = run(capsys, "extract", "--local", "--json", examples[0], "--schema", str(path))
    assert code == 0 and json.loads(out)["output"]["invoice_number"] == 42


def test_blueprint_uploads_local_files_and_describes_them(
    capsys: pytest.CaptureFixture[str], examples: list[str]
) -> None:
    code, out, err = run(capsys, "blueprint", "--local", *examples, "--instructions", "bills")
    assert code == 0 and "2 completed" in err
    rows = _columns(out)
    assert [r["FILE"] for r in rows] == examples
    assert [r["BLUEPRINT"] for r in rows] == ["2 pages, 3 fields", "1 page, 3 fields"]
    assert all(r["RUN"].startswith("fbp_") for r in rows)


def test_blueprint_of_a_file_uploaded_before_and_no_wait(
    capsys: pytest.CaptureFixture[str], served: Server, examples: list[str]
) -> None:
    code, out, _ = run(capsys, "blueprint", "--json", examples[0])
    assert code == 0
    first = json.loads(out)
    assert first["output"]["page_count"] == 2
    creates = [r for r in served.get("/_local/requests") if r["path"] == "/v1/files/blueprints"]
    assert len(creates) == 1
    file_id = first["file_id"]
    assert file_id.startswith("file_")
    code, out, _ = run(capsys, "blueprint", "--no-wait", "--json", file_id)
    assert code == 0
    started = json.loads(out)
    assert started["run_id"].startswith("fbp_") and started["token"]
    code, out, _ = run(capsys, "wait", started["token"], "--json")
    assert code == 0 and json.loads(out)["status"] == "completed"
    uploads = [r for r in served.get("/_local/requests") if r["operation"] == "upload"]
    assert len(uploads) == 1  # the id was used as it is


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["blueprint", "no/such/file.txt"], "no such file, nor the id of an uploaded file"),
        (["blueprint", "--model", "x", "file_1"], "unrecognized arguments"),
        (["generate-schema", "missing.txt"], "missing.txt: no such file"),
    ],
)
def test_usage_errors_exit_2_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.setenv("RETAB_API_KEY", KEY)
    monkeypatch.setenv("RETAB_API_BASE_URL", "http://127.0.0.1:9")  # nothing listens
    if "--model" in argv:
        with pytest.raises(SystemExit) as exit_info:
            run(capsys, *argv)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
        return
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith("error: ") and message in err
