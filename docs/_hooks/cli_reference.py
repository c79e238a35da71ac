"""MkDocs hook: the command-line reference, generated from the CLI's own parser.

A page containing the marker ``<!-- cli-reference -->`` gets, in its place, the
``--help`` text of ``retab-async`` and of each of its commands, so that the
reference cannot drift from the program.
"""

from __future__ import annotations

import argparse
from typing import Any

MARKER = "<!-- cli-reference -->"
WIDTH = 88


def render() -> str:
    """The reference as Markdown: the top-level help, then one section per command."""
    from retab_async._cli.main import parser

    top = parser()
    sections = [_block(top)]
    for name, command in _commands(top).items():
        command.epilog = None  # environment and exit codes: shown once, above
        sections.append(f"## `retab-async {name}`\n\n{_block(command)}")
    return "\n\n".join(sections) + "\n"


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace the marker with the generated reference."""
    return markdown.replace(MARKER, render()) if MARKER in markdown else markdown


def _commands(top: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in top._actions:  # argparse exposes subcommands only here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _block(command: argparse.ArgumentParser) -> str:
    formatter_class = command.formatter_class

    def fixed_width(prog: str) -> argparse.HelpFormatter:
        return formatter_class(prog, width=WIDTH)  # type: ignore[call-arg]

    command.formatter_class = fixed_width
    try:
        return f"```text\n{command.format_help().rstrip()}\n```"
    finally:
        command.formatter_class = formatter_class
