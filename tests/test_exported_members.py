"""The public surface: one front door, complete and sorted."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

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


def test_every_exported_class_shows_the_public_module() -> None:
    classes = [getattr(retab_async, n) for n in retab_async.__all__]
    classes = [c for c in classes if isinstance(c, type)]
    assert len(classes) > 40
    for cls in classes:
        assert cls.__module__ == "retab_async", cls
        assert getattr(retab_async, cls.__qualname__) is cls  # so pickle finds it


def test_tracebacks_name_the_public_path() -> None:
    code = "import retab_async\nraise retab_async.RunCancelled(run_id='clss_1')\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stderr.splitlines()[-1] == "retab_async.RunCancelled: run clss_1 was cancelled"


def test_type_hints_still_resolve_after_the_module_changed() -> None:
    # In a fresh process, so that no decoder was cached before the module path changed.
    code = (
        "import typing, msgspec, retab_async as r\n"
        "for n in r.__all__:\n"
        "    v = getattr(r, n)\n"
        "    if isinstance(v, type):\n"
        "        typing.get_type_hints(v)\n"
        "page = msgspec.json.decode(\n"
        '    b\'{"data": [{"id": "clss_1", "error": {"details": {}}}]}\',\n'
        "    type=r.Page[r.Classification],\n"
        ")\n"
        "print(type(page.data[0].error).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "PrimitiveError"


@pytest.mark.parametrize(
    ("alias", "ours"),
    [
        ("APIError", "APIStatusError"),
        ("APIConnectionError", "TransportError"),
        ("APITimeoutError", "RequestTimeout"),
        ("InternalServerError", "ServerError"),
        ("ValidationError", "UnprocessableEntityError"),
        ("APIResponseValidationError", "DecodeError"),
    ],
)
def test_names_from_the_official_sdk_are_aliases(alias: str, ours: str) -> None:
    assert getattr(retab_async, alias) is getattr(retab_async, ours)
    assert alias in retab_async.__all__


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
