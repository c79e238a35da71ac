"""Batches: many background runs with bounded concurrency, results as they finish.

A :class:`Batch` is driven by the task that iterates it: each ``__anext__``
tops the runs in flight up to ``concurrency`` (creates run in a task group that
lives only for that call) and waits, through the client's poller, until some
run finishes. Between two results nothing of the batch runs but the client's
poller, which keeps observing the runs in flight.

Leaving early: ``aclose()`` (or leaving ``async with``) cancels the runs still in
flight on the server, shielded and bounded in time; so does cancelling the task
that iterates. A plain ``break`` out of ``async for`` cannot be seen by the
batch: use ``async with`` (or ``contextlib.aclosing``) to get that clean-up.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sized
from pathlib import PurePath
from types import TracebackType
from typing import Any, Generic, Literal

import anyio

from .._documents import DocumentLike, to_mime_data, too_large_to_inline
from .._errors import (
    DocumentError,
    NotFoundError,
    RetabError,
    RunCancelled,
    UsageError,
    WaitTimeout,
    outcome_error,
)
from .._models.common import MIMEData
from .checkpoint import RESTART_HINT as _RESTART_HINT
from .checkpoint import CheckpointMode, Journal, KeyState
from .fingerprint import document_digest, mime_digest_async, params_digests
from .handle import CANCEL_GRACE, RunHandle
from .poller import Poller, Watch
from .primitive import Primitive, R

__all__ = [
    "Batch",
    "BatchItem",
    "BatchProgress",
    "BatchResult",
    "FailurePolicy",
    "InputDigest",
    "ProgressCallback",
    "StartFunction",
]

FailurePolicy = Literal["continue", "stop"]
_CHECK_CONCURRENCY = 8  # inputs hashed at once when a checkpoint is resumed


@dataclasses.dataclass(frozen=True)
class BatchItem:
    """An input with a key of your choosing (the key names it in results and checkpoints)."""

    key: str
    document: DocumentLike


@dataclasses.dataclass(frozen=True)
class BatchResult(Generic[R]):
    """The outcome of one input.

    Attributes:
        key: the input's key.
        document: the input as given.
        record: the final record, when the run ended (also when it failed).
        error: why there is no completed record (``RunFailed``, ``RunCancelled``,
            ``WaitTimeout``, ``DocumentError``, an API error...), else ``None``.
        run_id: the run's id, when a run was created.
        from_checkpoint: the result was read from the checkpoint, not run again.
    """

    key: str
    document: DocumentLike
    record: R | None
    error: RetabError | None
    run_id: str | None
    from_checkpoint: bool = False

    @property
    def ok(self) -> bool:
        """Whether the run completed."""
        return self.error is None and self.record is not None

    def require_record(self) -> R:
        """The completed record, typed without ``None``.

        Raises:
            RetabError: the error this result carries (``RunFailed``, ``RunCancelled``,
                ``WaitTimeout``, ``DocumentError``, an API error...) when it is not ``ok``.
        """
        if self.error is not None:
            raise self.error
        if self.record is None:  # pragma: no cover - a result has a record or an error
            raise RetabError(f"{self.key}: no record")
        return self.record


@dataclasses.dataclass
class BatchProgress:
    """Counts of a batch so far. ``total`` is known when the inputs have a length."""

    total: int | None = None
    submitted: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    resumed: int = 0

    @property
    def finished(self) -> int:
        """Inputs with a result."""
        return self.completed + self.failed + self.cancelled


ProgressCallback = Callable[[BatchProgress], None]
StartFunction = Callable[[Any, "str | None", bool], Awaitable[RunHandle[R]]]
"""Starts one input's run: ``start(document, idempotency_key, owned)`` -> its handle.

