"""Code blocks of the README and the documentation site, run and type-checked.

Every ```` ```python ```` block is a complete program (or a pytest module, when it
defines ``test_`` functions; those run together in one pytest process): it is run
in a fresh process against a local server, with ``RETAB_API_KEY`` and ``RETAB_API_BASE_URL`` set as a user would set
them, in a directory holding the documents the snippets name. All blocks are
also checked with ``mypy --strict``. Blocks that are not programs use another
fence (``console``, ``text``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parent.parent
SERVER_KEY = "sk_snippets"

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```python[^\n]*\n(?P<code>.*?)^(?P=indent)```", re.S | re.M
)
_HEADING = re.compile(r"^#{1,6} (.+)$", re.M)
_PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@dataclass(frozen=True)
class Snippet:
    """One python block: where it is and what it says."""

    source: Path
    line: int
    heading: str
    code: str

    @property
    def name(self) -> str:
        """A module name for the block, such as ``readme_l42_background_runs``."""
        words = re.findall(r"[a-z0-9]+", self.heading.lower())[:4]
        stem = re.sub(r"[^a-z0-9]+", "_", self.source.stem.lower())
        return "_".join([stem, f"l{self.line}", *words])

    @property
    def uses_dask(self) -> bool:
        """Whether the block imports dask or distributed (which are not fully typed)."""
        return re.search(r"^(from|import) (dask|distributed)\b", self.code, re.M) is not None

    @property
    def is_pytest_module(self) -> bool:
        """Whether the block is a test module (run with pytest, not python)."""
        return re.search(r"^(async )?def test_", self.code, re.M) is not None

    def __str__(self) -> str:
        return f"{self.source.relative_to(ROOT)}:{self.line} ({self.heading})"


def site_pages() -> list[Path]:
    """The documentation site's Markdown pages."""
    return sorted((ROOT / "docs").rglob("*.md"))


def snippets(path: Path) -> list[Snippet]:
    """The python blocks of a Markdown file, in order."""
    text = path.read_text()
    found = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        headings = _HEADING.findall(text, 0, match.start())
        code = textwrap.dedent(match["code"])
        found.append(Snippet(path, line, headings[-1] if headings else path.stem, code))
    return found


def documents(directory: Path) -> None:
    """The files the snippets name: sample documents and a few PDFs."""
    for path in (ROOT / "examples" / "documents").iterdir():
        shutil.copy(path, directory / path.name)
    for name in ("invoice.pdf", "receipt.pdf", "contract.pdf", "scan.pdf", "letter.pdf"):
        (directory / name).write_bytes(_PDF)
    docs = directory / "documents"
    docs.mkdir(exist_ok=True)
    for path in (ROOT / "examples" / "documents").iterdir():
        shutil.copy(path, docs / path.name)


def environment(base_url: str) -> dict[str, str]:
    """The process environment for a snippet: the local server's key and address."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETAB_")}
    env.update(RETAB_API_KEY=SERVER_KEY, RETAB_API_BASE_URL=base_url, PYTHONPATH="")
    return env


def write(snippet: Snippet, directory: Path) -> Path:
    """The block as a module file in ``directory`` (``test_*.py`` for a pytest module)."""
    prefix = "test_" if snippet.is_pytest_module else ""
    path = directory / f"{prefix}{snippet.name}.py"
    path.write_text(snippet.code)
    return path


def run(snippet: Snippet, directory: Path, base_url: str) -> subprocess.CompletedProcess[str]:
    """Run a script block in ``directory`` (test modules go through :func:`run_tests`)."""
    assert not snippet.is_pytest_module, snippet
    path = write(snippet, directory)
    return subprocess.run(
        [sys.executable, path.name],
        cwd=directory,
        env=environment(base_url),
        capture_output=True,
        text=True,
        timeout=120,
    )


@dataclass(frozen=True)
class TestRun:
    """One pytest run over several test-module blocks: what each module's tests did."""

    outcomes: dict[str, list[str]]  # module file name -> "passed" / failure text per test
    output: str

    def of(self, snippet: Snippet) -> list[str]:
        """The outcomes of ``snippet``'s tests (empty if pytest collected none)."""
        return self.outcomes.get(f"test_{snippet.name}", [])


def run_tests(blocks: Iterable[Snippet], directory: Path, base_url: str) -> TestRun:
    """Run every test-module block with one pytest process, as in a user's project: no
    configuration of its own (``-c`` an empty ini file), only the installed plugins."""
    paths = [write(snippet, directory).name for snippet in blocks]
    (directory / "empty.ini").write_text("[pytest]\n")
    argv = ["-m", "pytest", "-q", "-c", "empty.ini", "-p", "no:cacheprovider"]
    out = subprocess.run(
        [sys.executable, *argv, "--junitxml=report.xml", *paths],
        cwd=directory,
        env=environment(base_url),
        capture_output=True,
        text=True,
        timeout=300,
    )
    outcomes: dict[str, list[str]] = {}
    report = directory / "report.xml"
    if report.exists():
        for case in ElementTree.parse(report).iter("testcase"):
            module = case.get("classname", "").split(".")[0]
            problems = [child.get("message") or child.tag for child in case]
            outcomes.setdefault(module, []).append(
                "passed" if not problems else f"{case.get('name')}: {problems[0]}"
            )
    return TestRun(outcomes, out.stdout + out.stderr)


_MYPY_CONFIG = """\
[mypy]
strict = True
python_version = 3.10
"""
# dask and distributed ship without complete annotations: calling them from a typed
# function is all that is relaxed, and only for the blocks that use them.
_UNTYPED_LIBRARIES = "[mypy-{module}]\ndisable_error_code = no-untyped-call\n"


def mypy_strict(blocks: Iterable[Snippet], directory: Path) -> subprocess.CompletedProcess[str]:
    """``mypy --strict`` over every block, each as its own module."""
    blocks = list(blocks)
    paths = [str(write(snippet, directory)) for snippet in blocks]
    config = directory / "mypy.ini"
    relaxed = [_UNTYPED_LIBRARIES.format(module=s.name) for s in blocks if s.uses_dask]
    config.write_text(_MYPY_CONFIG + "".join(relaxed))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(config),
            "--no-incremental",
            "--cache-dir",
            os.devnull,
            *paths,
        ],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=300,
    )


def serve() -> Iterator[str]:
    """A local server in its own process (the snippets are other processes); yields its URL."""
    argv = ["serve", "--api-key", SERVER_KEY, "--run-time", "0.05"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "retab_async.testing", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    match = None
    for _ in range(10):  # the address is on one of the first lines
        match = re.search(r"https?://[^\s'\"]+", proc.stdout.readline())
        if match is not None:
            break
    assert match is not None, "the local server printed no address"
    try:
        yield match.group(0)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
