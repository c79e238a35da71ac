"""Every python block of the README runs against a local server, and every block of the
README and of the documentation site passes mypy --strict (one run for both)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from . import _snippets
from ._snippets import ROOT, Snippet

BLOCKS = _snippets.snippets(ROOT / "README.md")


SCRIPTS = [block for block in BLOCKS if not block.is_pytest_module]
TEST_MODULES = [block for block in BLOCKS if block.is_pytest_module]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    yield from _snippets.serve()


@pytest.fixture(scope="module")
def test_run(base_url: str, tmp_path_factory: pytest.TempPathFactory) -> _snippets.TestRun:
    return _snippets.run_tests(TEST_MODULES, tmp_path_factory.mktemp("tests"), base_url)


def test_the_readme_has_python_blocks() -> None:
    headings = {block.heading for block in BLOCKS}
    assert {"The client", "Background runs", "Batches"} <= headings


@pytest.mark.subprocess
@pytest.mark.parametrize("block", SCRIPTS, ids=lambda block: block.name)
def test_readme_block_runs(block: Snippet, base_url: str, tmp_path: Path) -> None:
    _snippets.documents(tmp_path)
    out = _snippets.run(block, tmp_path, base_url)
    assert out.returncode == 0, f"{block}\n{out.stdout}\n{out.stderr}"


@pytest.mark.subprocess
@pytest.mark.timeout(600)  # one mypy run over every block: minutes on a loaded machine
def test_readme_and_site_blocks_pass_mypy_strict(tmp_path: Path) -> None:
    site = [block for page in _snippets.site_pages() for block in _snippets.snippets(page)]
    out = _snippets.mypy_strict([*BLOCKS, *site], tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.subprocess
@pytest.mark.parametrize("block", TEST_MODULES, ids=lambda block: block.name)
def test_readme_test_module_passes(block: Snippet, test_run: _snippets.TestRun) -> None:
    outcomes = test_run.of(block)
    assert outcomes and set(outcomes) == {"passed"}, f"{block}\n{outcomes}\n{test_run.output}"
