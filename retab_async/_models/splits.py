"""Splits: the record, its subdocuments, typed create options and the request body.

Contract section 3: ``POST /v1/splits`` takes a document and the
``subdocuments`` it may hold (``{name, description, allow_multiple_instances}``)
and answers a :class:`Split` whose ``output`` lists each subdocument found with
its pages, numbered from 1. With ``n_consensus > 1`` the record carries each
vote's split and per-subdocument likelihoods (:class:`SplitConsensus`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

import msgspec

from .._errors import UsageError
from .checks import check_flag, check_int, check_model, check_optional_str, document_dict
from .common import (
    FileRef,
    MIMEData,
    PrimitiveError,
    RetabUsage,
    RunState,
    _Model,
    no_output_error,
    stored,
)

__all__ = [
    "SheetRegion",
    "Split",
    "SplitConsensus",
    "SplitLikelihood",
    "SplitOptions",
    "SplitResult",
    "Subdocument",
    "SubdocumentLike",
    "build_split_body",
    "normalize_subdocuments",
]

_encode = msgspec.json.Encoder().encode


class Subdocument(_Model, frozen=True, kw_only=True):
    """A kind of document a split may find inside a larger one.

    Attributes:
        name: what the subdocument is called in the output (``"invoice"``).
        description: what it looks like, to help the model.
        allow_multiple_instances: whether several distinct instances may be found
            (each its own entry in the output); otherwise all its pages are one entry.
    """

    name: str
    description: str = ""
    allow_multiple_instances: bool = False


SubdocumentLike: TypeAlias = Subdocument | Mapping[str, Any] | str
"""A :class:`Subdocument`, a dict with ``name`` (and ``description``,
``allow_multiple_instances``), or a plain name."""


class SheetRegion(_Model, frozen=True, kw_only=True):
    """Where a subdocument sits in a spreadsheet: a sheet and a block of its rows (0-based)."""

    sheet_index: int
    sheet_name: str
    row_start: int
    row_end: int
    col_start: int | None = None
    col_end: int | None = None
    header_rows: list[int] | None = None


class SplitResult(_Model, frozen=True, kw_only=True):
    """One subdocument found: its name and its pages (numbered from 1, in order).

    ``regions`` locates it in a spreadsheet; ``None`` or empty for other documents.
    """

    name: str
    pages: list[int] = msgspec.field(default_factory=list)
    regions: list[SheetRegion] | None = None


class SplitLikelihood(_Model, frozen=True, kw_only=True):
    """How sure the votes were of one entry of the output.

    Attributes:
        name: the share of votes (0.0 to 1.0) that found this subdocument.
        pages: for each of the entry's pages, the share of votes that put it there.
    """

    name: float | None = None
    pages: list[float] | None = None


class _SplitConsensusFields(_Model, frozen=True, kw_only=True):
    choices: list[list[SplitResult]] | None = None
    likelihoods: list[SplitLikelihood] | None = None
    likelihood: list[SplitLikelihood] | None = None


_split_consensus_likelihoods = stored(_SplitConsensusFields, "likelihoods")


class SplitConsensus(_SplitConsensusFields, frozen=True, kw_only=True):
    """How the votes went when ``n_consensus > 1``.

    Attributes:
        choices: each vote's split.
        likelihoods: one entry per entry of the output, in the same order.
            ``likelihood`` is accepted as an alias.
    """

    @property  # type: ignore[misc]  # the field, normalised when read: see stored()
    def likelihoods(self) -> list[SplitLikelihood] | None:
        """One entry per entry of the output, from ``likelihoods`` or its alias ``likelihood``."""
        value: list[SplitLikelihood] | None = _split_consensus_likelihoods.__get__(self)
        return self.likelihood if value is None else value


class _SplitFields(_Model, RunState, frozen=True, kw_only=True):
    id: str
    file: FileRef | None = None
    model: str = ""
    subdocuments: list[Subdocument] | None = None
    n_consensus: int = 1
    instructions: str | None = None
    output: list[SplitResult] | None = None
    status: str = "pending"
    error: PrimitiveError | None = None
    consensus: SplitConsensus | None = None
    usage: RetabUsage | None = None
    created_at: str | None = None


_split_output = stored(_SplitFields, "output")


class Split(_SplitFields, frozen=True, kw_only=True):
    """A split run and, once ``completed``, the subdocuments found with their pages.

    ``output`` is ``None`` unless ``status == "completed"``: the ``[]`` placeholder
    the server sends while a run is in flight or after a failure is never exposed
    as a result. (A completed split fetched with ``include_output=False`` carries the
    server's ``[]``: fetch it in full, as :meth:`RunHandle.wait` does.)
    """

    @property  # type: ignore[misc]  # the field, normalised when read: see stored()
    def output(self) -> list[SplitResult] | None:
        """The subdocuments found, once completed (``None`` before, and after a failure or
        cancel)."""
        if self.status != "completed":
            return None
        value: list[SplitResult] | None = _split_output.__get__(self)
        return value

    def require_output(self) -> list[SplitResult]:
        """The subdocuments of a completed split, typed without ``None``.

        Raises:
            RunFailed: the run ended ``failed`` (``.error`` is the server's error).
            RunCancelled: the run ended ``cancelled``.
            RunError: the run has not finished, or was fetched with ``include_output=False``.
        """
        if self.output is not None:
            return self.output
        raise no_output_error(self)

    def pages_of(self, name: str) -> list[list[int]]:
        """The pages of each instance of subdocument ``name`` found (none: ``[]``).

        Raises what :meth:`require_output` raises.
        """
        return [result.pages for result in self.require_output() if result.name == name]


class SplitOptions(_Model, frozen=True, kw_only=True):
    """Everything a split create takes besides the document (contract section 3).

    Fields are checked when the options are made; ``subdocuments`` may be given as
    names or dicts too, and are stored as :class:`Subdocument` objects (see
    :func:`normalize_subdocuments`).

    Raises:
        UsageError: a field is out of range or of the wrong type.
    """

    subdocuments: list[Subdocument]
    model: str = "retab-small"
    instructions: str | None = None
    n_consensus: int = 1
    bust_cache: bool = False
    background: bool = False

    def __post_init__(self) -> None:
        # Plain names and dicts are accepted here too, and stored as Subdocuments.
        msgspec.structs.force_setattr(
            self, "subdocuments", normalize_subdocuments(self.subdocuments)
        )
        check_model(self.model)
        check_optional_str("instructions", self.instructions)
        check_int("n_consensus", self.n_consensus, 1, 16)
        check_flag("bust_cache", self.bust_cache)
        check_flag("background", self.background)


def normalize_subdocuments(subdocuments: Iterable[SubdocumentLike]) -> list[Subdocument]:
    """Check ``subdocuments`` and return them as :class:`Subdocument` objects.

    Raises :class:`UsageError` when there are none, a name is blank, two names are
    the same, or an item is not a subdocument, a mapping or a string.
    """
    if isinstance(subdocuments, (str, bytes, Mapping, Subdocument)):
        raise UsageError("subdocuments must be a list of subdocuments, not a single value")
    if not isinstance(subdocuments, Iterable):  # a typed caller cannot get here
        found = type(subdocuments).__name__  # type: ignore[unreachable]
        raise UsageError(f"subdocuments must be a list of subdocuments, not {found}")
    result: list[Subdocument] = []
    seen: set[str] = set()
    for index, item in enumerate(subdocuments):
        subdocument = _to_subdocument(item, index)
        if not subdocument.name.strip():
            raise UsageError(f"subdocument #{index} has a blank name")
        if subdocument.name in seen:
            raise UsageError(f"subdocument {subdocument.name!r} is listed twice")
        seen.add(subdocument.name)
        result.append(subdocument)
    if not result:
        raise UsageError("subdocuments must not be empty: give at least one subdocument")
    return result


def _to_subdocument(item: object, index: int) -> Subdocument:
    name: object
    description: object
    multiple: object
    if isinstance(item, Subdocument):
        name, description, multiple = item.name, item.description, item.allow_multiple_instances
    elif isinstance(item, str):
        return Subdocument(name=item.strip())
    elif isinstance(item, Mapping):
        unknown = set(item) - {"name", "description", "allow_multiple_instances"}
        if unknown:
            raise UsageError(f"subdocument #{index} has unknown keys: {sorted(unknown)}")
        name = item.get("name")
        description = item.get("description", "")
        multiple = item.get("allow_multiple_instances", False)
    else:
        found = type(item).__name__
        raise UsageError(
            f"subdocument #{index} must be a Subdocument, a dict or a name, not {found}"
        )
    if not isinstance(name, str):
        raise UsageError(f"subdocument #{index} needs a string 'name'")
    if not isinstance(description, str):
        raise UsageError(f"subdocument {name!r}: description must be a string")
    if not isinstance(multiple, bool):
        raise UsageError(
            f"subdocument {name!r}: allow_multiple_instances must be True or False, "
            f"not {multiple!r}"
        )
    return Subdocument(
        name=name.strip(), description=description, allow_multiple_instances=multiple
    )


def build_split_body(options: SplitOptions, document: MIMEData | Mapping[str, Any]) -> bytes:
    """The JSON body of ``POST /v1/splits``.

    ``subdocuments`` (each with all three fields), ``model``, ``n_consensus``,
    ``bust_cache`` and ``background`` are always sent; ``instructions`` only when set.

    Raises:
        UsageError: a document without ``filename`` and ``url``.
    """
    body: dict[str, Any] = {
        "document": document_dict(document),
        "subdocuments": options.subdocuments,
        "model": options.model,
        "n_consensus": options.n_consensus,
        "bust_cache": options.bust_cache,
        "background": options.background,
    }
    if options.instructions is not None:
        body["instructions"] = options.instructions
    return _encode(body)
