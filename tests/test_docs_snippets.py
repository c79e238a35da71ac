"""Every python block of the documentation site runs against a local server (the same
mechanism as the README's, in ``tests/_snippets.py``; ``tests/test_readme.py`` runs
mypy --strict over both)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from . import _snippets
from ._snippets import ROOT, Snippet

BLOCKS = [block for page in _snippets.site_pages() for block in _snippets.snippets(page)]


SCRIPTS = [block for block in BLOCKS if not block.is_pytest_module]
TEST_MODULES = [block for block in BLOCKS if block.is_pytest_module]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    yield from _snippets.serve()


@pytest.fixture(scope="module")
def test_run(base_url: str, tmp_path_factory: pytest.TempPathFactory) -> _snippets.TestRun:
    return _snippets.run_tests(TEST_MODULES, tmp_path_factory.mktemp("tests"), base_url)


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
@pytest.mark.parametrize("block", SCRIPTS, ids=lambda block: block.name)
def test_docs_block_runs(block: Snippet, base_url: str, tmp_path: Path) -> None:
    _snippets.documents(tmp_path)
    out = _snippets.run(block, tmp_path, base_url)
    assert out.returncode == 0, f"{block}\n{out.stdout}\n{out.stderr}"


@pytest.mark.subprocess
@pytest.mark.parametrize("block", TEST_MODULES, ids=lambda block: block.name)
def test_docs_test_module_passes(block: Snippet, test_run: _snippets.TestRun) -> None:
    outcomes = test_run.of(block)
    assert outcomes and set(outcomes) == {"passed"}, f"{block}\n{outcomes}\n{test_run.output}"
