"""Developer sessions: ``nox -s tests lint typecheck`` (``nox -l`` lists them all)."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.default_venv_backend = "venv"

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole test suite (as in README and CI)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and format check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy strict on the package."""
    session.install("-e", ".[lint]")
    session.run("mypy")


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: classify the sample documents against the local server."""
    session.install("-e", ".")
    session.run(
        "python",
        "-m",
        "retab_async",
        "classify",
        "--local",
        *sorted(str(p) for p in Path("examples/documents").iterdir()),
        "--categories",
        "invoice,receipt,contract,letter",
    )
    session.run("python", "examples/quickstart.py")


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark; each prints ratios measured side by side in one run."""
    session.install("-e", ".[bench]")
    scripts = session.posargs or [
        "benchmarks/bench_server.py",
        "benchmarks/bench_decode.py",
        "benchmarks/bench_get.py",
        "benchmarks/bench_import.py",
        "benchmarks/bench_single_run.py",
        "benchmarks/bench_waits.py",
        "benchmarks/bench_batch.py",
    ]
    for script in scripts:
        session.run("python", script)


@nox.session
def soak(session: nox.Session) -> None:
    """A long soak: 5,000 documents through map() under 20% mixed faults (not in CI)."""
    session.install("-e", ".")
    session.run("python", "benchmarks/soak.py", *session.posargs)
