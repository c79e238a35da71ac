"""``RunResource``: the endpoints every background primitive shares, written once.

A primitive's own module (``classifications.py`` and its siblings) adds only what is its
own: typed create options, the request body, and list filters. Everything
else (start, handle, get, cancel, delete, list, list_page, run, map,
pagination, idempotency keys) lives here, parameterised by the primitive's
:class:`Primitive` description.

Two classes, as primitives come in two kinds: :class:`BackgroundResource` has what
every background run has (create, start, handle, get, cancel, run, map);
:class:`RunResource` adds ``delete`` and listing, for primitives whose runs are
stored and listed (``Primitive.listable``/``deletable``). File blueprints and
schema generations build on the first, so they have no ``list``/``delete`` at all.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import anyio
import msgspec

from .._documents import upload_if_large
from .._errors import (
    DecodeError,
    NotFoundError,
    RetabError,
    ServerError,
    TokenError,
    TransportError,
    UsageError,
)
from .._http.pipeline import no_body
from .._http.upload import uploader
from .._models.common import Page
from .._runs.handle import CANCEL_GRACE, RunHandle
from .._runs.primitive import Primitive, R, check_id, shared
from .._runs.tokens import decode_token
from .._status import KNOWN_STATUSES

if TYPE_CHECKING:
    from .._http.pipeline import Pipeline
    from .._runs.batch import Batch, FailurePolicy, InputDigest, ProgressCallback
    from .._runs.checkpoint import CheckpointMode
    from .._runs.poller import Poller

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "BackgroundResource",
    "DateLike",
    "Order",
    "Paginator",
    "Query",
    "RunResource",
    "StatusListedResource",
    "new_idempotency_key",
    "page_size_of",
]

_T = TypeVar("_T")
OptionsT = TypeVar("OptionsT", bound=msgspec.Struct)  # a primitive's typed create options
_log = logging.getLogger("retab_async")
Order = Literal["asc", "desc"]
DateLike = dt.date | str
Query = list[tuple[str, str]]
"""Query parameters in order; a key may repeat (``document_type=a&document_type=b``)."""
DEFAULT_PAGE_SIZE = 100
"""Records per page of ``list()`` when neither ``limit`` nor ``page_size`` is given."""


class BackgroundResource(Generic[R, OptionsT]):
    """The endpoints every background primitive has: create, get, cancel, runs.

    Subclasses set :attr:`primitive` and implement :meth:`_body`; their public
    ``create``/``start``/``run``/``map`` spell out the primitive's options and
    call the generic ``_create``/``_start``/``_run``/``_map`` here. A run's input
    is what ``_body`` takes: one document for most primitives, a file id or a list
    of documents for others (typed by the subclass's public methods).
    """

    primitive: Primitive[R]

    def __init__(self, pipeline: Pipeline, poller: Poller) -> None:
        self._pipeline = pipeline
        self._poller = poller

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._pipeline.base_url}>"

    async def _body(self, document: Any, options: OptionsT, *, background: bool) -> bytes:
        """The JSON body of a create. Raises :class:`DocumentError`, :class:`UsageError`."""
        raise NotImplementedError

    async def _document(self, document: Any) -> Any:
        """``document``, or the upload of a local file too large to send inline
        (:func:`upload_if_large`). Raises :class:`DocumentError`, upload errors."""
        return await upload_if_large(document, uploader(self._pipeline))

    # -- create -----------------------------------------------------------------

    async def _create(
        self,
        document: Any,
        options: OptionsT,
        *,
        background: bool,
        idempotency_key: str | None,
    ) -> R:
        key = new_idempotency_key(idempotency_key)
        await self._pipeline.ensure_open()  # before reading a document for nothing
        body = await self._body(await self._document(document), options, background=background)
        if not background:
            return await self._send_create(body, key, background=False)
        unreachable = idempotency_key is None
        return await self._create_in_background(body, key, on_cancel=unreachable, on_error=False)

    async def _start(
        self,
        document: Any,
        options: OptionsT,
        *,
        idempotency_key: str | None,
        owned: bool = False,
    ) -> RunHandle[R]:
        """Start a background run. ``owned``: the caller holds the run only while it runs
        (``run()``), so a create that is cancelled or fails uncertainly never leaves its
        run going; otherwise only a cancelled create without the caller's own key is
        cleaned up (nobody else could reach its run)."""
        key = new_idempotency_key(idempotency_key)
        born = self._pipeline.clock.now()
        await self._pipeline.ensure_open()
        body = await self._body(await self._document(document), options, background=True)
        on_cancel = owned or idempotency_key is None
        record = await self._create_in_background(body, key, on_cancel=on_cancel, on_error=owned)
        return self._handle_of(shared(record, options), idempotency_key=key, born=born)

    async def _send_create(self, body: bytes, key: str, *, background: bool) -> R:
        timeout = None if background else self._pipeline.sync_timeout
        try:
            return await self._pipeline.request(
                "POST",
                self.primitive.path,
                self.primitive.decode,
                body=body,
                headers={"Idempotency-Key": key},
                timeout=timeout,
            )
        except RetabError as exc:
            # Errors are built below the create, which alone knows what the key means.
            exc.idempotency_key = key
            raise

    async def _create_in_background(
        self, body: bytes, key: str, *, on_cancel: bool, on_error: bool
    ) -> R:
        """Send a background create. If it is cancelled in flight (``on_cancel``), or
        fails so that a run may have started anyway (``on_error``), the run is found
        (the create replayed with its key) and cancelled before the exception goes on."""
        try:
            return await self._send_create(body, key, background=True)
        except anyio.get_cancelled_exc_class():
            if on_cancel:
                await self._abandon_create(body, key)
            raise
        except RetabError as exc:
            if on_error and _may_have_started(exc):
                await self._abandon_create(body, key)
            raise

    async def _abandon_create(self, body: bytes, key: str) -> None:
        """Replay an interrupted create and cancel its run: shielded, bounded by
        ``CANCEL_GRACE`` on the pipeline's clock, never raising."""
        with self._pipeline.clock.move_on_after(CANCEL_GRACE, shield=True):
            try:
                record = await self._send_create(body, key, background=True)
            except RetabError as exc:
                _log.warning(
                    "could not find the run of an interrupted create (key %s): %s", key, exc
                )
                return
            await self._handle_of(record, idempotency_key=key)._cancel_quietly()
            return
        _log.warning("cancelling the run of an interrupted create (key %s) took too long", key)

    def _handle_of(
        self, record: R, *, idempotency_key: str | None = None, born: float | None = None
    ) -> RunHandle[R]:
        return RunHandle(
            self._pipeline,
            self._poller,
            self.primitive,
            record.id,
            record=record,
            idempotency_key=idempotency_key,
            born=born,
        )

    def _run(
        self, document: Any, options: OptionsT, *, idempotency_key: str | None
    ) -> AbstractAsyncContextManager[RunHandle[R]]:
        return _run_block(
            self._start(document, options, idempotency_key=idempotency_key, owned=True)
        )

    def _map(
        self,
        documents: Iterable[Any],
        options: OptionsT,
        *,
        concurrency: int,
        on_failure: FailurePolicy,
        progress: ProgressCallback | None,
        checkpoint: str | Any | None,
        checkpoint_mode: CheckpointMode,
        timeout: float | None,
        cancel_on_exit: bool,
        input_digest: InputDigest | None = None,
    ) -> Batch[R]:
        """A batch over ``documents``; ``input_digest`` is for inputs that are not
        documents (file ids, lists of documents): see :class:`Batch`."""
        from .._runs.batch import Batch

        async def start(document: Any, idempotency_key: str | None, owned: bool) -> RunHandle[R]:
            return await self._start(
                document, options, idempotency_key=idempotency_key, owned=owned
            )

        return Batch(
            start,
            self._poller,
            self.primitive,
            documents,
            parameters=msgspec.structs.asdict(options),
            concurrency=concurrency,
            on_failure=on_failure,
            progress=progress,
            checkpoint=checkpoint,
            checkpoint_mode=checkpoint_mode,
            timeout=timeout,
            cancel_on_exit=cancel_on_exit,
            input_digest=input_digest,
        )

    # -- one run ----------------------------------------------------------------

    def handle(self, run: str | R) -> RunHandle[R]:
        """A :class:`RunHandle` on an existing run, from its id or its record.

        Raises :class:`UsageError` for a malformed id (nothing is sent).
        """
        if isinstance(run, self.primitive.record_type):
            return RunHandle(
                self._pipeline, self._poller, self.primitive, run.id, record=run, full=True
            )
        check_id(run)
        return RunHandle(self._pipeline, self._poller, self.primitive, run)  # type: ignore[arg-type]

    def resume(self, token: str) -> RunHandle[R]:
        """A handle on the run ``token`` (from :attr:`RunHandle.token`) describes, typed
        for this primitive (``client.resume(token)`` takes a run of any primitive).

        Raises :class:`TokenError` when the token is malformed, altered, made for another
        base URL, or names a run of another primitive (nothing is sent).
        """
        primitive, run_id, key = decode_token(token, base_url=self._pipeline.base_url)
        if primitive is not self.primitive:
            raise TokenError(
                f"this token is for a run of {primitive.name}, not of {self.primitive.name}: "
                f"resume it with client.{primitive.name}.resume(token) or client.resume(token)"
            )
        return RunHandle(self._pipeline, self._poller, primitive, run_id, idempotency_key=key)

    async def get(self, run_id: str, *, include_output: bool = True) -> R:
        """Fetch one record.

        Raises :class:`UsageError` for a malformed id, :class:`NotFoundError` for an
        unknown one, and what any request raises.
        """
        return await self._pipeline.request(
            "GET",
            self.primitive.fetch_path(run_id, output=include_output),
            self.primitive.decode,
            expect_id=run_id,
        )

    async def cancel(self, run_id: str) -> R:
        """Cancel a run and return its record.

        Idempotent: a run already ``completed``, ``failed`` or ``cancelled`` comes
        back unchanged, without error. Not held back by a client-wide ``Retry-After``
        pause. Raises like :meth:`get`.
        """
        return await self._pipeline.request(
            "POST",
            self.primitive.cancel_path(run_id),
            self.primitive.decode,
            expect_id=run_id,
            bypass_pause=True,
        )


class RunResource(BackgroundResource[R, OptionsT]):
    """The shared endpoints of a background primitive whose runs are stored and listed:
    those of :class:`BackgroundResource`, ``delete``, and the list helpers."""

    async def delete(self, run_id: str) -> None:
        """Delete a run for good (an in-flight run is cancelled first).

        A ``404`` on a retry (the first attempt's answer was lost) counts as done.
        Raises like :meth:`get`.
        """
        try:
            await self._pipeline.request("DELETE", self.primitive.record_path(run_id), no_body)
        except NotFoundError as exc:
            if exc.attempt == 1:
                raise

    # -- list -------------------------------------------------------------------

    def _paginate(self, query: Query) -> Paginator[R]:
        async def fetch(after: str | None) -> Page[R]:
            params = query if after is None else [*query, ("after", after)]
            return await self._fetch_page(params)

        return Paginator(fetch)

    async def _fetch_page(self, query: Query) -> Page[R]:
        return await self._pipeline.request(
            "GET", self.primitive.path, self.primitive.decode_page, params=query
        )

    async def _list_page(self, query: Query, *, after: str | None, before: str | None) -> Page[R]:
        if after is not None and before is not None:
            raise UsageError("pass either after= or before=, not both")
        for name, cursor in (("after", after), ("before", before)):
            if cursor is not None:
                check_id(cursor)
                query.append((name, cursor))
        return await self._fetch_page(query)

    def _query(
        self,
        *,
        status: str | None,
        filename: str | None,
        from_date: DateLike | None,
        to_date: DateLike | None,
        order: str,
        limit: int,
    ) -> Query:
        """The list parameters every primitive shares, checked.

        Raises :class:`UsageError` for a bad order, page size, status or date.
        """
        if order not in ("asc", "desc"):
            raise UsageError(f"order must be 'asc' or 'desc', not {order!r}")
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100:
            raise UsageError(
                f"limit (the page size) must be an integer from 1 to 100, not {limit!r}"
            )
        query: Query = [("order", order), ("limit", str(limit))]
        if status is not None:
            if not self.primitive.list_status_filter:
                raise UsageError(f"{self.primitive.name} cannot be listed by status")
            listable = sorted(KNOWN_STATUSES - {"error"})
            if status not in listable:
                raise UsageError(f"unknown status {status!r}; expected one of {listable}")
            query.append(("status", status))
        if filename is not None:
            query.append(("filename", filename))
        for name, value in (("from_date", from_date), ("to_date", to_date)):
            if value is not None:
                query.append((name, _date(name, value)))
        return query


class StatusListedResource(RunResource[R, OptionsT]):
    """A :class:`RunResource` whose list takes the filters most primitives share:
    ``status``, ``filename`` and creation dates (classifications, splits, partitions)."""

    def list(
        self,
        *,
        status: str | None = None,
        filename: str | None = None,
        from_date: DateLike | None = None,
        to_date: DateLike | None = None,
        order: Order = "desc",
        limit: int | None = None,
        page_size: int | None = None,
    ) -> Paginator[R]:
        """Matching runs: ``await`` it for the first page, iterate it for all.

        ``page = await client.classifications.list(limit=10)`` is one request;
        ``async for c in client.classifications.list(status="completed"): ...`` fetches
        page after page as you iterate (``.pages()`` iterates whole pages instead).
        ``filename`` is a case-insensitive prefix; ``from_date``/``to_date`` bound the
        creation date. ``limit`` is the page size (1-100, default 100), as in other
        SDKs: it does not cap the records ``async for`` yields, and ``await`` returns
        one page of that size. ``page_size`` is its deprecated name (a
        ``DeprecationWarning``; both at once: :class:`UsageError`).
        Arguments are checked now: :class:`UsageError` for a bad status, order, limit
        or date.
        """
        query = self._query(
            status=status,
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
        status: str | None = None,
        filename: str | None = None,
        from_date: DateLike | None = None,
        to_date: DateLike | None = None,
        order: Order = "desc",
    ) -> Page[R]:
        """One page of runs with its cursors (``page.list_metadata``).

        Raises :class:`UsageError` for bad arguments (``after`` with ``before`` too).
        """
        query = self._query(
            status=status,
            filename=filename,
            from_date=from_date,
            to_date=to_date,
            order=order,
            limit=limit,
        )
        return await self._list_page(query, after=after, before=before)


@asynccontextmanager
async def _run_block(starting: Awaitable[RunHandle[R]]) -> AsyncIterator[RunHandle[R]]:
    """The ``async with resource.run(...)`` block: cancel the run if the block fails."""
    handle = await starting
    try:
        yield handle
    except BaseException:
        if not handle.done:
            await handle._cancel_quietly()
        raise


class Paginator(Generic[_T]):
    """What ``list()`` returns: awaitable for the first page, async-iterable for every record.

    ``page = await client.classifications.list(limit=10)`` sends one request and
    returns that :class:`Page` (``page.data``, ``page.next_cursor``); each ``await``
    sends it again, and leaves the iteration below untouched.

    ``async for record in client.classifications.list(): ...`` yields every matching
    record, fetching the next page only when the current one is used up. Nothing is
    held between pages, so leaving the loop early leaks nothing. Rows that do not
    decode (legacy records) are logged, counted in ``skipped`` and kept in ``invalid``.
    """

    def __init__(self, fetch: Callable[[str | None], Awaitable[Page[_T]]]) -> None:
        self._fetch = fetch
        self._buffer: list[_T] = []
        self._after: str | None = None
        self._exhausted = False
        self.invalid: list[tuple[str, str]] = []

    @property
    def skipped(self) -> int:
        """Rows skipped because they did not decode."""
        return len(self.invalid)

    def __await__(self) -> Generator[Any, None, Page[_T]]:
        return self._first_page().__await__()

    async def _first_page(self) -> Page[_T]:
        page = await self._fetch(None)
        _log_invalid(page)
        return page

    def __aiter__(self) -> Paginator[_T]:
        return self

    async def __anext__(self) -> _T:
        while not self._buffer:
            page = await self._next_page()
            if page is None:
                raise StopAsyncIteration
            self._buffer = list(reversed(page.data))
        return self._buffer.pop()

    async def _next_page(self) -> Page[_T] | None:
        if self._exhausted:
            return None
        page = await self._fetch(self._after)
        self.invalid.extend(page.invalid)
        _log_invalid(page)
        self._after = page.next_cursor
        self._exhausted = self._after is None
        return page

    async def pages(self) -> AsyncIterator[Page[_T]]:
        """Iterate whole pages instead of records."""
        while (page := await self._next_page()) is not None:
            yield page


def _log_invalid(page: Page[Any]) -> None:
    if page.invalid:
        _log.warning("skipped %d list rows that did not decode", len(page.invalid))


def page_size_of(limit: int | None, page_size: int | None) -> int:
    """The page size of a ``list()`` call: ``limit``, or the deprecated ``page_size``.

    Raises :class:`UsageError` when both are given; warns (``DeprecationWarning``,
    pointing at the caller of ``list()``) when ``page_size`` is.
    """
    if page_size is None:
        return DEFAULT_PAGE_SIZE if limit is None else limit
    if limit is not None:
        raise UsageError("pass limit= (the page size) alone; page_size= is its deprecated name")
    warnings.warn(
        "page_size= is deprecated; pass limit= instead (the same page size)",
        DeprecationWarning,
        stacklevel=3,
    )
    return page_size


def _may_have_started(exc: RetabError) -> bool:
    """Whether a create that failed with ``exc`` may still have started its run."""
    if isinstance(exc, DecodeError):
        return exc.malformed
    return isinstance(exc, (TransportError, ServerError))


def new_idempotency_key(key: str | None) -> str:
    """``key`` checked, or a fresh one. Raises :class:`UsageError` for a malformed key."""
    if key is None:
        return f"rtab-{uuid.uuid4().hex}"
    if not 1 <= len(key) <= 255 or not all(" " <= ch <= "~" for ch in key):
        raise UsageError("idempotency_key must be 1-255 printable ASCII characters")
    return key


def _date(name: str, value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise UsageError(f"{name} must be a date or a 'YYYY-MM-DD' string, not {value!r}")
