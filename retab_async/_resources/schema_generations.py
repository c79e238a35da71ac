"""``client.schemas``: generating a JSON Schema from example documents.

A run takes several documents and its result is ``json_schema`` (not ``output``).
Schema generations have no list, no delete and no ``usage``: the resource builds
on :class:`BackgroundResource`, so ``list`` and ``delete`` do not exist here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import msgspec

from .._documents import DocumentLike, to_mime_data
from .._errors import UsageError
from .._models.common import MIMEData
from .._models.schema_generations import (
    SchemaGeneration,
    SchemaGenerationOptions,
    build_schema_generation_body,
)
from .._runs.fingerprint import document_digest
from .._runs.handle import RunHandle
from .._runs.primitive import SCHEMA_GENERATIONS
from .base import BackgroundResource

if TYPE_CHECKING:
    from .._runs.batch import Batch, FailurePolicy, ProgressCallback
    from .._runs.checkpoint import CheckpointMode

__all__ = ["Schemas"]


class Schemas(BackgroundResource[SchemaGeneration, SchemaGenerationOptions]):
    """Generate a JSON Schema from example documents. Reached as ``client.schemas``.

    ``generate`` (synchronous by default), ``start`` (a :class:`RunHandle`), ``get``,
    ``cancel``, ``handle``, ``run`` and ``map`` work as for every primitive; the
    completed record's ``json_schema`` holds the schema. There is no ``list`` and
    no ``delete``: the API has neither for schema generations.
    """

    primitive = SCHEMA_GENERATIONS

    async def _document(self, document: Any) -> Any:
        """Each document, or the upload of a local file too large to send inline."""
        upload = super()._document  # not in the comprehension: super() needs this frame
        return [await upload(one) for one in _documents(document)]

    async def _body(
        self,
        document: Sequence[DocumentLike],
        options: SchemaGenerationOptions,
        *,
        background: bool,
    ) -> bytes:
        options = msgspec.structs.replace(options, background=background)
        documents = _documents(document)
        return build_schema_generation_body(options, [await to_mime_data(d) for d in documents])

    async def generate(
        self,
        documents: Sequence[DocumentLike],
        *,
        model: str = "retab-small",
        instructions: str | None = None,
        background: bool = False,
        idempotency_key: str | None = None,
    ) -> SchemaGeneration:
        """Generate a JSON Schema from ``documents`` (one or more examples).

        Synchronous by default: returns when the run has finished (check ``status``).
        With ``background=True`` it returns at once; prefer :meth:`start`.
        Idempotency and recovery of an interrupted create work as for
        classifications (see :meth:`Classifications.create`).

        Raises:
            UsageError: ``documents`` is empty or not a list of documents, or a bad
                option (nothing is sent).
            DocumentError: a document cannot be read or sent.
            APIStatusError, TransportError, DecodeError: as the request fails; each
                carries ``idempotency_key``.
        """
        options = SchemaGenerationOptions(model=model, instructions=instructions)
        return await self._create(
            _documents(documents),
            options,
            background=background,
            idempotency_key=idempotency_key,
        )

    async def start(
        self,
        documents: Sequence[DocumentLike],
        *,
        model: str = "retab-small",
        instructions: str | None = None,
        idempotency_key: str | None = None,
    ) -> RunHandle[SchemaGeneration]:
        """Start a background schema generation and return its :class:`RunHandle`.

        ``await handle.wait()`` returns the completed record (``.json_schema``).
        Takes the options of :meth:`generate`; raises what it raises.
        """
        options = SchemaGenerationOptions(model=model, instructions=instructions)
        return await self._start(_documents(documents), options, idempotency_key=idempotency_key)

    def run(
        self,
        documents: Sequence[DocumentLike],
        *,
        model: str = "retab-small",
        instructions: str | None = None,
        idempotency_key: str | None = None,
    ) -> AbstractAsyncContextManager[RunHandle[SchemaGeneration]]:
        """A background schema generation for the length of an ``async with`` block:
        cancelled on the server if the block is left by an exception or a cancellation.

        Takes the options of :meth:`start`; :class:`UsageError` is raised at once.
        """
        options = SchemaGenerationOptions(model=model, instructions=instructions)
        return self._run(_documents(documents), options, idempotency_key=idempotency_key)

    def map(
        self,
        document_sets: Iterable[Sequence[DocumentLike]] | Iterable[Any],
        *,
        model: str = "retab-small",
        instructions: str | None = None,
        concurrency: int = 32,
        on_failure: FailurePolicy = "continue",
        progress: ProgressCallback | None = None,
        checkpoint: str | Any | None = None,
        checkpoint_mode: CheckpointMode = "resume",
        timeout: float | None = None,
        cancel_on_exit: bool = True,
    ) -> Batch[SchemaGeneration]:
        """Generate one schema per set of example documents, yielding results as runs finish.

        Each input is a list of documents (or a :class:`BatchItem` whose ``document``
        is one, to choose its key). Batches work as for classifications (see
        :meth:`Classifications.map`); with a checkpoint, an input's content is the
        content of all its documents. An input that is not a non-empty list of
        documents becomes a result with a :class:`UsageError`. Raises
        :class:`UsageError` for bad arguments.
        """
        options = SchemaGenerationOptions(model=model, instructions=instructions)
        return self._map(
            document_sets,
            options,
            concurrency=concurrency,
            on_failure=on_failure,
            progress=progress,
            checkpoint=checkpoint,
            checkpoint_mode=checkpoint_mode,
            timeout=timeout,
            cancel_on_exit=cancel_on_exit,
            input_digest=_digest,
        )


def _documents(documents: object) -> list[DocumentLike]:
    """``documents`` as a list, checked. Raises :class:`UsageError`."""
    if _one_document(documents) or not isinstance(documents, Sequence):
        raise UsageError(
            "documents must be a list of documents (paths, URLs, MIMEData...), "
            f"not {type(documents).__name__}"
        )
    if not documents:
        raise UsageError("documents must hold at least one document to generate a schema from")
    return list(documents)


def _one_document(value: object) -> bool:
    """Whether ``value`` is a single document rather than a list of them."""
    if isinstance(value, (str, bytes, os.PathLike, MIMEData)):
        return True
    pair = isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str)
    return pair and (isinstance(value[1], bytes) or hasattr(value[1], "read"))  # type: ignore[index]


async def _digest(documents: Sequence[DocumentLike]) -> str:
    """The checkpoint digest of a set of documents: of each one's, in order."""
    hasher = hashlib.sha256()
    for document in _documents(documents):
        hasher.update((await document_digest(document)).encode("ascii") + b"\n")
    return hasher.hexdigest()
