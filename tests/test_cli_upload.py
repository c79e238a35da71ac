"""The upload command, and batch commands given files too large to send inline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import retab_async._documents

from .test_cli import DOCS, KEY, Server, _columns, _serve, run

pytestmark = pytest.mark.usefixtures("responsive_cli")


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    for server in _serve("--run-time", "0.05"):
        monkeypatch.setenv("RETAB_API_KEY", KEY)
        monkeypatch.setenv("RETAB_API_BASE_URL", server.url)
        yield server


def test_upload_prints_a_row_per_file(capsys: pytest.CaptureFixture[str], served: Server) -> None:
    files = [str(d) for d in DOCS[:2]]
    code, out, _ = run(capsys, "upload", *files)
    assert code == 0
    rows = _columns(out)
    assert [r["FILE"] for r in rows] == files
    assert all(r["ID"].startswith("file_") for r in rows)
    assert [int(r["BYTES"]) for r in rows] == [Path(f).stat().st_size for f in files]
    assert all(r["DOCUMENT"].startswith("https://storage.retab.com/") for r in rows)
    ops = [r["operation"] for r in served.get("/_local/requests")]
    assert ops.count("upload_content") == 2 and ops.count("complete_upload") == 2


def test_upload_json_lines(capsys: pytest.CaptureFixture[str], served: Server) -> None:
    code, out, _ = run(capsys, "upload", "--json", str(DOCS[0]))
    line = json.loads(out)
    assert code == 0 and line["file"] == str(DOCS[0]) and line["file_id"].startswith("file_")
    assert line["document"]["filename"] == DOCS[0].name and len(line["sha256"]) == 64


def test_upload_refuses_bad_files_before_sending(
    capsys: pytest.CaptureFixture[str], served: Server, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.pdf"
    empty.touch()
    code, _, err = run(capsys, "upload", str(DOCS[0]), str(empty))
    assert code == 2 and "empty" in err
    assert served.get("/_local/requests") == []


def test_a_batch_command_uploads_files_too_large_to_inline(
    capsys: pytest.CaptureFixture[str], served: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retab_async._documents, "MAX_INLINE_BYTES", 64)
    big = max(DOCS, key=lambda d: d.stat().st_size)
    assert big.stat().st_size > 64
    code, _, err = run(capsys, "parse", str(big))
    assert code == 0 and "1 completed" in err
    ops = [r["operation"] for r in served.get("/_local/requests")]
    assert ops[:3] == ["upload", "upload_content", "complete_upload"] and "create" in ops
