"""The wheel users install carries the licence, its metadata and the typing marker."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hatchling.builders.wheel import WheelBuilder

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    out = tmp_path_factory.mktemp("dist")
    (path,) = WheelBuilder(str(ROOT)).build(directory=str(out), versions=["standard"])
    with zipfile.ZipFile(path) as opened:
        yield opened


def _member(wheel: zipfile.ZipFile, suffix: str) -> str:
    (name,) = [n for n in wheel.namelist() if n.endswith(suffix)]
    return wheel.read(name).decode()


def test_the_licence_is_mit_and_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert 'license = "MIT"' in (ROOT / "pyproject.toml").read_text().splitlines()
    assert _member(wheel, ".dist-info/licenses/LICENSE") == text
    metadata = _member(wheel, ".dist-info/METADATA").splitlines()
    assert "License-Expression: MIT" in metadata
    assert "License-File: LICENSE" in metadata


def test_the_wheel_is_typed_and_registers_its_entry_points(wheel: zipfile.ZipFile) -> None:
    assert "retab_async/py.typed" in wheel.namelist()
    entry_points = _member(wheel, ".dist-info/entry_points.txt")
    assert "retab-async = retab_async._cli.main:main" in entry_points
    assert "retab_async = retab_async.testing._pytest_plugin" in entry_points
