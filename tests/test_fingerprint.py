"""Digests of batch parameters and input contents, and the journal's line-by-line writes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from retab_async import DocumentError, MIMEData, UsageError
from retab_async._documents import to_mime_data
from retab_async._runs.checkpoint import Journal
from retab_async._runs.fingerprint import document_digest, mime_digest, params_digests

CONTENT = b"INVOICE 42. Amount due 300 EUR.\n" * 100_000  # 3.3 MB: several streaming chunks


def _kinds(tmp_path: Path) -> list[tuple[str, Any]]:
    path = tmp_path / "invoice.txt"
    path.write_bytes(CONTENT)
    return [
        ("path", path),
        ("str path", str(path)),
        ("bytes", ("invoice.txt", CONTENT)),
        ("file in a tuple", ("invoice.txt", io.BytesIO(CONTENT))),
        ("named file", path.open("rb")),
    ]


async def test_streaming_digest_equals_the_digest_of_the_body(tmp_path: Path) -> None:
    digests = set()
    for name, document in _kinds(tmp_path):
        streamed = await document_digest(document)
        sent = mime_digest(await to_mime_data(document))  # the file was put back: read again
        assert streamed == sent, name
        digests.add(streamed)
        if hasattr(document, "close"):
            document.close()
    assert len(digests) == 1  # the same file name and bytes, however they are given


async def test_digest_changes_with_content_name_or_url(tmp_path: Path) -> None:
    base = await document_digest(("a.txt", b"one"))
    assert await document_digest(("a.txt", b"one")) == base
    assert await document_digest(("a.txt", b"two")) != base
    assert await document_digest(("b.txt", b"one")) != base
    url = "https://example.com/docs/a.pdf"
    assert await document_digest(url) == mime_digest(MIMEData(filename="a.pdf", url=url))
    assert await document_digest(url) != await document_digest(url + "?v=2")


async def test_a_missing_file_cannot_be_digested(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="cannot be read"):
        await document_digest(tmp_path / "missing.txt")


def test_parameter_digests_name_each_parameter() -> None:
    base = params_digests({"model": "retab-small", "categories": [{"name": "a"}]})
    assert set(base) == {"model", "categories"}
    other = params_digests({"model": "retab-large", "categories": [{"name": "a"}]})
    assert [n for n in base if base[n] != other[n]] == ["model"]


def test_idempotency_keys_follow_parameters_content_and_journal(tmp_path: Path) -> None:
    params = params_digests({"model": "retab-small"})
    with Journal.open(tmp_path / "a.jsonl", params=params) as journal:
        key = journal.idempotency_key("doc", "d1")
        assert journal.idempotency_key("doc", "d1") == key  # a crash and a rerun: replayed
        assert journal.idempotency_key("doc", "d2") != key  # other content
        journal.abandoned("doc", None)
        assert journal.idempotency_key("doc", "d1") != key  # after an abandoned run
    with Journal.open(tmp_path / "a.jsonl", params=params) as reopened:
        assert reopened.idempotency_key("doc", "d1") == journal.idempotency_key("doc", "d1")
    other = params_digests({"model": "retab-large"})
    with Journal.open(tmp_path / "b.jsonl", params=other) as elsewhere:
        assert elsewhere.idempotency_key("doc", "d1") != key


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_line_cut_short_by_the_file_size_limit_is_rolled_back(tmp_path: Path) -> None:
    # A real short write: the kernel writes up to RLIMIT_FSIZE, then refuses (EFBIG).
    checkpoint = tmp_path / "journal.jsonl"
    script = textwrap.dedent(
        f"""
        import resource, signal
        from retab_async._runs.checkpoint import Journal
        from retab_async import CheckpointError
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        journal = Journal.open({str(checkpoint)!r}, params={{"model": "x"}})
        journal.started("a", "clss_0123456789abcdef", "k", "d")
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
        journal.finished("a", "clss_0123456789abcdef", {{"pad": "x" * 5000}})
        journal.finished("b", "clss_0123456789abcdee", {{"pad": "y"}})  # not written
        try:
            journal.check()
        except CheckpointError as exc:
            print(exc.errno)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "27"  # EFBIG
    text = checkpoint.read_text()
    assert text.endswith("\n")
    events = [json.loads(line)["event"] for line in text.splitlines()]
    assert events == ["batch", "started"]


def test_a_restart_that_cannot_write_keeps_the_old_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal.open(path, params={"model": "x"}) as journal:
        journal.started("a", "clss_0123456789abcdef", "k", "d")
    before = path.read_bytes()
    # The new journal is written beside the old one first: make that impossible.
    (tmp_path / f".j.jsonl.{os.getpid()}.new").mkdir()
    with pytest.raises(UsageError, match="cannot write checkpoint"):
        Journal.open(path, params={"model": "y"}, mode="restart")
    assert path.read_bytes() == before


async def test_streaming_digest_with_chunks_that_split_base64_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retab_async._runs import fingerprint as _fingerprint

    monkeypatch.setattr(_fingerprint, "_CHUNK", 1000)  # not a multiple of 3
    path = tmp_path / "odd.txt"
    path.write_bytes(bytes(range(256)) * 40 + b"x")  # 10,241 bytes
    assert await document_digest(path) == mime_digest(await to_mime_data(path))
