"""``client.partitions``: what is particular to partitioning a document by a key.

Its options (the key, instructions and ``allow_overlap``) and its request body.
Every endpoint and the background-run machinery come from :class:`StatusListedResource`.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import msgspec

from .._documents import DocumentLike, to_mime_data
from .._models.partitions import Partition, PartitionOptions, build_partition_body
from .._runs.handle import RunHandle
from .._runs.primitive import PARTITIONS
from .base import StatusListedResource

if TYPE_CHECKING:
    from .._runs.batch import Batch, FailurePolicy, ProgressCallback
    from .._runs.checkpoint import CheckpointMode

__all__ = ["Partitions"]


class Partitions(StatusListedResource[Partition, PartitionOptions]):
    """Partition documents into chunks, one per value of a key. Reached as
    ``client.partitions``.

    ``key`` names what to partition by (``"invoice number"``, ``"patient"``) and
    ``instructions`` say how. ``result.output`` lists each chunk, ``{key, pages}``,
    its pages numbered from 1; with ``allow_overlap`` (the default) a page may belong
    to several chunks.
    """

    primitive = PARTITIONS

    async def _body(
        self, document: DocumentLike, options: PartitionOptions, *, background: bool
    ) -> bytes:
        options = msgspec.structs.replace(options, background=background)
        return build_partition_body(options, await to_mime_data(document))

    async def create(
        self,
        document: DocumentLike,
        key: str,
        instructions: str,
        *,
        model: str = "retab-small",
        n_consensus: int = 1,
        allow_overlap: bool = True,
        bust_cache: bool = False,
        background: bool = False,
        idempotency_key: str | None = None,
    ) -> Partition:
        """Partition ``document`` into one chunk per value of ``key``, as ``instructions`` say.

        Synchronous by default: returns when the run has finished (check ``status``).
        With ``background=True`` it returns at once; prefer :meth:`start`.
        Idempotency and recovery of an interrupted create work as for
        classifications (see :meth:`Classifications.create`).

        Raises:
            DocumentError: the document cannot be read or sent.
            UsageError: a blank key, instructions that are not a string, or another
                bad option (nothing is sent).
            APIStatusError, TransportError, DecodeError: as the request fails; each
                carries ``idempotency_key``.
        """
        options = _options(key, instructions, model, n_consensus, allow_overlap, bust_cache)
        return await self._create(
            document, options, background=background, idempotency_key=idempotency_key
        )

    async def start(
        self,
        document: DocumentLike,
        key: str,
        instructions: str,
        *,
        model: str = "retab-small",
        n_consensus: int = 1,
        allow_overlap: bool = True,
        bust_cache: bool = False,
        idempotency_key: str | None = None,
    ) -> RunHandle[Partition]:
        """Start a background partition and return its :class:`RunHandle`.

        Takes the options of :meth:`create`; raises what it raises.
        """
        options = _options(key, instructions, model, n_consensus, allow_overlap, bust_cache)
        return await self._start(document, options, idempotency_key=idempotency_key)

    def run(
        self,
        document: DocumentLike,
        key: str,
        instructions: str,
        *,
        model: str = "retab-small",
        n_consensus: int = 1,
        allow_overlap: bool = True,
        bust_cache: bool = False,
        idempotency_key: str | None = None,
    ) -> AbstractAsyncContextManager[RunHandle[Partition]]:
        """A background partition for the length of an ``async with`` block: cancelled on
        the server if the block is left by an exception or a cancellation.

        Takes the options of :meth:`start`; :class:`UsageError` is raised at once.
        """
        options = _options(key, instructions, model, n_consensus, allow_overlap, bust_cache)
        return self._run(document, options, idempotency_key=idempotency_key)

    def map(
        self,
        documents: Iterable[DocumentLike] | Iterable[tuple[str, DocumentLike]],
        key: str,
        instructions: str,
        *,
        model: str = "retab-small",
        n_consensus: int = 1,
        allow_overlap: bool = True,
        bust_cache: bool = False,
        concurrency: int = 32,
        on_failure: FailurePolicy = "continue",
        progress: ProgressCallback | None = None,
        checkpoint: str | Any | None = None,
        checkpoint_mode: CheckpointMode = "resume",
        timeout: float | None = None,
        cancel_on_exit: bool = True,
    ) -> Batch[Partition]:
        """Partition many documents in the background, yielding results as runs finish.

        Batches work as for classifications (see :meth:`Classifications.map`). The
        other keyword arguments are the options of :meth:`create`. Raises
        :class:`UsageError` for bad arguments.
        """
        options = _options(key, instructions, model, n_consensus, allow_overlap, bust_cache)
        return self._map(
            documents,
            options,
            concurrency=concurrency,
            on_failure=on_failure,
            progress=progress,
            checkpoint=checkpoint,
            checkpoint_mode=checkpoint_mode,
            timeout=timeout,
            cancel_on_exit=cancel_on_exit,
        )


def _options(
    key: str,
    instructions: str,
    model: str,
    n_consensus: int,
    allow_overlap: bool,
    bust_cache: bool,
) -> PartitionOptions:
    """The options, checked. Raises :class:`UsageError` naming what is wrong."""
    return PartitionOptions(
        key=key,
        instructions=instructions,
        model=model,
        n_consensus=n_consensus,
        allow_overlap=allow_overlap,
        bust_cache=bust_cache,
    )
