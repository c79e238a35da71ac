"""The edit command: the batch machinery of classify, its FILLED column, and filled PDFs
written to --output-dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_cli import _columns, run

pytestmark = pytest.mark.usefixtures("responsive_cli")

FORM = "APPLICATION\nFull name:\nEmail:\n[ ] I agree\n"
FILL = "Full name: Ada Lovelace; I agree: yes"


@pytest.fixture
def forms(tmp_path: Path) -> list[str]:
    paths = []
    for name, text in (("alpha.txt", FORM), ("beta.txt", "No fields here.")):
        path = tmp_path / "in" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        paths.append(str(path))
    return paths


def test_edit_local_prints_a_row_per_file(
    capsys: pytest.CaptureFixture[str], forms: list[str]
) -> None:
    code, out, err = run(capsys, "edit", "--local", *forms, "--instructions", FILL)
    assert code == 0 and "2 completed, 0 failed, 0 cancelled" in err
    assert out.splitlines()[0].split() == ["FILE", "STATUS", "FILLED", "RUN", "ERROR"]
    rows = _columns(out)
    assert [r["FILE"] for r in rows] == forms
    assert [r["FILLED"] for r in rows] == ["2/3", "1/1"]  # beta: the note field
    assert all(r["STATUS"] == "completed" and r["RUN"].startswith("edit_") for r in rows)


def test_edit_writes_filled_pdfs_to_the_output_dir(
    capsys: pytest.CaptureFixture[str], forms: list[str], tmp_path: Path
) -> None:
    out_dir = tmp_path / "out" / "filled"
    code, out, _ = run(
        capsys,
        "edit",
        "--local",
        "--json",
        *forms,
        "--instructions",
        FILL,
        "--color",
        "#FF0000",
        "--output-dir",
        str(out_dir),
    )
    assert code == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["alpha_filled.pdf", "beta_filled.pdf"]
    pdf = (out_dir / "alpha_filled.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and b"(Ada Lovelace) Tj" in pdf and b"1 0 0 rg" in pdf
    first = json.loads(out.splitlines()[0])
    assert first["filled_document"] == str(out_dir / "alpha_filled.pdf")
    values = {f["key"]: f["value"] for f in first["form_data"]}
    assert values == {"full_name": "Ada Lovelace", "email": None, "i_agree": "true"}
    assert "base64" not in out  # the PDF goes to disk, not to stdout


def test_without_output_dir_json_names_the_filled_document(
    capsys: pytest.CaptureFixture[str], forms: list[str]
) -> None:
    code, out, _ = run(capsys, "edit", "--local", "--json", forms[0], "--instructions", FILL)
    assert code == 0
    assert json.loads(out)["filled_document"] == "alpha_filled.pdf"


def test_a_failed_edit_writes_nothing_and_exits_1(
    capsys: pytest.CaptureFixture[str], forms: list[str], tmp_path: Path
) -> None:
    broken = Path(forms[1]).with_name("broken.txt")
    broken.write_text("Name: [[retab:fail]]")
    out_dir = tmp_path / "out"
    args = ["edit", "--local", forms[0], str(broken), "--instructions", FILL]
    code, out, _ = run(capsys, *args, "--output-dir", str(out_dir))
    assert code == 1
    assert [r["STATUS"] for r in _columns(out)] == ["completed", "failed"]
    assert [p.name for p in out_dir.iterdir()] == ["alpha_filled.pdf"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--instructions"),
        (["--instructions", "  "], "--instructions"),
        (["--instructions", "x", "--color", "blue"], "color"),
        (["--instructions", "x", "--no-wait", "--output-dir", "d"], "--no-wait"),
    ],
)
def test_usage_errors_send_nothing(
    capsys: pytest.CaptureFixture[str], forms: list[str], extra: list[str], message: str
) -> None:
    code, _, err = run(capsys, "edit", forms[0], *extra)
    assert code == 2 and message in err


def test_files_that_would_write_the_same_pdf_are_refused(
    capsys: pytest.CaptureFixture[str], forms: list[str], tmp_path: Path
) -> None:
    twin = tmp_path / "other" / "alpha.pdf"
    twin.parent.mkdir()
    twin.write_bytes(b"%PDF-1.4\n%%EOF\n")
    out_dir = tmp_path / "out"
    args = ["edit", "--local", forms[0], str(twin), "--instructions", "x"]
    code, _, err = run(capsys, *args, "--output-dir", str(out_dir))
    assert code == 2 and "alpha_filled.pdf" in err and not out_dir.exists()


def test_an_output_dir_that_is_a_file_is_refused(
    capsys: pytest.CaptureFixture[str], forms: list[str]
) -> None:
    args = ["edit", "--local", forms[0], "--instructions", "x", "--output-dir", forms[1]]
    code, _, err = run(capsys, *args)
    assert code == 2 and "--output-dir" in err
