"""``client.classifications``: every classifications endpoint, and background runs."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import anyio
import msgspec

from ._client import RetabClient, no_body
from ._documents import CategoryLike, DocumentLike, normalize_categories, to_mime_data
from ._errors import DecodeError, NotFoundError, RetabError, ServerError, TransportError, UsageError
from ._models import Classification, Page
from ._primitives import CLASSIFICATIONS, check_id
from ._runs import CANCEL_GRACE, RunHandle
from ._status import KNOWN_STATUSES

if TYPE_CHECKING:
    from ._batch import Batch, FailurePolicy, ProgressCallback
    from ._checkpoint import CheckpointMode

__all__ = ["Classifications", "Paginator"]

_T = TypeVar("_T")
_encode = msgspec.json.Encoder().encode
_log = logging.getLogger("retab_async")
Order = Literal["asc", "desc"]
DateLike = dt.date | str


class Classifications:
    """Classify documents into categories. Reached as ``client.classifications``."""

    primitive = CLASSIFICATIONS

    def __init__(self, client: RetabClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<Classifications of {self._client!r}>"

    # -- create -----------------------------------------------------------------

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
        key = _idempotency_key(idempotency_key)
        body = await self._create_body(
            document,
            categories,
            model,
            first_n_pages,
            instructions,
            n_consensus,
            bust_cache,
            background,
        )
        if not background:
            return await self._send_create(body, key, background)
        unreachable = idempotency_key is None
        return await self._create_in_background(body, key, on_cancel=unreachable, on_error=False)

    async def _create_body(
        self,
        document: DocumentLike,
        categories: Iterable[CategoryLike],
        model: str,
        first_n_pages: int | None,
        instructions: str | None,
        n_consensus: int,
        bust_cache: bool,
        background: bool,
    ) -> bytes:
        self._client._require_open()
        cats = normalize_categories(categories)
        _check_options(model, first_n_pages, instructions, n_consensus)
        mime = await to_mime_data(document)
        body: dict[str, Any] = {
            "document": mime,
            "categories": cats,
            "model": model,
            "n_consensus": n_consensus,
            "bust_cache": bool(bust_cache),
            "background": bool(background),
        }
        if first_n_pages is not None:
            body["first_n_pages"] = first_n_pages
        if instructions is not None:
            body["instructions"] = instructions
        return _encode(body)

    async def _send_create(self, body: bytes, key: str, background: bool) -> Classification:
        timeout = None if background else self._client.sync_timeout
        try:
            return await self._client.request(
                "POST",
                CLASSIFICATIONS.path,
                CLASSIFICATIONS.decode,
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
    ) -> Classification:
        """Send a background create. If it is cancelled in flight (``on_cancel``), or
        fails so that a run may have started anyway (``on_error``), the run is found
        (the create replayed with its key) and cancelled before the exception goes on."""
        try:
            return await self._send_create(body, key, True)
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
        ``CANCEL_GRACE`` on the client's clock, never raising."""
        with self._client.clock.move_on_after(CANCEL_GRACE, shield=True):
            try:
                record = await self._send_create(body, key, True)
            except RetabError as exc:
                _log.warning(
                    "could not find the run of an interrupted create (key %s): %s", key, exc
                )
                return
            handle = RunHandle(
                self._client, CLASSIFICATIONS, record.id, record=record, idempotency_key=key
            )
            await handle._cancel_quietly()
            return
        _log.warning("cancelling the run of an interrupted create (key %s) took too long", key)

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
        return await self._start(
            document,
            categories,
            model=model,
            first_n_pages=first_n_pages,
            instructions=instructions,
            n_consensus=n_consensus,
            bust_cache=bust_cache,
            idempotency_key=idempotency_key,
            owned=False,
        )

    async def _start(
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
        owned: bool,
    ) -> RunHandle[Classification]:
        """:meth:`start`; ``owned``: the caller holds the run only while it runs (``run()``),
        so a create that is cancelled or fails uncertainly never leaves its run going."""
        key = _idempotency_key(idempotency_key)
        born = self._client.clock.now()
        body = await self._create_body(
            document, categories, model, first_n_pages, instructions, n_consensus, bust_cache, True
        )
        on_cancel = owned or idempotency_key is None
        record = await self._create_in_background(body, key, on_cancel=on_cancel, on_error=owned)
        return RunHandle(
            self._client, CLASSIFICATIONS, record.id, record=record, idempotency_key=key, born=born
        )

    @asynccontextmanager
    async def run(
        self,
        document: DocumentLike,
        categories: Iterable[CategoryLike],
        **options: Any,
    ) -> AsyncIterator[RunHandle[Classification]]:
        """Start a background run for the length of an ``async with`` block.

        If the block is left by an exception or by cancellation while the run is not
        terminal, the run is cancelled on the server (shielded, bounded in time) and
        the exception propagates. Leaving the block normally leaves the run as it is.
        The same holds before the block is entered: a create cancelled in flight, or
        failing so that a run may have started (a timeout, a dropped connection, a
        5xx), is replayed with its ``Idempotency-Key`` and its run cancelled, so no
        run outlives the block. Takes the options of :meth:`start`.
        """
        handle = await self._start(document, categories, owned=True, **options)
        try:
            yield handle
        except BaseException:
            if not handle.done:
                await handle._cancel_quietly()
            raise

    def handle(self, run: str | Classification) -> RunHandle[Classification]:
        """A :class:`RunHandle` on an existing run, from its id or its record.

        Raises :class:`UsageError` for a malformed id (nothing is sent).
        """
        if isinstance(run, Classification):
            return RunHandle(self._client, CLASSIFICATIONS, run.id, record=run, full=True)
        check_id(run)
        return RunHandle(self._client, CLASSIFICATIONS, run)

    # -- read, cancel, delete ---------------------------------------------------

    async def get(self, classification_id: str, *, include_output: bool = True) -> Classification:
        """Fetch one classification.

        Raises :class:`UsageError` for a malformed id, :class:`NotFoundError` for an
        unknown one, and what any request raises.
        """
        return await self._client.request(
            "GET",
            CLASSIFICATIONS.record_path(classification_id),
            CLASSIFICATIONS.decode,
            params={"include_output": "true" if include_output else "false"},
            expect_id=classification_id,
        )

    async def cancel(self, classification_id: str) -> Classification:
        """Cancel a classification and return its record.

        Idempotent: a run already ``completed``, ``failed`` or ``cancelled`` comes
        back unchanged, without error. Not held back by a client-wide ``Retry-After``
        pause. Raises like :meth:`get`.
        """
        return await self._client.request(
            "POST",
            CLASSIFICATIONS.cancel_path(classification_id),
            CLASSIFICATIONS.decode,
            expect_id=classification_id,
            bypass_pause=True,
        )

    create_classification_cancel = cancel
    """The official SDK's name for :meth:`cancel`."""

    async def delete(self, classification_id: str) -> None:
        """Delete a classification for good (an in-flight run is cancelled first).

        A ``404`` on a retry (the first attempt's answer was lost) counts as done.
        Raises like :meth:`get`.
        """
        try:
            await self._client.request(
                "DELETE", CLASSIFICATIONS.record_path(classification_id), no_body
            )
        except NotFoundError as exc:
            if exc.attempt == 1:
                raise

    # -- list -------------------------------------------------------------------

    def list(
        self,
        *,
        status: str | None = None,
        filename: str | None = None,
        from_date: DateLike | None = None,
        to_date: DateLike | None = None,
        order: Order = "desc",
        page_size: int = 100,
    ) -> Paginator[Classification]:
        """Every matching classification, fetched page by page as you iterate.

        ``async for c in client.classifications.list(status="completed"): ...``;
        ``.pages()`` iterates whole pages instead. Arguments are checked now:
        :class:`UsageError` for a bad status, order, page size or date.
        """
        params = _list_params(status, filename, from_date, to_date, order, page_size)

        async def fetch(after: str | None) -> Page[Classification]:
            query = dict(params)
            if after is not None:
                query["after"] = after
            return await self._client.request(
                "GET", CLASSIFICATIONS.path, CLASSIFICATIONS.decode_page, params=query
            )

        return Paginator(fetch)

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
    ) -> Page[Classification]:
        """One page of classifications with its cursors (``page.list_metadata``).

        Raises :class:`UsageError` for bad arguments (``after`` with ``before`` too).
        """
        params = _list_params(status, filename, from_date, to_date, order, limit)
        if after is not None and before is not None:
            raise UsageError("pass either after= or before=, not both")
        for name, cursor in (("after", after), ("before", before)):
            if cursor is not None:
                check_id(cursor)
                params[name] = cursor
        return await self._client.request(
            "GET", CLASSIFICATIONS.path, CLASSIFICATIONS.decode_page, params=params
        )

    # -- batches ----------------------------------------------------------------

    def map(
        self,
        documents: Iterable[DocumentLike] | Iterable[tuple[str, DocumentLike]],
        categories: Iterable[CategoryLike],
        *,
        concurrency: int = 32,
        on_failure: FailurePolicy = "continue",
        progress: ProgressCallback | None = None,
        checkpoint: str | Any | None = None,
        checkpoint_mode: CheckpointMode = "resume",
        timeout: float | None = None,
        cancel_on_exit: bool = True,
        **options: Any,
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
        is left early. Other keyword arguments are the options of :meth:`create`.
        :class:`CheckpointError` means the journal could not be written: the batch
        stopped, and a rerun with the same checkpoint resumes it.

        Use it as ``async with client.classifications.map(...) as results:
        async for result in results: ...`` so that leaving early cancels what is
        in flight. Raises :class:`UsageError` for bad arguments.
        """
        from ._batch import Batch

        cats = normalize_categories(categories)
        return Batch(
            self,
            documents,
            cats,
            concurrency=concurrency,
            on_failure=on_failure,
            progress=progress,
            checkpoint=checkpoint,
            checkpoint_mode=checkpoint_mode,
            timeout=timeout,
            options=options,
            cancel_on_exit=cancel_on_exit,
        )


class Paginator(Generic[_T]):
    """An async iterator over every record of a list, one page request at a time.

    Nothing is held between pages, so leaving the loop early leaks nothing.
    Rows that do not decode (legacy records) are logged, counted in ``skipped``
    and kept in ``invalid``.
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
        if page.invalid:
            self.invalid.extend(page.invalid)
            _log.warning("skipped %d list rows that did not decode", len(page.invalid))
        self._after = page.next_cursor
        self._exhausted = self._after is None
        return page

    async def pages(self) -> AsyncIterator[Page[_T]]:
        """Iterate whole pages instead of records."""
        while (page := await self._next_page()) is not None:
            yield page


def _may_have_started(exc: RetabError) -> bool:
    """Whether a create that failed with ``exc`` may still have started its run."""
    if isinstance(exc, DecodeError):
        return exc.malformed
    return isinstance(exc, (TransportError, ServerError))


def _idempotency_key(key: str | None) -> str:
    if key is None:
        return f"rtab-{uuid.uuid4().hex}"
    if not 1 <= len(key) <= 255 or not all(" " <= ch <= "~" for ch in key):
        raise UsageError("idempotency_key must be 1-255 printable ASCII characters")
    return key


def _check_options(
    model: str, first_n_pages: int | None, instructions: str | None, n_consensus: int
) -> None:
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


def _list_params(
    status: str | None,
    filename: str | None,
    from_date: DateLike | None,
    to_date: DateLike | None,
    order: str,
    limit: int,
) -> dict[str, str]:
    if order not in ("asc", "desc"):
        raise UsageError(f"order must be 'asc' or 'desc', not {order!r}")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100:
        raise UsageError(f"page size must be an integer from 1 to 100, not {limit!r}")
    params = {"order": order, "limit": str(limit)}
    if status is not None:
        if status not in KNOWN_STATUSES - {"error"}:
            raise UsageError(
                f"unknown status {status!r}; expected one of {sorted(KNOWN_STATUSES - {'error'})}"
            )
        params["status"] = status
    if filename is not None:
        params["filename"] = filename
    for name, value in (("from_date", from_date), ("to_date", to_date)):
        if value is not None:
            params[name] = _date(name, value)
    return params


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
