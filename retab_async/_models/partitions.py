"""Partitions: the record, its chunks, typed create options and the request body.

Contract section 3: ``POST /v1/partitions`` takes a document, a ``key`` to
partition it by and ``instructions``, and answers a :class:`Partition` whose
``output`` lists one chunk per value of the key, with its pages numbered from
1. With ``allow_overlap`` (the default) a page may belong to several chunks.
With ``n_consensus > 1`` the record carries each vote's chunks and per-chunk
likelihoods (:class:`PartitionConsensus`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from .._errors import UsageError
from .checks import check_flag, check_int, check_model, document_dict
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
    "Partition",
    "PartitionChunk",
    "PartitionConsensus",
    "PartitionLikelihood",
    "PartitionOptions",
    "build_partition_body",
]

_encode = msgspec.json.Encoder().encode


class PartitionChunk(_Model, frozen=True, kw_only=True):
    """One chunk: a value of the partition key and the pages that belong to it (from 1)."""

    key: str
    pages: list[int] = msgspec.field(default_factory=list)


class PartitionLikelihood(_Model, frozen=True, kw_only=True):
    """How sure the votes were of one chunk of the output.

    Attributes:
        key: the share of votes (0.0 to 1.0) that found this value of the key.
        pages: for each of the chunk's pages, the share of votes that put it there.
    """

    key: float | None = None
    pages: list[float] | None = None


class _PartitionConsensusFields(_Model, frozen=True, kw_only=True):
    choices: list[list[PartitionChunk]] | None = None
    likelihoods: list[PartitionLikelihood] | None = None
    likelihood: list[PartitionLikelihood] | None = None


_partition_consensus_likelihoods = stored(_PartitionConsensusFields, "likelihoods")


class PartitionConsensus(_PartitionConsensusFields, frozen=True, kw_only=True):
    """How the votes went when ``n_consensus > 1``.

    Attributes:
        choices: each vote's chunks.
        likelihoods: one entry per chunk of the output, in the same order.
            ``likelihood`` is accepted as an alias.
    """

    @property  # type: ignore[misc]  # the field, normalised when read: see stored()
    def likelihoods(self) -> list[PartitionLikelihood] | None:
        """One entry per chunk of the output, from ``likelihoods`` or its alias ``likelihood``."""
        value: list[PartitionLikelihood] | None = _partition_consensus_likelihoods.__get__(self)
        return self.likelihood if value is None else value


class _PartitionFields(_Model, RunState, frozen=True, kw_only=True):
    id: str
    file: FileRef | None = None
    model: str = ""
    key: str = ""
    instructions: str | None = None
    n_consensus: int = 1
    allow_overlap: bool = True
    output: list[PartitionChunk] | None = None
    status: str = "pending"
    error: PrimitiveError | None = None
    consensus: PartitionConsensus | None = None
    usage: RetabUsage | None = None
    created_at: str | None = None


_partition_output = stored(_PartitionFields, "output")


class Partition(_PartitionFields, frozen=True, kw_only=True):
    """A partition run and, once ``completed``, its chunks.

    ``output`` is ``None`` unless ``status == "completed"``: the ``[]`` placeholder
    the server sends while a run is in flight or after a failure is never exposed
    as a result. (A completed partition fetched with ``include_output=False``
    carries the server's ``[]``: fetch it in full, as :meth:`RunHandle.wait` does.)
    """

    @property  # type: ignore[misc]  # the field, normalised when read: see stored()
    def output(self) -> list[PartitionChunk] | None:
        """The chunks, once completed (``None`` before, and after a failure or cancel)."""
        if self.status != "completed":
            return None
        value: list[PartitionChunk] | None = _partition_output.__get__(self)
        return value

    def require_output(self) -> list[PartitionChunk]:
        """The chunks of a completed partition, typed without ``None``.

        Raises:
            RunFailed: the run ended ``failed`` (``.error`` is the server's error).
            RunCancelled: the run ended ``cancelled``.
            RunError: the run has not finished, or was fetched with ``include_output=False``.
        """
        if self.output is not None:
            return self.output
        raise no_output_error(self)

    def pages_of(self, value: str) -> list[int]:
        """The pages of the chunk(s) whose key is ``value``, in order (none: ``[]``).

        Raises what :meth:`require_output` raises.
        """
        pages = {
            page for chunk in self.require_output() if chunk.key == value for page in chunk.pages
        }
        return sorted(pages)


class PartitionOptions(_Model, frozen=True, kw_only=True):
    """Everything a partition create takes besides the document (contract section 3).

    Fields are checked when the options are made.

    Raises:
        UsageError: a blank ``key``, ``instructions`` that are not a string, or another
            field out of range or of the wrong type.
    """

    key: str
    instructions: str
    model: str = "retab-small"
    n_consensus: int = 1
    allow_overlap: bool = True
    bust_cache: bool = False
    background: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key.strip():
            raise UsageError(
                f"key must be a non-empty string naming what to partition by, not {self.key!r}"
            )
        instructions: object = self.instructions  # typed callers pass a str; others may not
        if not isinstance(instructions, str):
            found = type(instructions).__name__
            raise UsageError(f"instructions must be a string (the API requires them), not {found}")
        check_model(self.model)
        check_int("n_consensus", self.n_consensus, 1, 16)
        for name in ("allow_overlap", "bust_cache", "background"):
            check_flag(name, getattr(self, name))


def build_partition_body(
    options: PartitionOptions, document: MIMEData | Mapping[str, Any]
) -> bytes:
    """The JSON body of ``POST /v1/partitions``: every field is always sent.

    Raises:
        UsageError: a document without ``filename`` and ``url``.
    """
    body: dict[str, Any] = {
        "document": document_dict(document),
        "key": options.key,
        "instructions": options.instructions,
        "model": options.model,
        "n_consensus": options.n_consensus,
        "allow_overlap": options.allow_overlap,
        "bust_cache": options.bust_cache,
        "background": options.background,
    }
    return _encode(body)