``owned``: the batch holds the run only while it runs, so a create cancelled or
failing uncertainly must not leave its run going (see ``RunResource._start``).
"""


InputDigest = Callable[[Any], Awaitable[str]]
"""The content digest of an input that is not one document (a file id, a list of
documents), for the checkpoint: ``await digest(input)``. Raises :class:`DocumentError`
when the input cannot be read."""


@dataclasses.dataclass(eq=False)
class _Slot:
    key: str
    document: DocumentLike
    handle: RunHandle[Any]
    watch: Watch
    deadline: float
    resumed: bool  # re-attached to a run named by the checkpoint


class Batch(Generic[R]):
    """The async iterator returned by ``map(...)`` of every primitive.

    Yields one :class:`BatchResult` per input, as runs finish. Raises
    :class:`UsageError` at once for bad arguments or a duplicate input key;
    errors of single inputs are results, never exceptions.

    With a checkpoint, the journal belongs to one batch: its parameters
    (categories, model, options) and the content of each input it has a result
    or a run for. Resuming with other parameters raises :class:`UsageError` when
    the batch is made; with changed inputs, before the first result (the inputs
    are then listed in full first). ``checkpoint_mode="restart"`` starts the
    journal afresh instead. A run named by the journal that the server no longer
    knows (``404``), or that was cancelled before it finished, is started again
    under a new idempotency key. :class:`CheckpointError` is raised, and the
    batch stopped, when the journal cannot be written (a full disk).

    Args:
        start: starts one input's run (see :data:`StartFunction`).
        poller: the client's poller, which watches the runs.
        primitive: the kind of run ``start`` makes.
        documents: the inputs (see :class:`BatchItem` for keys).
        parameters: every create option shared by the inputs, defaults included
            (what makes a rerun the same batch, for the checkpoint).
        input_digest: for inputs that are not single documents: their digest for the
            checkpoint; such inputs go to ``start`` as given. Without it, each input
            is read once as a document, digested, and sent as read.
    """

    def __init__(
        self,
        start: StartFunction[R],
        poller: Poller,
        primitive: Primitive[R],
        documents: Iterable[Any],
        *,
        parameters: Mapping[str, Any],
        concurrency: int = 32,
        on_failure: FailurePolicy = "continue",
        progress: ProgressCallback | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        cancel_on_exit: bool = True,
        checkpoint_mode: CheckpointMode = "resume",
        input_digest: InputDigest | None = None,
    ) -> None:
        if not isinstance(concurrency, int) or concurrency < 1:
            raise UsageError(f"concurrency must be a positive integer, not {concurrency!r}")
        if on_failure not in ("continue", "stop"):
            raise UsageError(f"on_failure must be 'continue' or 'stop', not {on_failure!r}")
        if timeout is not None and timeout <= 0:
            raise UsageError("timeout must be positive seconds per run, or None")
        self.cancel_on_exit = cancel_on_exit
        self._input_digest = input_digest
        self._start_run = start
        self._poller = poller
        self._clock = poller.clock
        self._primitive = primitive
        self._parameters = {"primitive": primitive.name, **parameters}
        self._concurrency = concurrency
        self._on_failure = on_failure
        self._on_progress = progress
        self._timeout = timeout
        self._inputs: Iterator[tuple[str, Any]] = (
            _key_of(index, raw) for index, raw in enumerate(documents)
        )
        self._retry: deque[tuple[str, Any]] = deque()  # inputs whose run was lost
        self._restarted: set[str] = set()
        self._exhausted = False
        self._keys: set[str] = set()
        self._in_flight: dict[str, _Slot] = {}
        self._by_watch: dict[Watch, list[_Slot]] = {}  # inputs can share a run
        self._starting = 0
        self._ready: deque[BatchResult[R]] = deque()
        self._settled: deque[Watch] = deque()
        self._news = anyio.Event()
        self._stop = False
        self._closed = False
        self._journal: Journal | None = None
        if checkpoint is not None:
            params = params_digests(self._parameters)
            self._journal = Journal.open(checkpoint, params=params, mode=checkpoint_mode)
        journal = self._journal
        self._checked = journal is None or not any(s.resumable for s in journal.states.values())
        total = len(documents) if isinstance(documents, Sized) else None
        self.progress = BatchProgress(total=total)

    def __repr__(self) -> str:
        p = self.progress
        return f"<Batch {p.finished}/{p.total or '?'} done, {p.running} running>"

    # -- iteration --------------------------------------------------------------

    def __aiter__(self) -> Batch[R]:
        return self

    async def __anext__(self) -> BatchResult[R]:
        try:
            return await self._next()
        except StopAsyncIteration:
            self._close_journal()
            raise
        except BaseException:
            await self.aclose()
            raise

    async def _next(self) -> BatchResult[R]:
        if not self._checked:
            await self._check_inputs()
        while True:
            if self._ready:
                return self._ready.popleft()
            if self._journal is not None:
                self._journal.check()
            if self._closed or self._drained():
                raise StopAsyncIteration
            starts = self._take_inputs()
            async with anyio.create_task_group() as tg:
                for key, document in starts:
                    tg.start_soon(self._start, key, document)
                await self._wait_for_news()
            self._collect()
            if self._stop and self._in_flight:
                await self._cancel_in_flight(report=True)

    def _drained(self) -> bool:
        nothing_to_start = self._stop or (self._exhausted and not self._retry)
        return nothing_to_start and not self._in_flight and not self._starting

    def _journal_failed(self) -> bool:
        return self._journal is not None and self._journal.failed

    def _halted(self) -> bool:
        return self._stop or self._journal_failed()

    def _take_inputs(self) -> list[tuple[str, Any]]:
        """The inputs to start now, to keep ``concurrency`` runs going."""
        taken: list[tuple[str, Any]] = []
        while not self._halted() and len(self._in_flight) + self._starting < self._concurrency:
            item = self._retry.popleft() if self._retry else self._next_input()
            if item is None:
                break
            self._starting += 1
            taken.append(item)
        return taken

    def _next_input(self) -> tuple[str, Any] | None:
        while not self._exhausted:
            try:
                key, document = next(self._inputs)
            except StopIteration:
                self._exhausted = True
                return None
            if key in self._keys:
                raise UsageError(f"input key {key!r} appears twice in the batch")
            self._keys.add(key)
            if not self._resume_finished(key, document):
                return key, document
        return None

    async def _wait_for_news(self) -> None:
        while not (self._ready or self._settled or self._drained() or self._journal_failed()):
            clock = self._clock
            deadline = min((s.deadline for s in self._in_flight.values()), default=float("inf"))
            with clock.move_on_after(max(0.0, deadline - clock.now())):
                await self._news.wait()
            self._news = anyio.Event()
            self._expire(clock.now())

    def _notify(self, watch: Watch | None = None) -> None:
        if watch is not None:
            if not watch.settled:
                return
            self._settled.append(watch)
        self._news.set()

    # -- starting ---------------------------------------------------------------

    async def _start(self, key: str, document: Any) -> None:
        try:
            handle, resumed = await self._handle_for(key, document)
        except RetabError as exc:
            self._finish(key, document, None, exc, None)
            return
        finally:
            self._starting -= 1
        poller = self._poller
        watch = poller.subscribe(self._primitive, handle.id, handle.record, handle._born)
        deadline = self._clock.now() + self._timeout if self._timeout else float("inf")
        slot = self._in_flight[key] = _Slot(key, document, handle, watch, deadline, resumed)
        sharing = self._by_watch.setdefault(watch, [])
        if not sharing:
            watch.observers.append(self._notify)
        sharing.append(slot)
        self.progress.running += 1
        self._report()
        if watch.settled:
            self._notify(watch)
        else:
            self._news.set()  # a new deadline to wait for

    async def _handle_for(self, key: str, document: Any) -> tuple[RunHandle[Any], bool]:
        """The run of input ``key``: re-attached from the checkpoint, or created."""
        journal = self._journal
        if journal is None:
            handle = await self._start_run(document, None, False)
            self.progress.submitted += 1
            return handle, False
        state = journal.states.get(key)
        if state is not None and state.run_id is not None:
            self.progress.resumed += 1
            handle = RunHandle(
                self._poller.pipeline,
                self._poller,
                self._primitive,
                state.run_id,
                idempotency_key=state.idempotency_key,
                born=_born(state, self._clock.now()),
            )
            return handle, True
        if self._input_digest is not None:
            mime: Any = document
            digest = await self._input_digest(document)
        elif await too_large_to_inline(document):
            mime = document  # the create uploads it; its digest is read streaming
            digest = await document_digest(document)
        else:
            mime = await to_mime_data(document)  # read once: for the digest and the body
            digest = await mime_digest_async(mime)
        handle = await self._create(journal, key, mime, digest)
        if handle.status == "cancelled" and key not in self._restarted:
            # A replayed create: the journal missed that this run was abandoned.
            self._restarted.add(key)
            journal.abandoned(key, handle.id)
            handle = await self._create(journal, key, mime, digest)
        self.progress.submitted += 1
        return handle, False

    async def _create(self, journal: Journal, key: str, mime: Any, digest: str) -> RunHandle[Any]:
        # Cancelled mid-create, a batch that cancels on exit cancels the run too; one
        # that leaves runs going leaves it to a rerun, which replays the same key.
        key_for_create = journal.idempotency_key(key, digest)
        handle = await self._start_run(mime, key_for_create, self.cancel_on_exit)
        journal.started(key, handle.id, handle.idempotency_key, digest)
        return handle

    async def _check_inputs(self) -> None:
        """Compare every input the checkpoint has a result or a run for with the content
        it had then. Lists the inputs in full first. Raises :class:`UsageError` naming
        the inputs that changed (or cannot be read any more)."""
        self._checked = True
        journal = self._journal
        assert journal is not None
        items = list(self._inputs)
        self._inputs = iter(items)
        changed: list[str] = []
        limiter = anyio.CapacityLimiter(_CHECK_CONCURRENCY)
        digest_of = self._input_digest or document_digest

        async def check(key: str, document: Any, expected: str | None) -> None:
            async with limiter:
                try:
                    digest: str | None = await digest_of(document)
                except DocumentError:
                    digest = None
            if digest is None or digest != expected:
                changed.append(key)

        async with anyio.create_task_group() as tg:
            for key, document in items:
                state = journal.states.get(key)
                if state is not None and state.resumable:
                    tg.start_soon(check, key, document, state.digest)
        if changed:
            raise UsageError(_changed_inputs(str(journal.path), sorted(changed)))

    def _resume_finished(self, key: str, document: Any) -> bool:
        journal = self._journal
        state = journal.states.get(key) if journal is not None else None
        if state is None or state.record is None:
            return False
        record = self._primitive.convert(state.record)
        self._finish(key, document, record, outcome_error(record), record.id, from_checkpoint=True)
        return True

    # -- finishing --------------------------------------------------------------

    def _collect(self) -> None:
        poller = self._poller
        while self._settled:
            watch = self._settled.popleft()
            for slot in list(self._by_watch.get(watch, ())):
                self._settle_slot(slot, poller)

    def _settle_slot(self, slot: _Slot, poller: Poller) -> None:
        watch = slot.watch
        del self._in_flight[slot.key]
        self._forget(slot)
        self.progress.running -= 1
        poller.release(watch)
        if slot.resumed and _lost(watch) and slot.key not in self._restarted:
            self._start_again(slot)
        elif watch.error is not None:
            error = watch.error if isinstance(watch.error, RetabError) else None
            self._finish(slot.key, slot.document, None, error or _wrap(watch.error), slot.handle.id)
        else:
            record = watch.final
            slot.handle._take(record, full=True)
            self._finish(slot.key, slot.document, record, outcome_error(record), record.id)

    def _start_again(self, slot: _Slot) -> None:
        """Give up a run named by the checkpoint that the server lost or that was
        cancelled before it finished: the input is created again, with a new key."""
        assert self._journal is not None
        self._restarted.add(slot.key)
        self._journal.abandoned(slot.key, slot.handle.id)
        self.progress.resumed -= 1
        self._retry.append((slot.key, slot.document))
        self._report()

    def _expire(self, now: float) -> None:
        """Give up on runs past their deadline (they keep running on the server)."""
        for slot in [s for s in self._in_flight.values() if s.deadline <= now]:
            del self._in_flight[slot.key]
            self._forget(slot)
            self._poller.release(slot.watch)
            self.progress.running -= 1
            error = WaitTimeout(
                run_id=slot.handle.id,
                status=slot.watch.status or "unknown",
                elapsed=self._timeout or 0.0,
                record=slot.watch.record,
            )
            self._finish(slot.key, slot.document, None, error, slot.handle.id)

    def _finish(
        self,
        key: str,
        document: Any,
        record: Any,
        error: RetabError | None,
        run_id: str | None,
        *,
        from_checkpoint: bool = False,
    ) -> None:
        result: BatchResult[R] = BatchResult(key, document, record, error, run_id, from_checkpoint)
        self._ready.append(result)
        if isinstance(error, RunCancelled):
            self.progress.cancelled += 1
        elif error is not None:
            self.progress.failed += 1
        else:
            self.progress.completed += 1
        if not from_checkpoint:
            self._journal_result(key, record, error, run_id)
        if error is not None and self._on_failure == "stop":
            self._stop = True
        self._report()
        self._notify()

    def _journal_result(self, key: str, record: Any, error: Any, run_id: str | None) -> None:
        if self._journal is None:
            return
        if record is not None and run_id is not None:
            self._journal.finished(key, run_id, record)
        elif error is not None:
            self._journal.error(key, error)

    def _report(self) -> None:
        if self._on_progress is not None:
            self._on_progress(dataclasses.replace(self.progress))

    def _forget(self, slot: _Slot) -> None:
        sharing = self._by_watch.get(slot.watch, [])
        if slot in sharing:
            sharing.remove(slot)
        if not sharing:
            self._by_watch.pop(slot.watch, None)
            if self._notify in slot.watch.observers:
                slot.watch.observers.remove(self._notify)

    # -- leaving early ----------------------------------------------------------

    async def _cancel_in_flight(self, *, report: bool) -> None:
        slots = list(self._in_flight.values())
        self._in_flight.clear()
        poller = self._poller
        for slot in slots:
            self._forget(slot)
            poller.release(slot.watch)
            self.progress.running -= 1
        with self._clock.move_on_after(CANCEL_GRACE, shield=True):
            async with anyio.create_task_group() as tg:
                for slot in slots:
                    tg.start_soon(self._cancel_one, slot, report)

    async def _cancel_one(self, slot: _Slot, report: bool) -> None:
        try:
            record = await slot.handle.cancel()
        except RetabError as exc:
            if report:
                self._finish(slot.key, slot.document, None, exc, slot.handle.id)
            return
        if self._journal is not None and record.status == "cancelled":
            self._journal.abandoned(slot.key, slot.handle.id)
        if report:
            self._finish(slot.key, slot.document, record, outcome_error(record), record.id)
        elif record.status == "cancelled":
            self.progress.cancelled += 1  # no result is yielded any more, but it is counted

    async def aclose(self) -> None:
        """Stop the batch: cancel runs still in flight on the server (unless the batch was
        made with ``cancel_on_exit=False``) and stop watching them. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.cancel_on_exit:
                await self._cancel_in_flight(report=False)
            else:
                for slot in list(self._in_flight.values()):
                    self._forget(slot)
                    self._poller.release(slot.watch)
                self._in_flight.clear()
        finally:
            self._close_journal()

    def _close_journal(self) -> None:
        if self._journal is not None:
            self._journal.close()

    async def __aenter__(self) -> Batch[R]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _key_of(index: int, raw: Any) -> tuple[str, Any]:
    if isinstance(raw, BatchItem):
        return raw.key, raw.document
    if isinstance(raw, (str, PurePath)):
        return str(raw), raw
    if isinstance(raw, MIMEData):
        return raw.url if raw.url.startswith("https://") else raw.filename, raw
    if isinstance(raw, tuple) and len(raw) == 2 and isinstance(raw[0], str):
        return raw[0], raw
    name = getattr(raw, "name", None)
    return (name if isinstance(name, str) else f"#{index}"), raw


def _changed_inputs(path: str, keys: list[str]) -> str:
    shown = ", ".join(repr(key) for key in keys[:10])
    more = f" and {len(keys) - 10} more" if len(keys) > 10 else ""
    return (
        f"checkpoint {path!r} does not match this batch: the content of {len(keys)} input(s) "
        f"changed (or cannot be read) since it was written: {shown}{more}; resuming would "
        f"return results for the old content; {_RESTART_HINT}"
    )


def _born(state: KeyState, now: float) -> float | None:
    """When a run named by the checkpoint was started, on the clock that reads ``now``
    (the journal keeps wall-clock times, which survive the process)."""
    if state.started_at is None:
        return None
    return now - max(0.0, time.time() - state.started_at)


def _lost(watch: Watch) -> bool:
    """Whether a run named by the checkpoint is unknown to the server or was cancelled."""
    if isinstance(watch.error, NotFoundError):
        return True
    return watch.final is not None and watch.final.status == "cancelled"


def _wrap(error: BaseException) -> RetabError:
    wrapped = RetabError(f"waiting failed: {error!r}")
    wrapped.__cause__ = error
    return wrapped
