"""Every python block of the documentation site runs against a local server and passes
mypy --strict (the same mechanism as the README's, in ``tests/_snippets.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from . import _snippets
from ._snippets import ROOT, Snippet

PAGES = sorted((ROOT / "docs").rglob("*.md"))
BLOCKS = [block for page in PAGES for block in _snippets.snippets(page)]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    yield from _snippets.serve()


def test_the_guides_have_code() -> None:
    pages_with_code = {block.source.relative_to(ROOT / "docs").as_posix() for block in BLOCKS}
    assert {
        "index.md",
        "getting-started.md",
        "background-runs.md",
        "guides/web-backend.md",
        "guides/batch-pipeline.md",
        "guides/scripts.md",
        "reliability.md",
        "testing.md",
        "migration.md",
    } <= pages_with_code


@pytest.mark.subprocess
@pytest.mark.parametrize("block", BLOCKS, ids=lambda block: block.name)
def test_docs_block_runs(block: Snippet, base_url: str, tmp_path: Path) -> None:
    _snippets.documents(tmp_path)
    out = _snippets.run(block, tmp_path, base_url)
    assert out.returncode == 0, f"{block}\n{out.stdout}\n{out.stderr}"


@pytest.mark.subprocess
def test_docs_blocks_pass_mypy_strict(tmp_path: Path) -> None:
    out = _snippets.mypy_strict(BLOCKS, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
