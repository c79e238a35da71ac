"""Run statuses, and the one definition of which of them are terminal.

Statuses are plain strings on the wire and in our models, so that a status the
server adds later decodes without error; an unknown status is never terminal.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "ACTIVE_STATUSES",
    "FAILURE_STATUSES",
    "KNOWN_STATUSES",
    "TERMINAL_STATUSES",
    "RunStatus",
    "is_terminal",
]

RunStatus = Literal["pending", "queued", "in_progress", "completed", "failed", "cancelled"]
"""The statuses the API documents. Fields are typed ``str`` so that new ones still decode."""

ACTIVE_STATUSES: Final = ("pending", "queued", "in_progress")
"""Not terminal, in lifecycle order."""

FAILURE_STATUSES: Final = frozenset({"failed", "error"})
"""Terminal failures. ``error`` is used by workflow runs; we count it as a failure."""

TERMINAL_STATUSES: Final = frozenset({"completed", "cancelled"}) | FAILURE_STATUSES
"""A run in one of these states will not change again."""

KNOWN_STATUSES: Final = frozenset(ACTIVE_STATUSES) | TERMINAL_STATUSES


def is_terminal(status: str) -> bool:
    """Whether ``status`` is final. Unknown statuses are not."""
    return status in TERMINAL_STATUSES
