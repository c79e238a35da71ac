"""Every example runs, against the local server."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import aiohttp
import anyio
import pytest
from aiohttp import web

from retab_async.testing import LocalRetab

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETAB_")}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env,
    )


@pytest.mark.subprocess
def test_quickstart(tmp_path: Path) -> None:
    out = _run("quickstart.py", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "sync:       completed -> receipt" in out.stdout
    assert "background: completed -> invoice" in out.stdout
    assert "cancelled:  cancelled (again: cancelled)" in out.stdout
    assert "was cancelled" in out.stdout


@pytest.mark.subprocess
def test_batch_pipeline_with_checkpoint(tmp_path: Path) -> None:
    checkpoint = tmp_path / "cp.jsonl"
    first = _run("batch_pipeline.py", "--checkpoint", str(checkpoint), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "receipt-cafe.txt" in first.stdout and "progress: 8/8 finished" in first.stdout
    second = _run("batch_pipeline.py", "--checkpoint", str(checkpoint), cwd=tmp_path)
    assert second.returncode == 0
    assert second.stdout.count("(from checkpoint)") == 8
    assert "requests sent by the poller: 0" in second.stdout
    third = _run("batch_pipeline.py", "--checkpoint", str(checkpoint), "--restart", cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    assert "(from checkpoint)" not in third.stdout and "progress: 8/8 finished" in third.stdout


def _load_web_backend() -> ModuleType:
    sys.path.insert(0, str(EXAMPLES))
    try:
        spec = importlib.util.spec_from_file_location("web_backend", EXAMPLES / "web_backend.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(EXAMPLES))


@pytest.mark.parametrize("run_time", [0.05])
async def test_web_backend(run_time: float) -> None:
    backend = _load_web_backend()
    async with LocalRetab(run_time=run_time) as retab:
        runner = web.AppRunner(backend.make_app(retab.api_key, retab.base_url))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                doc = (EXAMPLES / "documents" / "receipt-cafe.txt").read_bytes()
                async with http.post(
                    base + "/jobs", params={"filename": "r.txt"}, data=doc
                ) as resp:
                    assert resp.status == 202
                    token = (await resp.json())["job"]
                status = {}
                with anyio.fail_after(10):
                    while status.get("status") != "completed":
                        async with http.get(f"{base}/jobs/{token}") as resp:
                            status = await resp.json()
                        await anyio.sleep(0.02)
                assert status["category"] == "receipt"
                async with http.delete(f"{base}/jobs/{token}") as resp:
                    assert (await resp.json())[
                        "status"
                    ] == "completed"  # cancel after completion: unchanged
                async with http.get(f"{base}/jobs/not-a-token") as resp:
                    assert resp.status == 404
                async with http.post(
                    base + "/jobs", params={"filename": "x.exe"}, data=b"x"
                ) as resp:
                    assert resp.status == 400
        finally:
            await runner.cleanup()
    assert retab.requests[0].operation == "create"


@pytest.mark.subprocess
def test_extract_invoices(tmp_path: Path) -> None:
    out = _run("extract_invoices.py", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("sync:       completed -> ") and "total 354.0" in lines[0]
    assert "batch:      invoice-northwind-20418.txt: total 1999.2" in lines
    assert "batch:      invoice-acme-hosting.txt: total 354.0" in lines
    partials = [line for line in lines if line.startswith("partial:")]
    assert len(partials) >= 2 and "['customer', 'total_due']" in out.stdout
    assert any(line.startswith("final:      completed -> Invoice(") for line in lines)
    assert lines[-1] == "sources:    ['customer', 'payment_due', 'total_due']"


@pytest.mark.subprocess
def test_parse_documents(tmp_path: Path) -> None:
    out = _run("parse_documents.py", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "sync:       completed, 2 pages, first: 'Quarterly report'" in out.stdout
    assert "| item | quantity |\n| --- | --- |\n| bolts | 300 |" in out.stdout
    assert "background: completed, " in out.stdout
    assert "batch:      receipt-cafe.txt: " in out.stdout
    assert "batch:      receipt-hardware-store.txt: " in out.stdout
    assert out.stdout.count("deleted:    prs_") == 1


@pytest.mark.subprocess
def test_split_documents(tmp_path: Path) -> None:
    out = _run("split_documents.py", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "sync:       completed: invoice [1, 2], letter [3], invoice [4]" in out.stdout
    assert "invoices:   [[1, 2], [4]]" in out.stdout
    assert "consensus:  invoice [1, 2], letter [3], invoice [4]; likelihoods 3" in out.stdout
    assert "batch:      letter-reference.txt: ['letter']" in out.stdout
    assert out.stdout.count("deleted:    splt_") == 2


@pytest.mark.subprocess
def test_fill_forms(tmp_path: Path) -> None:
    out = _run("fill_forms.py", "--output-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "field:      full_name (text, page 1) = 'Ada Lovelace'" in lines
    assert "field:      i_agree_to_the_terms (checkbox, page 1) = 'true'" in lines
    assert "field:      member_since (text, page 1) = None" in lines
    assert any(line.startswith("saved:      application_filled.pdf (") for line in lines)
    assert any(
        line.startswith("template:   completed, {'full_name': 'Charles Babbage'") for line in lines
    )
    assert sorted(line for line in lines if line.startswith("batch:")) == [
        f"batch:      form-{n} -> form-{n}_filled.pdf" for n in (1, 2, 3)
    ]
    assert lines[-1] == "deleted:    3 edits of the batch"
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["application_filled.pdf", *(f"form-{n}_filled.pdf" for n in (1, 2, 3))]
    assert all((tmp_path / "out" / name).read_bytes().startswith(b"%PDF-") for name in written)


@pytest.mark.subprocess
def test_partition_documents(tmp_path: Path) -> None:
    out = _run("partition_documents.py", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "overlap:    A-1 [1, 2], B-7 [3], C-2 [3]" in out.stdout
    assert "no overlap: A-1 [1, 2], B-7 [3]" in out.stdout
    assert "consensus:  A-1 [1, 2], B-7 [3], C-2 [3]; likelihoods 3" in out.stdout
    assert out.stdout.count("deleted:    prtn_") == 3


@pytest.mark.subprocess
def test_describe_documents(tmp_path: Path) -> None:
    out = _run("describe_documents.py", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert (
        "schema:     completed, properties ['bill_to', 'billing_period', 'customer', 'invoice_date']"
        in lines
    )
    assert "extracted:  ['bill_to', 'billing_period', 'customer', 'invoice_date']" in lines
    assert any(line.startswith("background: completed, ") for line in lines)
    assert "blueprint:  completed, 1 page(s), fields ['invoice_date', 'bill_to']" in lines
    assert "batch:      not/an/id: False" in lines
    assert any(line.startswith("batch:      file_") and line.endswith(": True") for line in lines)
