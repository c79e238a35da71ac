"""Developer sessions: ``nox -s tests lint typecheck`` (``nox -l`` lists them all)."""

from __future__ import annotations

import os
import shutil
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
    """ruff (lint and format check) and import-linter (the layers, no import cycles)."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy strict on the package."""
    session.install("-e", ".[lint,dask]")
    session.run("mypy")


@nox.session
def official_sdk(session: nox.Session) -> None:
    """The official ``retab`` SDK, unchanged, against the local server: its models must
    validate every response (``tests/official_sdk``; kept out of the default test
    dependencies, as the SDK is heavy)."""
    session.install("-e", ".[test]", "retab")
    session.run("python", "-m", "pytest", "-q", "tests/official_sdk", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site, built strictly (a warning or a broken reference fails).

    ``nox -s docs -- serve`` serves it with live reload instead.
    """
    session.install("-e", ".[docs]")
    session.env["NO_MKDOCS_2_WARNING"] = "1"
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", *session.posargs[1:])
    else:
        session.run("mkdocs", "build", "--strict", "--site-dir", "site", *session.posargs)


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


BENCHMARKS = [
    "bench_server.py",
    "bench_decode.py",
    "bench_import.py",
    "bench_get.py",
    "bench_single_run.py",
    "bench_waits.py",
    "bench_batch.py",
    "bench_upload.py",
]


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark, then one table of ratios (``nox -s bench -- --quick`` to smoke-test).

    Installs ``wrk`` from the Debian packages when it is missing and we are root:
    without it the server benchmark's figures are labelled unsound.
    """
    session.install("-e", ".[bench]")
    if shutil.which("wrk") is None and shutil.which("apt-get") and os.geteuid() == 0:
        install = ("apt-get", "install", "-y", "-q", "wrk")
        session.run(*install, external=True, success_codes=[0, 100])
        if shutil.which("wrk") is None:  # a fresh machine may need its package lists first
            session.run("apt-get", "update", "-q", external=True, success_codes=[0, 100])
            session.run(*install, external=True, success_codes=[0, 100])
    results = Path(session.create_tmp()) / "bench-results"
    shutil.rmtree(results, ignore_errors=True)
    env = {"RETAB_BENCH_RESULTS": str(results)}
    failed = []
    for script in BENCHMARKS:
        try:
            session.run("python", f"benchmarks/{script}", *session.posargs, env=env)
        except nox.command.CommandFailed:  # the table of the others is still wanted
            failed.append(script)
    session.run("python", "benchmarks/summary.py", env=env)
    if failed:
        session.error(f"failed to run: {', '.join(failed)}")


@nox.session
def soak(session: nox.Session) -> None:
    """A long soak: 5,000 documents through map() under 20% mixed faults (not in CI)."""
    session.install("-e", ".")
    session.run("python", "benchmarks/soak.py", *session.posargs)
