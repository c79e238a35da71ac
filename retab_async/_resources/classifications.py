"""``client.classifications``: what is particular to classifying documents.

Its options, its request body and its list filters. Every endpoint and the
background-run machinery come from :class:`StatusListedResource`.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import msgspec

from .._documents import CategoryLike, DocumentLike, normalize_categories, to_mime_data
from .._errors import UsageError
from .._models.common import Category, Classification
from .._runs.handle import RunHandle
from .._runs.primitive import CLASSIFICATIONS
from .base import RunResource, StatusListedResource

if TYPE_CHECKING:
    from .._runs.batch import Batch, FailurePolicy, ProgressCallback
    from .._runs.checkpoint import CheckpointMode

__all__ = ["ClassificationOptions", "Classifications"]

_encode = msgspec.json.Encoder().encode


class ClassificationOptions(msgspec.Struct, frozen=True, kw_only=True):
    """The create options of a classification, checked (see :meth:`Classifications.create`)."""

    categories: list[Category]
    model: str = "retab-small"
    first_n_pages: int | None = None
    instructions: str | None = None
    n_consensus: int = 1
    bust_cache: bool = False


class Classifications(StatusListedResource[Classification, ClassificationOptions]):
    """Classify documents into categories. Reached as ``client.classifications``."""

    primitive = CLASSIFICATIONS

    async def _body(
        self, document: DocumentLike, options: ClassificationOptions, *, background: bool
    ) -> bytes:
        body: dict[str, Any] = {
            "document": await to_mime_data(document),
            "categories": options.categories,
            "model": options.model,
            "n_consensus": options.n_consensus,
            "bust_cache": options.bust_cache,
            "background": background,
        }
        if options.first_n_pages is not None:
            body["first_n_pages"] = options.first_n_pages
        if options.instructions is not None:
            body["instructions"] = options.instructions
        return _encode(body)

    async def create(
        self,
        document: DocumentLike,
        categories: Iterable[CategoryLike],
        *,
        model: str = "retab-small",
        first_n_pages: int | None = None,
        instructions: str | None = None,
        n_consensus: int = 1,
        bust_cache: bool = False,
        background: bool = False,
        idempotency_key: str | None = None,
    ) -> Classification:
        """Classify ``document`` into one of ``categories``.

        Synchronous by default: returns when the run has finished (check ``status``:
        a run can come back ``failed``). With ``background=True`` it returns at once
        with a ``queued`` record; prefer :meth:`start`, which gives a :class:`RunHandle`.

        The request carries an ``Idempotency-Key`` (yours, or a fresh one) reused on
        every retry, so a retried create never starts a second run. When the create
        fails, the error's ``idempotency_key`` is that key: calling ``create`` again
        with the same arguments and ``idempotency_key=error.idempotency_key`` (within
        24 hours) returns the run the first call started, or starts it, exactly once.
        A cancelled call cannot carry the key: pass your own ``idempotency_key`` if
        you need to recover a run after cancelling its create. Without one, a
        background create cancelled in flight is replayed and its run cancelled on
        the server (see :meth:`start`).

        Raises:
            DocumentError: the document cannot be read or sent.
            UsageError: bad categories or options (nothing is sent).
            APIStatusError, TransportError, DecodeError: as the request fails; each
                carries ``idempotency_key``.
        """
        options = _options(categories, model, first_n_pages, instructions, n_consensus, bust_cache)
        return await self._create(
            document, options, background=background, idempotency_key=idempotency_key
        )

    async def start(
        self,
        document: DocumentLike,
        categories: Iterable[CategoryLike],
        *,
        model: str = "retab-small",
        first_n_pages: int | None = None,
        instructions: str | None = None,
        n_consensus: int = 1,
        bust_cache: bool = False,
        idempotency_key: str | None = None,
    ) -> RunHandle[Classification]:
        """Start a background classification and return its :class:`RunHandle`.

        Takes the options of :meth:`create`; raises what it raises, each error with
        the create's ``idempotency_key`` so that the run can be recovered (call
        ``start`` again with it).

        Cancelled while the create is in flight, ``start`` leaves no run that nobody
        can reach: without your own ``idempotency_key`` it replays the create with the
        key it made and cancels the run on the server (shielded, bounded by
        ``CANCEL_GRACE``) before the cancellation goes on. With your own key the run is
        yours: ``start`` again with that key (within 24 hours) returns its handle.
        """
        options = _options(categories, model, first_n_pages, instructions, n_consensus, bust_cache)
        return await self._start(document, options, idempotency_key=idempotency_key)

    def run(
        self,
        document: DocumentLike,
        categories: Iterable[CategoryLike],
        *,
        model: str = "retab-small",
        first_n_pages: int | None = None,
        instructions: str | None = None,
        n_consensus: int = 1,
        bust_cache: bool = False,
        idempotency_key: str | None = None,
    ) -> AbstractAsyncContextManager[RunHandle[Classification]]:
        """Start a background run for the length of an ``async with`` block.

        If the block is left by an exception or by cancellation while the run is not
        terminal, the run is cancelled on the server (shielded, bounded in time) and
        the exception propagates. Leaving the block normally leaves the run as it is.
        The same holds before the block is entered: a create cancelled in flight, or
        failing so that a run may have started (a timeout, a dropped connection, a
        5xx), is replayed with its ``Idempotency-Key`` and its run cancelled, so no
        run outlives the block. Takes the options of :meth:`start`;
        :class:`UsageError` is raised at once.
        """
        options = _options(categories, model, first_n_pages, instructions, n_consensus, bust_cache)
        return self._run(document, options, idempotency_key=idempotency_key)

    def map(
        self,
        documents: Iterable[DocumentLike] | Iterable[tuple[str, DocumentLike]],
        categories: Iterable[CategoryLike],
        *,
        model: str = "retab-small",
        first_n_pages: int | None = None,
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
    ) -> Batch[Classification]:
        """Classify many documents in the background, yielding results as runs finish.

        Starts at most ``concurrency`` runs at a time and yields one
        :class:`BatchResult` per input as runs finish. ``on_failure="stop"`` cancels
        the runs in flight at the first failure; ``progress`` is called with a
        :class:`BatchProgress` after every change; ``checkpoint`` is a JSON-lines
        journal that lets a rerun skip finished inputs and re-attach to started
        runs, for the same categories, options and input contents only (else
        :class:`UsageError`, naming what changed); ``checkpoint_mode="restart"``
        empties the journal and starts over; ``timeout`` bounds the wait for each
        run; ``cancel_on_exit=False`` leaves runs in flight running when the batch
        is left early. The other keyword arguments are the options of :meth:`create`.
        :class:`CheckpointError` means the journal could not be written: the batch
        stopped, and a rerun with the same checkpoint resumes it.

        Use it as ``async with client.classifications.map(...) as results:
        async for result in results: ...`` so that leaving early cancels what is
        in flight. Raises :class:`UsageError` for bad arguments.
        """
        options = _options(categories, model, first_n_pages, instructions, n_consensus, bust_cache)
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

    create_classification_cancel = RunResource.cancel
    """The official SDK's name for :meth:`cancel`."""


def _options(
    categories: Iterable[CategoryLike],
    model: str,
    first_n_pages: int | None,
    instructions: str | None,
    n_consensus: int,
    bust_cache: bool,
) -> ClassificationOptions:
    """The options checked. Raises :class:`UsageError` naming what is wrong."""
    cats = normalize_categories(categories)
    if not isinstance(model, str) or not model.strip():
        raise UsageError("model must be a non-empty string, e.g. 'retab-small'")
    if (
        not isinstance(n_consensus, int)
        or isinstance(n_consensus, bool)
        or not 1 <= n_consensus <= 16
    ):
        raise UsageError(f"n_consensus must be an integer from 1 to 16, not {n_consensus!r}")
    if first_n_pages is not None and (
        not isinstance(first_n_pages, int) or isinstance(first_n_pages, bool) or first_n_pages < 1
    ):
        raise UsageError(f"first_n_pages must be a positive integer or None, not {first_n_pages!r}")
    if instructions is not None and not isinstance(instructions, str):
        raise UsageError("instructions must be a string or None")
    return ClassificationOptions(
        categories=cats,
        model=model,
        first_n_pages=first_n_pages,
        instructions=instructions,
        n_consensus=n_consensus,
        bust_cache=bool(bust_cache),
    )
