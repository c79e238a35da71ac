"""Griffe extension: the reStructuredText bits of our docstrings, as Markdown.

The package's docstrings are written for ``help()`` and IDEs, with Sphinx roles
(``:class:`RunHandle```), ``::`` literal blocks, and entries that document
several names at once (``min_interval, max_interval: bounds of ...``).
mkdocstrings renders Markdown and Google-style sections, so before rendering
this extension turns a role into inline code, a ``::`` block into a fenced
Python block, and a grouped entry into one entry per name.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

try:
    from griffe import Extension, Object
except ImportError:  # the test suite checks to_markdown without the docs extra installed
    Extension = object  # type: ignore[assignment,misc]
    Object = Any  # type: ignore[assignment,misc]

_ROLE = re.compile(r":(?:class|func|meth|attr|data|exc|mod|obj):`(~?)([\w.]+)`")
_PRIVATE_PATH = re.compile(r"^retab_async(\.\w+)*?\._\w+\.")


def _name(match: re.Match[str]) -> str:
    tilde, path = match.groups()
    return f"`{path.rsplit('.', 1)[-1] if tilde else _PRIVATE_PATH.sub('', path)}`"


_GROUPED = re.compile(r"^(\s+)(\w+(?:, \w+)+): (.*)$")


def to_markdown(text: str) -> str:
    """Roles to inline code; ``::`` literal blocks to fenced code blocks; grouped
    entries to one entry per name."""
    text = _ungroup(_ROLE.sub(_name, text))
    lines = text.splitlines()
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.rstrip().endswith("::"):
            out.append(line)
            continue
        lead = line.rstrip()[:-2].rstrip()
        if lead:
            out.append(lead + ":")
        indent = len(line) - len(line.lstrip())
        block: list[str] = []
        while index < len(lines) and (
            not lines[index].strip() or len(lines[index]) - len(lines[index].lstrip()) > indent
        ):
            block.append(lines[index])
            index += 1
        code = textwrap.dedent("\n".join(block)).strip("\n")
        out += ["", " " * indent + "```python"]
        out += [" " * indent + row if row else "" for row in code.splitlines()]
        out += [" " * indent + "```", ""]
    return "\n".join(out)


def _ungroup(text: str) -> str:
    lines = text.splitlines()
    out: list[str] = []
    index = 0
    while index < len(lines):
        match = _GROUPED.match(lines[index])
        index += 1
        if match is None:
            out.append(lines[index - 1])
            continue
        indent, names, first = match.groups()
        rest: list[str] = []
        while index < len(lines) and lines[index].startswith(indent + " "):
            rest.append(lines[index])
            index += 1
        for name in names.split(", "):
            out += [f"{indent}{name}: {first}", *rest]
    return "\n".join(out)


class RstDocstrings(Extension):
    """Rewrites every docstring once it is loaded."""

    def on_instance(self, *, obj: Object, **_: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
