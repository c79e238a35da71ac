"""A Retab-compatible local server for tests, examples and offline development.

It implements the contract's classifications, extractions (with streaming and
sources) and parses, with background runs that move on their own,
deterministic stand-ins for the models, seeded fault injection and a log of
every request. Run it in-process with :class:`LocalRetab`, from pytest
with the ``retab_server`` fixture, or from a shell::

    python -m retab_async.testing serve --port 8080 --run-time 0.5

A document whose bytes contain ``[[retab:fail]]`` ends ``failed``, on every primitive.
"""

from .._clock import ManualClock
from ._app import RecordedRequest, ServerState, create_app
from ._config import FAULT_KINDS, FaultConfig, FaultKind, ServerConfig
from ._local import LocalRetab
from ._primitive import FAIL_MARKER
from ._primitives.edits import EDIT_TEMPLATE_IDS
from ._store import Run

__all__ = [
    "EDIT_TEMPLATE_IDS",
    "FAIL_MARKER",
    "FAULT_KINDS",
    "FaultConfig",
    "FaultKind",
    "LocalRetab",
    "ManualClock",
    "RecordedRequest",
    "Run",
    "ServerConfig",
    "ServerState",
    "create_app",
]
