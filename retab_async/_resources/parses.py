"""``client.parses``: what is particular to parsing documents into text.

Its options and its request body. Every endpoint and the background-run
machinery come from :class:`RunResource`; parses cannot be listed by status.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import msgspec

from .._documents import DocumentLike, to_mime_data
from .._models.common import Page
from .._models.parses import Parse, ParseOptions, TableParsingFormat, build_parse_body
from .._runs.handle import RunHandle
from .._runs.primitive import PARSES
from .base import DateLike, Order, Paginator, RunResource, page_size_of

if TYPE_CHECKING:
    from .._runs.batch import Batch, FailurePolicy, ProgressCallback
    from .._runs.checkpoint import CheckpointMode

__all__ = ["Parses"]


class Parses(RunResource[Parse, ParseOptions]):
    """Parse documents into text, page by page. Reached as ``client.parses``.

    Tables come out in ``table_parsing_format`` (``"html"``, ``"markdown"``,
    ``"json"`` or ``"yaml"``). ``result.output`` holds ``pages`` and ``text``.
    """

    primitive = PARSES

    async def _body(
        self, document: DocumentLike, options: ParseOptions, *, background: bool
    ) -> bytes:
        options = msgspec.structs.replace(options, background=background)
        return build_parse_body(options, await to_mime_data(document))

    async def create(
        self,
        document: DocumentLike,
        *,
        model: str = "retab-small",
        table_parsing_format: TableParsingFormat = "html",
        instructions: str | None = None,
        bust_cache: bool = False,
        background: bool = False,
        idempotency_key: str | None = None,
    ) -> Parse:
        """Parse ``document`` into text.

        Synchronous by default: returns when the run has finished (check ``status``).
        With ``background=True`` it returns at once; prefer :meth:`start`.
        Idempotency and recovery of an interrupted create work as for
        classifications (see :meth:`Classifications.create`).

        Raises:
            DocumentError: the document cannot be read or sent.
            UsageError: a bad option (nothing is sent).
            APIStatusError, TransportError, DecodeError: as the request fails; each
                carries ``idempotency_key``.
        """
        options = _options(model, table_parsing_format, instructions, bust_cache)
        return await self._create(
            document, options, background=background, idempotency_key=idempotency_key
        )

    async def start(
        self,
        document: DocumentLike,
        *,
        model: str = "retab-small",
        table_parsing_format: TableParsingFormat = "html",
        instructions: str | None = None,
        bust_cache: bool = False,
        idempotency_key: str | None = None,
    ) -> RunHandle[Parse]:
        """Start a background parse and return its :class:`RunHandle`.

        Takes the options of :meth:`create`; raises what it raises.
        """
        options = _options(model, table_parsing_format, instructions, bust_cache)
        return await self._start(document, options, idempotency_key=idempotency_key)

    def run(
        self,
        document: DocumentLike,
        *,
        model: str = "retab-small",
        table_parsing_format: TableParsingFormat = "html",
        instructions: str | None = None,
        bust_cache: bool = False,
        idempotency_key: str | None = None,
    ) -> AbstractAsyncContextManager[RunHandle[Parse]]:
        """A background parse for the length of an ``async with`` block: cancelled on the
        server if the block is left by an exception or a cancellation.

        Takes the options of :meth:`start`; :class:`UsageError` is raised at once.
        """
        options = _options(model, table_parsing_format, instructions, bust_cache)
        return self._run(document, options, idempotency_key=idempotency_key)

    def map(
        self,
        documents: Iterable[DocumentLike] | Iterable[tuple[str, DocumentLike]],
        *,
        model: str = "retab-small",
        table_parsing_format: TableParsingFormat = "html",
        instructions: str | None = None,
        bust_cache: bool = False,
        concurrency: int = 32,
        on_failure: FailurePolicy = "continue",
        progress: ProgressCallback | None = None,
        checkpoint: str | Any | None = None,
        checkpoint_mode: CheckpointMode = "resume",
        timeout: float | None = None,
        cancel_on_exit: bool = True,
    ) -> Batch[Parse]:
        """Parse many documents in the background, yielding results as runs finish.

        Batches work as for classifications (see :meth:`Classifications.map`). The
        other keyword arguments are the options of :meth:`create`. Raises
        :class:`UsageError` for bad arguments.
        """
        options = _options(model, table_parsing_format, instructions, bust_cache)
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

    def list(
        self,
        *,
        filename: str | None = None,
        from_date: DateLike | None = None,
        to_date: DateLike | None = None,
        order: Order = "desc",
        limit: int | None = None,
        page_size: int | None = None,
    ) -> Paginator[Parse]:
        """Matching parses: ``await`` it for the first page, iterate it for all.

        ``page = await client.parses.list(limit=10)`` is one request;
        ``async for p in client.parses.list(): ...`` fetches page after page as you
        iterate (``.pages()`` iterates whole pages instead).
        ``limit`` is the page size (1-100, default 100), as in other SDKs: it does not
        cap the records ``async for`` yields, and ``await`` returns one page of that
        size. ``page_size`` is its deprecated name (a ``DeprecationWarning``; both at
        once: :class:`UsageError`).
        Arguments are checked now: :class:`UsageError` for a bad order, limit or date.
        """
        query = self._query(
            status=None,
            filename=filename,
            from_date=from_date,
            to_date=to_date,
            order=order,
            limit=page_size_of(limit, page_size),
        )
        return self._paginate(query)

    async def list_page(
        self,
        *,
        limit: int = 10,
        after: str | None = None,
        before: str | None = None,
        filename: str | None = None,
        from_date: DateLike | None = None,
        to_date: DateLike | None = None,
        order: Order = "desc",
    ) -> Page[Parse]:
        """One page of parses with its cursors (``page.list_metadata``).

        Raises :class:`UsageError` for bad arguments (``after`` with ``before`` too).
        """
        query = self._query(
            status=None,
            filename=filename,
            from_date=from_date,
            to_date=to_date,
            order=order,
            limit=limit,
        )
        return await self._list_page(query, after=after, before=before)


def _options(
    model: str, table_parsing_format: TableParsingFormat, instructions: str | None, bust_cache: bool
) -> ParseOptions:
    """The options, checked. Raises :class:`UsageError` naming what is wrong."""
    return ParseOptions(
        model=model,
        table_parsing_format=table_parsing_format,
        instructions=instructions,
        bust_cache=bust_cache,
    )
