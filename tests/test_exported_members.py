"""The public surface: one front door, complete and sorted."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import retab_async
import retab_async.testing


def test_all_is_sorted_and_complete() -> None:
    names = retab_async.__all__
    assert names == sorted(names)
    public = {
        name
        for name, value in vars(retab_async).items()
        if not name.startswith("_") and not isinstance(value, type(retab_async))
    }
    assert public | {"__version__"} == set(names)


def test_every_exported_member_comes_from_a_private_module() -> None:
    for name in retab_async.__all__:
        value = getattr(retab_async, name)
        module = getattr(value, "__module__", None)
        if module is not None and isinstance(value, type):
            assert module.startswith("retab_async._"), (name, module)


def test_testing_all_is_sorted_and_complete() -> None:
    names = retab_async.testing.__all__
    assert names == sorted(names)
    for name in names:
        assert hasattr(retab_async.testing, name)


def test_all_modules_import() -> None:
    for info in pkgutil.walk_packages(retab_async.__path__, "retab_async."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)


def test_import_does_not_load_the_server_or_the_cli() -> None:
    code = (
        "import sys, retab_async;"
        "print(sorted(m for m in sys.modules if m.split('.')[:2] in (['retab_async', 'testing'],"
        " ['retab_async', '_cli'], ['retab_async', '_cli_output'], ['aiohttp', 'web'])))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
