"""``client.extractions``: what is particular to extracting data from documents.

Its options (a JSON schema among them), its request body, its list filters, its
sources and its stream. Every other endpoint and the background-run machinery
come from :class:`RunResource`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, aclosing
from types import TracebackType
from typing import TYPE_CHECKING, Any

import msgspec

from .._documents import DocumentLike, to_mime_data, upload_if_large
from .._http.upload import uploader
from .._models.common import Page
from .._models.extractions import (
    Extraction,
    ExtractionOptions,
    ExtractionPartial,
    SourcesResponse,
    build_extraction_body,
    extraction_list_filters,
    iter_extraction_stream,
)
from .._models.schemas import SchemaLike, load_json_schema
from .._runs.handle import RunHandle
from .._runs.primitive import EXTRACTIONS, decode_with
from .base import (
    DateLike,
    Order,
    Paginator,
    Query,
    RunResource,
    new_idempotency_key,
    page_size_of,
)

if TYPE_CHECKING:
    from .._http.pipeline import Pipeline
    from .._http.transport import Response
    from .._runs.batch import Batch, FailurePolicy, ProgressCallback
    from .._runs.checkpoint import CheckpointMode

__all__ = ["ExtractionStream", "Extractions"]

_sources_decoder = msgspec.json.Decoder(SourcesResponse)


class Extractions(RunResource[Extraction, ExtractionOptions]):
    """Extract structured data that matches a JSON schema. Reached as ``client.extractions``.

    ``json_schema`` is a dict, the path of a JSON-schema file, or a type msgspec can
    describe (a ``msgspec.Struct``, a dataclass...): the schema is made from it.
    ``result.output`` is the extracted object as plain data;
    ``result.output_as(MyStruct)`` converts it into your type.
    """

    primitive = EXTRACTIONS

    async def _body(
        self, document: DocumentLike, options: ExtractionOptions, *, background: bool
    ) -> bytes:
        options = msgspec.structs.replace(options, background=background)
        return build_extraction_body(options, await to_mime_data(document))

    async def create(
        self,
        document: DocumentLike,
        json_schema: SchemaLike,
        *,
        model: str = "retab-small",
        instructions: str | None = None,
        n_consensus: int = 1,
        metadata: Mapping[str, str] | None = None,
        additional_messages: list[dict[str, Any]] | None = None,
        bust_cache: bool = False,
        deep_extraction: bool = False,
        background: bool = False,
        idempotency_key: str | None = None,
    ) -> Extraction:
        """Extract from ``document`` an object matching ``json_schema``.

        Synchronous by default: returns when the run has finished (check ``status``).
        With ``background=True`` it returns at once with a ``queued`` record; prefer
        :meth:`start`, which gives a :class:`RunHandle`. Idempotency and recovery of
        an interrupted create work as for classifications (see
        :meth:`Classifications.create`).

        Raises:
            DocumentError: the document cannot be read or sent.
            UsageError: a bad schema or option (nothing is sent).
            APIStatusError, TransportError, DecodeError: as the request fails; each
                carries ``idempotency_key``.
        """
        options = _options(
            json_schema,
            model,
            instructions,
            n_consensus,
            metadata,
            additional_messages,
            bust_cache,
            deep_extraction,
        )
        return await self._create(
            document, options, background=background, idempotency_key=idempotency_key
        )

    async def start(
        self,
        document: DocumentLike,
        json_schema: SchemaLike,
        *,
        model: str = "retab-small",
        instructions: str | None = None,
        n_consensus: int = 1,
        metadata: Mapping[str, str] | None = None,
        additional_messages: list[dict[str, Any]] | None = None,
        bust_cache: bool = False,
        deep_extraction: bool = False,
        idempotency_key: str | None = None,
    ) -> RunHandle[Extraction]:
        """Start a background extraction and return its :class:`RunHandle`.

        Takes the options of :meth:`create`; raises what it raises. A create cancelled
        in flight leaves no run that nobody can reach (see
        :meth:`Classifications.start`).
        """
        options = _options(
            json_schema,
            model,
            instructions,
            n_consensus,
            metadata,
            additional_messages,
            bust_cache,
            deep_extraction,
        )
        return await self._start(document, options, idempotency_key=idempotency_key)

    def run(
        self,
        document: DocumentLike,
        json_schema: SchemaLike,
        *,
        model: str = "retab-small",
        instructions: str | None = None,
        n_consensus: int = 1,
        metadata: Mapping[str, str] | None = None,
        additional_messages: list[dict[str, Any]] | None = None,
        bust_cache: bool = False,
        deep_extraction: bool = False,
        idempotency_key: str | None = None,
    ) -> AbstractAsyncContextManager[RunHandle[Extraction]]:
        """A background extraction for the length of an ``async with`` block: cancelled on
        the server if the block is left by an exception or a cancellation.

        Takes the options of :meth:`start`; :class:`UsageError` is raised at once.
        """
        options = _options(
            json_schema,
            model,
            instructions,
            n_consensus,
            metadata,
            additional_messages,
            bust_cache,
            deep_extraction,
        )
        return self._run(document, options, idempotency_key=idempotency_key)

    def map(
        self,
        documents: Iterable[DocumentLike] | Iterable[tuple[str, DocumentLike]],
        json_schema: SchemaLike,
        *,
        model: str = "retab-small",
        instructions: str | None = None,
        n_consensus: int = 1,
        metadata: Mapping[str, str] | None = None,
        additional_messages: list[dict[str, Any]] | None = None,
        bust_cache: bool = False,
        deep_extraction: bool = False,
        concurrency: int = 32,
        on_failure: FailurePolicy = "continue",
        progress: ProgressCallback | None = None,
        checkpoint: str | Any | None = None,
        checkpoint_mode: CheckpointMode = "resume",
        timeout: float | None = None,
        cancel_on_exit: bool = True,
    ) -> Batch[Extraction]:
        """Extract from many documents in the background, yielding results as runs finish.

        Batches work as for classifications (see :meth:`Classifications.map`): bounded
        concurrency, a checkpoint journal, ``on_failure``, ``progress``, per-run
        ``timeout``. The other keyword arguments are the options of :meth:`create`.
        Raises :class:`UsageError` for bad arguments.
        """
        options = _options(
            json_schema,
            model,
            instructions,
            n_consensus,
            metadata,
            additional_messages,
            bust_cache,
            deep_extraction,
        )
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

    def stream(
        self,
        document: DocumentLike,
        json_schema: SchemaLike,
        *,
        model: str = "retab-small",
        instructions: str | None = None,
        n_consensus: int = 1,
        metadata: Mapping[str, str] | None = None,
        additional_messages: list[dict[str, Any]] | None = None,
        bust_cache: bool = False,
        deep_extraction: bool = False,
        idempotency_key: str | None = None,
    ) -> ExtractionStream:
        """Extract while watching the object grow: partial results, then the final record.

        ::

            async with client.extractions.stream("invoice.pdf", schema) as events:
                async for event in events:
                    print(event.status, event.output)

        Each :class:`ExtractionPartial` holds the fields extracted so far; the last
        event is the final :class:`Extraction`. Leaving the block (a ``break``, an
        exception, a cancellation) releases the connection at once. A stream is
        sent once, never retried. A streamed run cannot also be a background run.

        Raises (options at once, the rest while iterating): :class:`UsageError`,
        :class:`DocumentError`, what a request raises, :class:`DecodeError` for a
        line that is not an extraction or a stream cut short.
        """
        options = _options(
            json_schema,
            model,
            instructions,
            n_consensus,
            metadata,
            additional_messages,
            bust_cache,
            deep_extraction,
        )
        key = new_idempotency_key(idempotency_key)
        return ExtractionStream(self._pipeline, document, options, key)

    async def sources(self, extraction_id: str) -> SourcesResponse:
        """Where each extracted value was found in the document.

        Raises :class:`UsageError` for a malformed id, :class:`NotFoundError` for an
        unknown one, and what any request raises.
        """
        path = f"{self.primitive.record_path(extraction_id)}/sources"
        return await self._pipeline.request("GET", path, _decode_sources)

    def list(
        self,
        *,
        status: str | None = None,
        filename: str | None = None,
        filename_contains: str | None = None,
        document_type: str | Iterable[str] | None = None,
        metadata: Mapping[str, str] | None = None,
        from_date: DateLike | None = None,
        to_date: DateLike | None = None,
        order: Order = "desc",
        limit: int | None = None,
        page_size: int | None = None,
    ) -> Paginator[Extraction]:
        """Matching extractions: ``await`` it for the first page, iterate it for all.

        ``page = await client.extractions.list(limit=10)`` is one request;
        ``async for e in client.extractions.list(): ...`` fetches page after page as
        you iterate (``.pages()`` iterates whole pages instead).
        ``limit`` is the page size (1-100, default 100), as in other SDKs: it does not
        cap the records ``async for`` yields, and ``await`` returns one page of that
        size. ``page_size`` is its deprecated name (a ``DeprecationWarning``; both at
        once: :class:`UsageError`).

        ``document_type`` may be one type or several (``["pdf", "png"]``); ``metadata``
        matches runs created with those metadata. Arguments are checked now:
        :class:`UsageError` for a bad status, order, limit, date or filter.
        """
        size = page_size_of(limit, page_size)
        query = self._filters(
            status, filename, filename_contains, document_type, metadata, from_date, to_date
        )
        return self._paginate(self._with_order(query, order, size))

    async def list_page(
        self,
        *,
        limit: int = 10,
        after: str | None = None,
        before: str | None = None,
        status: str | None = None,
        filename: str | None = None,
        filename_contains: str | None = None,
        document_type: str | Iterable[str] | None = None,
        metadata: Mapping[str, str] | None = None,
        from_date: DateLike | None = None,
        to_date: DateLike | None = None,
        order: Order = "desc",
    ) -> Page[Extraction]:
        """One page of extractions with its cursors (``page.list_metadata``).

        Raises :class:`UsageError` for bad arguments (``after`` with ``before`` too).
        """
        query = self._filters(
            status, filename, filename_contains, document_type, metadata, from_date, to_date
        )
        return await self._list_page(
            self._with_order(query, order, limit), after=after, before=before
        )

    def _filters(
        self,
        status: str | None,
        filename: str | None,
        filename_contains: str | None,
        document_type: str | Iterable[str] | None,
        metadata: Mapping[str, str] | None,
        from_date: DateLike | None,
        to_date: DateLike | None,
    ) -> tuple[dict[str, Any], Query]:
        shared = {
            "status": status,
            "filename": filename,
            "from_date": from_date,
            "to_date": to_date,
        }
        own = extraction_list_filters(
            filename_contains=filename_contains, document_type=document_type, metadata=metadata
        )
        return shared, own

    def _with_order(self, filters: tuple[dict[str, Any], Query], order: str, limit: int) -> Query:
        shared, own = filters
        return [*self._query(**shared, order=order, limit=limit), *own]


class ExtractionStream:
    """The events of one streamed extraction; see :meth:`Extractions.stream`.

    An async iterator, best used inside ``async with`` so that the connection is
    released as soon as the block is left. Iterated without ``async with``, the
    connection is released when the events end (or the iterator is closed).
    """

    def __init__(
        self, pipeline: Pipeline, document: DocumentLike, options: ExtractionOptions, key: str
    ) -> None:
        self._pipeline = pipeline
        self._document = document
        self._options = options
        self.idempotency_key = key
        self._events: AsyncGenerator[ExtractionPartial | Extraction, None] | None = None

    def __repr__(self) -> str:
        return f"<ExtractionStream key={self.idempotency_key}>"

    def __aiter__(self) -> AsyncIterator[ExtractionPartial | Extraction]:
        if self._events is None:
            self._events = self._read()
        return self._events

    async def _read(self) -> AsyncGenerator[ExtractionPartial | Extraction, None]:
        await self._pipeline.ensure_open()
        document = await upload_if_large(self._document, uploader(self._pipeline))
        mime = await to_mime_data(document)
        body = build_extraction_body(self._options, mime, stream=True)
        headers = {"Idempotency-Key": self.idempotency_key}
        path = f"{EXTRACTIONS.path}/stream"
        async with (
            self._pipeline.stream("POST", path, body=body, headers=headers) as chunks,
            aclosing(iter_extraction_stream(chunks)) as events,
        ):
            async for event in events:
                yield event

    async def aclose(self) -> None:
        """Stop reading and release the connection. Safe to call more than once."""
        if self._events is not None:
            await self._events.aclose()

    async def __aenter__(self) -> ExtractionStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _decode_sources(response: Response) -> SourcesResponse:
    sources: SourcesResponse = decode_with(_sources_decoder, response, "sources response")
    return sources


def _options(
    json_schema: SchemaLike,
    model: str,
    instructions: str | None,
    n_consensus: int,
    metadata: Mapping[str, str] | None,
    additional_messages: list[dict[str, Any]] | None,
    bust_cache: bool,
    deep_extraction: bool,
) -> ExtractionOptions:
    """The options, checked. Raises :class:`UsageError` naming what is wrong."""
    return ExtractionOptions(
        json_schema=load_json_schema(json_schema),
        model=model,
        instructions=instructions,
        n_consensus=n_consensus,
        metadata=dict(metadata) if metadata is not None else None,
        additional_messages=additional_messages,
        bust_cache=bust_cache,
        deep_extraction=deep_extraction,
    )
