"""The documentation renders our reST-flavoured docstrings as Markdown."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

HOOK = Path(__file__).resolve().parent.parent / "docs" / "_hooks" / "rst_docstrings.py"


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rst_docstrings", HOOK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("rst", "markdown"),
    [
        ("see :class:`RunHandle`.", "see `RunHandle`."),
        ("see :meth:`RunHandle.wait`.", "see `RunHandle.wait`."),
        ("a :class:`~retab_async._errors.DecodeError`", "a `DecodeError`"),
        ("a :func:`retab_async.dask._worker.run_partition`", "a `run_partition`"),
        ("a :class:`retab_async.testing.ManualClock`", "a `retab_async.testing.ManualClock`"),
        ("plain ``code`` stays", "plain ``code`` stays"),
    ],
)
def test_roles_become_inline_code(hook: ModuleType, rst: str, markdown: str) -> None:
    assert hook.to_markdown(rst) == markdown


def test_literal_blocks_become_fenced_python(hook: ModuleType) -> None:
    rst = "Use it so::\n\n    async with X() as x:\n        pass\n\nAfter."
    assert hook.to_markdown(rst) == (
        "Use it so:\n\n```python\nasync with X() as x:\n    pass\n```\n\nAfter."
    )


def test_grouped_entries_become_one_per_name(hook: ModuleType) -> None:
    rst = "Args:\n    a, b: shared\n        text.\n    c: alone\n"
    assert hook.to_markdown(rst) == (
        "Args:\n    a: shared\n        text.\n    b: shared\n        text.\n    c: alone"
    )


def test_every_public_docstring_converts_without_leftover_roles(hook: ModuleType) -> None:
    import retab_async
    import retab_async.testing

    for module in (retab_async, retab_async.testing):
        for name in module.__all__:
            doc = getattr(getattr(module, name), "__doc__", None) or ""
            assert ":class:`" not in hook.to_markdown(doc), name
