"""The ``retab_server`` fixture that the package registers as a pytest plugin."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from retab_async import RetabClient
from retab_async.testing import LocalRetab

README = Path(__file__).resolve().parents[2] / "README.md"


async def test_fixture_yields_a_running_server(retab_server: LocalRetab) -> None:
    async with RetabClient(retab_server.api_key, retab_server.base_url) as client:
        record = await client.classifications.create(("a.txt", b"receipt"), ["invoice", "receipt"])
    assert record.category == "receipt"
    assert len(retab_server.requests) == 1


@pytest.mark.retab_server(api_key="sk_custom", run_time=0.001)
async def test_fixture_takes_options_from_its_marker(retab_server: LocalRetab) -> None:
    assert retab_server.api_key == "sk_custom"
    assert retab_server.config.run_time == 0.001


def test_fixture_serves_a_synchronous_test_from_its_own_thread(retab_server: LocalRetab) -> None:
    async def classify() -> str | None:
        async with RetabClient(retab_server.api_key, retab_server.base_url) as client:
            record = await client.classifications.create(("r.txt", b"receipt"), ["receipt"])
        return record.category

    assert asyncio.run(classify()) == "receipt"
    assert [run.status for run in retab_server.runs] == ["completed"]


def test_in_thread_stops_the_server_and_its_thread() -> None:
    before = {t.ident for t in threading.enumerate()}
    server = LocalRetab()
    with server.in_thread():
        url = server.base_url
    assert {t.ident for t in threading.enumerate()} == before
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.base_url
    assert url.startswith("http://127.0.0.1:")


def _readme_test_snippets() -> list[str]:
    text = README.read_text()
    section = text.split("## Testing your code offline", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    return [block for block in blocks if "def test_" in block]


@pytest.mark.subprocess
def test_readme_examples_pass_in_a_fresh_project(tmp_path: Path) -> None:
    """As a user would: a directory with nothing but the README's tests, ``python -m pytest``."""
    snippets = _readme_test_snippets()
    tests = sum(
        snippet.count("\ndef test_") + snippet.count("async def test_") for snippet in snippets
    )
    assert len(snippets) >= 2 and tests >= 3
    for number, snippet in enumerate(snippets):
        (tmp_path / f"test_readme_{number}.py").write_text(snippet)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("RETAB_", "PYTEST_", "PYTHONPATH"))
    }
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-W", "error", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{tests} passed" in out.stdout, out.stdout
