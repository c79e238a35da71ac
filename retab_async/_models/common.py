"""The data the API sends and receives, as frozen msgspec Structs.

Models are plain data: they do no I/O. Unknown fields are ignored and every
optional or newer field has a default, so that additions on the server side
never break decoding. Decoders are built once, at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec

from .._error_body import PrimitiveError
from .._errors import RunError, outcome_error
from .._status import FAILURE_STATUSES, TERMINAL_STATUSES

__all__ = [
    "Category",
    "Classification",
    "ClassificationConsensus",
    "ClassificationDecision",
    "FileRef",
    "ListMetadata",
    "MIMEData",
    "Page",
    "PrimitiveError",
    "RetabUsage",
]

_T = TypeVar("_T")


class _Model(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=False):
    """Base of our models: frozen, keyword-only, unknown fields ignored."""


def stored(fields: type[msgspec.Struct], name: str) -> Any:
    """The slot of field ``name`` of ``fields``: ``stored(...).__get__(record)`` reads the
    value as decoded, past a property of the same name in a subclass.

    Records normalise a few fields when they are read (``output`` is ``None`` unless
    the run completed; ``likelihood`` stands in for ``likelihoods``) rather than in a
    ``__post_init__``, which msgspec would call on every decode. Encoding a record
    writes the slots as decoded; :func:`as_read` gives the fields as read.
    """
    return fields.__dict__[name]


def as_read(value: Any) -> Any:
    """``value`` with every Struct in it turned into a dict of its fields *as read*, for
    ``msgspec.json.encode``: what the user sees (``output`` ``None`` before completion,
    ``likelihoods`` filled from its alias), not the raw decoded slots a Struct encodes.

    Lists, tuples and dicts are walked; other values are returned as they are. Keys are
    the fields' wire names, in field order, as encoding the record itself gives them.
    (A Struct that omits defaults or encodes as an array is left to encode itself: our
    models do neither.)
    """
    if isinstance(value, msgspec.Struct):
        kind = type(value)
        config = kind.__struct_config__
        if config.omit_defaults or config.array_like:
            return value
        return {
            key: as_read(getattr(value, name))
            for name, key in zip(kind.__struct_fields__, kind.__struct_encode_fields__, strict=True)
        }
    if isinstance(value, (list, tuple)):
        return [as_read(item) for item in value]
    if isinstance(value, dict):
        return {key: as_read(item) for key, item in value.items()}
    return value


class RunState:
    """What every primitive's record can say of its status (a mixin of record Structs)."""

    __slots__ = ()
    if TYPE_CHECKING:
        status: str

    @property
    def done(self) -> bool:
        """Whether the run has reached a terminal status."""
        return self.status in TERMINAL_STATUSES

    @property
    def failed(self) -> bool:
        """Whether the run ended in failure (``failed`` or ``error``)."""
        return self.status in FAILURE_STATUSES


class MIMEData(_Model, frozen=True, kw_only=True):
    """A document as the API takes it: a filename and a ``data:`` or ``https://`` URL."""

    filename: str
    url: str

    def __repr__(self) -> str:
        # A data URI can be megabytes long; show its start only.
        url = self.url if len(self.url) <= 60 else self.url[:57] + "..."
        return f"MIMEData(filename={self.filename!r}, url={url!r})"


class FileRef(_Model, frozen=True, kw_only=True):
    """The stored input file of a run."""

    id: str
    filename: str
    mime_type: str = "application/octet-stream"


class Category(_Model, frozen=True, kw_only=True):
    """A category a document may be classified into."""

    name: str
    description: str = ""
    handle_key: str | None = None


class ClassificationDecision(_Model, frozen=True, kw_only=True):
    """The chosen category and why."""

    category: str
    reasoning: str = ""


class _ClassificationConsensusFields(_Model, frozen=True, kw_only=True):
    choices: list[ClassificationDecision] = []
    likelihoods: float | None = None
    likelihood: float | None = None


