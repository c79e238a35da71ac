"""Griffe extension: the reStructuredText bits of our docstrings, as Markdown.

The package's docstrings are written for ``help()`` and IDEs, with Sphinx roles
(``:class:`RunHandle```) and ``::`` literal blocks. mkdocstrings renders
Markdown, so before rendering this extension turns a role into inline code
(the object's last name) and a ``::`` block into a fenced Python block.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

from griffe import Extension, Object

_ROLE = re.compile(r":(?:class|func|meth|attr|data|exc|mod|obj):`(~?)([\w.]+)`")
_PRIVATE_PATH = re.compile(r"^retab_async(\.\w+)*?\._\w+\.")


def _name(match: re.Match[str]) -> str:
    tilde, path = match.groups()
    return f"`{path.rsplit('.', 1)[-1] if tilde else _PRIVATE_PATH.sub('', path)}`"


def to_markdown(text: str) -> str:
    """Roles to inline code; ``::`` literal blocks to fenced code blocks."""
    text = _ROLE.sub(_name, text)
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


class RstDocstrings(Extension):
    """Rewrites every docstring once it is loaded."""

    def on_instance(self, *, obj: Object, **_: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
