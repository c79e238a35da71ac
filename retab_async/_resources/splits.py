"""``client.splits``: what is particular to splitting a document into its subdocuments.

Its options (the subdocuments among them) and its request body. Every endpoint
and the background-run machinery come from :class:`StatusListedResource`.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import msgspec

from .._documents import DocumentLike, to_mime_data
from .._models.splits import (
    Split,
    SplitOptions,
    SubdocumentLike,
    build_split_body,
    normalize_subdocuments,
)
from .._runs.handle import RunHandle
from .._runs.primitive import SPLITS
from .base import StatusListedResource

if TYPE_CHECKING:
    from .._runs.batch import Batch, FailurePolicy, ProgressCallback
    from .._runs.checkpoint import CheckpointMode

__all__ = ["Splits"]


class Splits(StatusListedResource[Split, SplitOptions]):
    """Split a document into the subdocuments it holds. Reached as ``client.splits``.

    ``subdocuments`` name what may be inside (:class:`Subdocument`, a dict with
    ``name``, ``description`` and ``allow_multiple_instances``, or a plain name).
    ``result.output`` lists each subdocument found with its pages, numbered from 1.
    """

    primitive = SPLITS

    async def _body(
        self, document: DocumentLike, options: SplitOptions, *, background: bool
    ) -> bytes:
        options = msgspec.structs.replace(options, background=background)
        return build_split_body(options, await to_mime_data(document))

    async def create(
        self,
        document: DocumentLike,
        subdocuments: Iterable[SubdocumentLike],
        *,
        model: str = "retab-small",
        instructions: str | None = None,
        n_consensus: int = 1,
        bust_cache: bool = False,
        background: bool = False,
        idempotency_key: str | None = None,
    ) -> Split:
        """Split ``document`` into ``subdocuments``, each with its pages.

        Synchronous by default: returns when the run has finished (check ``status``).
        With ``background=True`` it returns at once; prefer :meth:`start`.
        Idempotency and recovery of an interrupted create work as for
        classifications (see :meth:`Classifications.create`).

        Raises:
            DocumentError: the document cannot be read or sent.
            UsageError: no subdocuments, a blank or repeated name, or another bad
                option (nothing is sent).
            APIStatusError, TransportError, DecodeError: as the request fails; each
                carries ``idempotency_key``.
        """
        options = _options(subdocuments, model, instructions, n_consensus, bust_cache)
        return await self._create(
            document, options, background=background, idempotency_key=idempotency_key
        )

    async def start(
        self,
        document: DocumentLike,
        subdocuments: Iterable[SubdocumentLike],
        *,
        model: str = "retab-small",
        instructions: str | None = None,
        n_consensus: int = 1,
        bust_cache: bool = False,
        idempotency_key: str | None = None,
    ) -> RunHandle[Split]:
        """Start a background split and return its :class:`RunHandle`.

        Takes the options of :meth:`create`; raises what it raises.
        """
        options = _options(subdocuments, model, instructions, n_consensus, bust_cache)
        return await self._start(document, options, idempotency_key=idempotency_key)

    def run(
        self,
        document: DocumentLike,
        subdocuments: Iterable[SubdocumentLike],
        *,
        model: str = "retab-small",
        instructions: str | None = None,
        n_consensus: int = 1,
        bust_cache: bool = False,
        idempotency_key: str | None = None,
    ) -> AbstractAsyncContextManager[RunHandle[Split]]:
        """A background split for the length of an ``async with`` block: cancelled on the
        server if the block is left by an exception or a cancellation.

        Takes the options of :meth:`start`; :class:`UsageError` is raised at once.
        """
        options = _options(subdocuments, model, instructions, n_consensus, bust_cache)
        return self._run(document, options, idempotency_key=idempotency_key)

    def map(
        self,
        documents: Iterable[DocumentLike] | Iterable[tuple[str, DocumentLike]],
        subdocuments: Iterable[SubdocumentLike],
        *,
        model: str = "retab-small",
        instructions: str | None = None,
        n_consensus: int = 1,
        bust_cache: bool = False,
        concurrency: int = 32,
        on_failure: FailurePolicy = "continue",
        progress: ProgressCallback | None = None,
        checkpoint: str | Any | None = None,
        checkpoint_mode: CheckpointMode = "resume",
        timeout: float | None = None,
        cancel_on_exit: bool = True,
    ) -> Batch[Split]:
        """Split many documents in the background, yielding results as runs finish.

        Batches work as for classifications (see :meth:`Classifications.map`). The
        other keyword arguments are the options of :meth:`create`. Raises
        :class:`UsageError` for bad arguments.
        """
        options = _options(subdocuments, model, instructions, n_consensus, bust_cache)
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
    subdocuments: Iterable[SubdocumentLike],
    model: str,
    instructions: str | None,
    n_consensus: int,
    bust_cache: bool,
) -> SplitOptions:
    """The options, checked. Raises :class:`UsageError` naming what is wrong."""
    return SplitOptions(
        subdocuments=normalize_subdocuments(subdocuments),
        model=model,
        instructions=instructions,
        n_consensus=n_consensus,
        bust_cache=bust_cache,
    )
