"""The documentation's CLI reference is generated from the parser, so it lists every
command and option the program has."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from retab_async._cli.main import EXIT_CODES, parser

HOOK = Path(__file__).resolve().parent.parent / "docs" / "_hooks" / "cli_reference.py"


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cli_reference", HOOK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_the_reference_lists_every_command_and_option() -> None:
    text = _hook().render()
    commands = _subcommands()
    assert set(commands) == {
        "classify",
        "extract",
        "parse",
        "edit",
        "split",
        "partition",
        "generate-schema",
        "blueprint",
        "get",
        "wait",
        "cancel",
        "list",
        "upload",
    }
    for name, command in commands.items():
        assert f"## `retab-async {name}`" in text
        for action in command._actions:
            if action.help != argparse.SUPPRESS:
                for option in action.option_strings:
                    assert option in text, (name, option)
    for code in EXIT_CODES:
        assert f"\n  {code} " in text
    # --local is offered on batch commands only
    for name in ("get", "wait", "cancel", "list", "upload"):
        section = text.split(f"## `retab-async {name}`")[1]
        usage = section.strip().split("\n\n")[0]
        assert usage.startswith("```text\nusage: ") and "--local" not in usage


def test_the_marker_is_replaced_and_other_pages_are_left_alone() -> None:
    hook = _hook()
    page = "# Command line\n\n<!-- cli-reference -->\n"
    rendered = hook.on_page_markdown(page, page=None, config=None, files=None)
    assert hook.MARKER not in rendered and "usage: retab-async" in rendered
    assert hook.on_page_markdown("# Other\n") == "# Other\n"


def test_the_width_is_fixed_whatever_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    narrow = _hook().render()
    monkeypatch.setenv("COLUMNS", "200")
    assert _hook().render() == narrow
