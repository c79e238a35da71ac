"""The official ``retab`` SDK against the local server: run by ``nox -s official_sdk``,
which installs it. The default test environment leaves it out (it is heavy), and
then these modules are not collected."""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("retab") is None:
    collect_ignore_glob = ["test_*.py"]
