"""The local server's table of primitives: one module each, one entry here.

Adding a primitive to the server is its module (validation, stand-in model,
record fields, placeholder, its own routes, in one :class:`ServerPrimitive`)
and its line in :data:`PRIMITIVES`; routes, lifecycle, idempotency, faults and
listing come from the machinery.
"""

from __future__ import annotations

from typing import Any

from .._primitive import ServerPrimitive
from .classifications import CLASSIFICATIONS
from .edits import EDITS
from .extractions import EXTRACTIONS
from .file_blueprints import FILE_BLUEPRINTS
from .parses import PARSES
from .partitions import PARTITIONS
from .schema_generations import SCHEMA_GENERATIONS
from .splits import SPLITS

__all__ = ["PRIMITIVES"]

PRIMITIVES: tuple[ServerPrimitive[Any], ...] = (
    CLASSIFICATIONS,
    EXTRACTIONS,
    PARSES,
    SCHEMA_GENERATIONS,
    EDITS,
    FILE_BLUEPRINTS,
    SPLITS,
    PARTITIONS,
)
"""Every primitive the local server serves."""