_likelihoods = stored(_ClassificationConsensusFields, "likelihoods")


class ClassificationConsensus(_ClassificationConsensusFields, frozen=True, kw_only=True):
    """How the votes went when ``n_consensus > 1``.

    ``likelihoods`` is a single number (agreement on the winning category),
    despite its plural name; ``likelihood`` is accepted as its alias.
    """

    @property  # type: ignore[misc]  # the field, normalised when read: see stored()
    def likelihoods(self) -> float | None:
        """Agreement on the winning category, from ``likelihoods`` or its alias ``likelihood``."""
        value: float | None = _likelihoods.__get__(self)
        return self.likelihood if value is None else value


class RetabUsage(_Model, frozen=True, kw_only=True):
    """What a run cost."""

    credits: float = 0.0


class _ClassificationFields(_Model, RunState, frozen=True, kw_only=True):
    id: str
    file: FileRef | None = None
    model: str = ""
    categories: list[Category] | None = None
    n_consensus: int = 1
    instructions: str | None = None
    output: ClassificationDecision | None = None
    status: str = "pending"
    error: PrimitiveError | None = None
    consensus: ClassificationConsensus | None = None
    usage: RetabUsage | None = None
    created_at: str | None = None


_classification_output = stored(_ClassificationFields, "output")


class Classification(_ClassificationFields, frozen=True, kw_only=True):
    """A classification run and, once ``completed``, its result.

    ``output`` is ``None`` unless ``status == "completed"``: placeholders the
    server sends while a run is in flight are never exposed as results.
    """

    @property  # type: ignore[misc]  # the field, normalised when read: see stored()
    def output(self) -> ClassificationDecision | None:
        """The decision, once completed (``None`` before, and after a failure or cancel)."""
        if self.status != "completed":
            return None
        value: ClassificationDecision | None = _classification_output.__get__(self)
        return value

    @property
    def category(self) -> str | None:
        """The chosen category's name, once completed."""
        return self.output.category if self.output is not None else None

    def require_output(self) -> ClassificationDecision:
        """The decision of a completed run, typed without ``None``.

        ``record.require_output().reasoning`` reads what ``record.output.reasoning``
        reads, for code that expects a completed run (after ``handle.wait()`` or a
        synchronous ``create``), and type-checks without a cast.

        Raises:
            RunFailed: the run ended ``failed`` (``.error`` is the server's error).
            RunCancelled: the run ended ``cancelled``.
            RunError: the run has not finished, or was fetched with ``include_output=False``.
        """
        if self.output is not None:
            return self.output
        raise no_output_error(self)


def no_output_error(record: Any) -> RunError:
    """Why ``record`` has no output: its run's outcome (:class:`RunFailed`,
    :class:`RunCancelled`), or a :class:`RunError` saying it is not finished or was
    fetched without its output. For every record's ``require_output()``."""
    outcome = outcome_error(record)
    if outcome is not None:
        return outcome
    if record.status == "completed":
        reason = f"run {record.id} was fetched without its output (include_output=False)"
    else:
        reason = f"run {record.id} is {record.status!r}: it has no output yet"
    return RunError(reason, run_id=record.id, record=record)


class ListMetadata(_Model, frozen=True, kw_only=True):
    """Cursors of a list page. There is a next page exactly when ``after`` is set."""

    before: str | None = None
    after: str | None = None


class Page(_Model, Generic[_T], frozen=True, kw_only=True):
    """One page of a list.

    Attributes:
        data: the records of this page, in order.
        list_metadata: the cursors.
        invalid: rows that could not be decoded (legacy records), as
            ``(raw JSON, reason)`` pairs; they are reported, never silently dropped.
    """

    data: list[_T]
    list_metadata: ListMetadata = ListMetadata()
    invalid: list[tuple[str, str]] = []

    @property
    def next_cursor(self) -> str | None:
        """The ``after`` cursor of the next page, or ``None`` on the last page."""
        return self.list_metadata.after
