"""Waiting for many runs at once: :func:`as_completed` and :func:`wait_all`.

Both observe the runs through their client's one :class:`Poller`, exactly as
``RunHandle.wait()`` does, and start no task, timer or sleep of their own: each
handle's run is subscribed once, a callback on its watch queues it when waiting
on it is over (a final record, or a polling error that will not go away), and
the caller's task sleeps on one event until something is queued or the overall
deadline passes. Handles of the same run share one watch.

Costs: subscribing ``n`` handles is O(n); each run that finishes costs O(1) here;
the requests are the poller's (per-run ``GET``s, or list rounds when many runs of
one primitive are waited on). Every watch is released as its run is reported,
and all that are left when the caller stops (the end, an error, a timeout, a
cancellation, or ``aclose()`` of the iterator after a ``break``), so runs nobody
waits for any more are not polled.

Runs still going when the caller stops keep running on the server: their
handles hold the last record seen, and ``handle.cancel()`` cancels them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, overload

import anyio

from .._errors import RetabError, UsageError, WaitTimeout, outcome_error
from .handle import RunHandle
from .primitive import R

if TYPE_CHECKING:
    from .._clock import Clock
    from .poller import Watch

__all__ = ["as_completed", "wait_all"]


def as_completed(
    handles: Iterable[RunHandle[R]], *, timeout: float | None = None
) -> AsyncGenerator[RunHandle[R], None]:
    """Yield each handle once waiting on its run is over, in the order they finish.

    ::

        async with contextlib.aclosing(as_completed(handles, timeout=600)) as finished:
            async for handle in finished:
                try:
                    record = await handle  # no request: the record is already here
                except RunFailed as exc:
                    ...

    A yielded handle is ``done``: ``await handle`` returns its completed record or
    raises :class:`RunFailed` / :class:`RunCancelled`, without a request. A run whose
    polling failed for good (``401``, a run deleted meanwhile, the client closed) is
    yielded too, not ``done``: ``await handle`` raises that error (after at most one
    more request). Handles already done are yielded first, without a request.

    ``timeout`` (seconds, on the client's clock) bounds the whole iteration,
    including the time spent in the loop's body. Leaving the loop early, use
    ``contextlib.aclosing`` (or call ``aclose()``) so that the runs left stop
    being polled at once rather than when the iterator is collected.

    Raises:
        UsageError: at once, for something that is not a :class:`RunHandle` or a
            negative ``timeout``.
        WaitTimeout: from the iterator, when ``timeout`` passes first; it names the
            first run (in input order) still going.
        ClientStateError: a handle's client is closed or belongs to another event loop.
    """
    items = _checked(handles, timeout)
    return _as_completed(items, timeout)


async def _as_completed(
    handles: Sequence[RunHandle[R]], timeout: float | None
) -> AsyncGenerator[RunHandle[R], None]:
    waiter = _Waiter(handles, timeout)
    try:
        await waiter.start()
        while (position := await waiter.next()) is not None:
            yield handles[position]
    finally:
        waiter.close()


@overload
async def wait_all(
    handles: Iterable[RunHandle[R]],
    *,
    timeout: float | None = None,
    return_exceptions: Literal[False] = False,
) -> list[R]: ...


@overload
async def wait_all(
    handles: Iterable[RunHandle[R]],
    *,
    timeout: float | None = None,
    return_exceptions: Literal[True],
) -> list[R | RetabError]: ...


@overload
async def wait_all(
    handles: Iterable[RunHandle[R]],
    *,
    timeout: float | None = None,
    return_exceptions: bool,
) -> list[R] | list[R | RetabError]: ...


async def wait_all(
    handles: Iterable[RunHandle[R]],
    *,
    timeout: float | None = None,
    return_exceptions: bool = False,
) -> list[R] | list[R | RetabError]:
    """Wait for every run and return their records in the order of ``handles``.

    Like ``asyncio.gather``: by default the first run that does not complete ends
    the wait with its error, at once; the other runs keep going on the server and
    their handles keep the last record seen. With ``return_exceptions=True``
    nothing about a run is raised: its place in the list holds its error instead
    (:class:`RunFailed` and :class:`RunCancelled` carry the run's ``record``; a
    :class:`WaitTimeout` per run still going when ``timeout`` passed; a polling
    error that will not go away), so every record that could be had is returned.

    ``timeout`` (seconds, on the client's clock) bounds the whole wait. Handles of
    the same run are waited on once; handles already done cost no request.

    Raises:
        RunFailed, RunCancelled: a run ended so (without ``return_exceptions``).
        WaitTimeout: ``timeout`` passed first (without ``return_exceptions``); it
            names the first run (in input order) still going.
        APIStatusError: polling hit an error that will not go away (without
            ``return_exceptions``).
        UsageError: something that is not a :class:`RunHandle`, or a negative ``timeout``.
        ClientStateError: a handle's client is closed or belongs to another event loop.
    """
    items = _checked(handles, timeout)
    results: list[Any] = [None] * len(items)
    waiter = _Waiter(items, timeout)
    try:
        await waiter.start()
        while True:
            try:
                position = await waiter.next()
            except WaitTimeout:
                if not return_exceptions:
                    raise
                for late in waiter.pending():
                    results[late] = waiter.timeout_error(late)
                return results
            if position is None:
                return results
            results[position] = _result(waiter, position, raise_it=not return_exceptions)
    finally:
        waiter.close()


def _result(waiter: _Waiter[R], position: int, *, raise_it: bool) -> R | RetabError:
    handle = waiter.handles[position]
    error = waiter.errors.get(position)
    if error is None:
        record: R = handle.record  # type: ignore[assignment]
        error = outcome_error(record)
        if error is None:
            return record
    if raise_it or not isinstance(error, RetabError):
        raise error
    return error


def _checked(handles: Iterable[RunHandle[R]], timeout: float | None) -> list[RunHandle[R]]:
    """``handles`` as a list, checked. Raises :class:`UsageError`."""
    if timeout is not None and not timeout >= 0:
        raise UsageError(f"timeout must be >= 0 seconds or None, not {timeout!r}")
    items = list(handles)
    for position, handle in enumerate(items):
        if not isinstance(handle, RunHandle):
            raise UsageError(
                f"expected RunHandles (from start(), handle() or resume()); item {position} "
                f"is a {type(handle).__name__}"
            )
    return items


class _Waiter(Generic[R]):
    """Many handles watched through their pollers; hands out input positions as their
    runs are over. See the module docstring."""

    def __init__(self, handles: Sequence[RunHandle[R]], timeout: float | None) -> None:
        self.handles = handles
        self.errors: dict[int, BaseException] = {}
        self._clock: Clock | None = handles[0]._pipeline.clock if handles else None
        self._timeout = timeout
        self._started = 0.0
        self._deadline = float("inf")
        self._watch_of: dict[int, Watch] = {}
        self._positions: dict[Watch, list[int]] = {}
        self._settled: deque[Watch] = deque()
        self._ready: deque[int] = deque()
        self._news = anyio.Event()

    async def start(self) -> None:
        """Subscribe every handle not done yet; queue those that are."""
        if self._clock is not None:
            self._started = self._clock.now()
            if self._timeout is not None:
                self._deadline = self._started + self._timeout
        pipelines = {id(h._pipeline): h._pipeline for h in self.handles}
        for pipeline in pipelines.values():
            await pipeline.ensure_open()
        for position, handle in enumerate(self.handles):
            if handle.done and handle._full:
                self._ready.append(position)
                continue
            poller = handle._poller
            watch = self._watch_of[position] = poller.subscribe(
                handle.primitive, handle.id, handle.record, handle._born
            )
            sharing = self._positions.setdefault(watch, [])
            if not sharing:
                watch.observers.append(self._observe)
                if watch.settled:
                    self._settled.append(watch)
            sharing.append(position)

    def _observe(self, watch: Watch) -> None:
        if watch.settled:
            self._settled.append(watch)
            self._news.set()

    async def next(self) -> int | None:
        """The position of the next handle whose run is over; ``None`` when none is left.

        Raises :class:`WaitTimeout` (for the first position still going) at the deadline.
        """
        while not self._ready:
            if self._settled:
                self._collect(self._settled.popleft())
                continue
            if not self._positions:
                return None
            news = self._news = anyio.Event()
            clock = self._clock
            assert clock is not None  # there are handles
            left = None if self._timeout is None else max(0.0, self._deadline - clock.now())
            with clock.move_on_after(left):
                await news.wait()
            if not news.is_set():
                raise self.timeout_error(min(self.pending()))
        return self._ready.popleft()

    def _collect(self, watch: Watch) -> None:
        positions = self._positions.pop(watch, None)
        if positions is None:
            return  # queued twice (an observer call and the check at subscription)
        watch.observers.remove(self._observe)
        for position in positions:
            handle = self.handles[position]
            handle._poller.release(self._watch_of.pop(position))
            if watch.final is not None:
                handle._take(watch.final, full=True)
            elif watch.error is not None:
                self.errors[position] = watch.error
            self._ready.append(position)

    def pending(self) -> list[int]:
        """Positions whose runs are still going, in input order."""
        return sorted(p for positions in self._positions.values() for p in positions)

    def timeout_error(self, position: int) -> WaitTimeout:
        """The :class:`WaitTimeout` of the run at ``position``, as waited so far."""
        handle = self.handles[position]
        _take_latest(handle, self._watch_of.get(position))
        assert self._clock is not None
        return WaitTimeout(
            run_id=handle.id,
            status=handle.status,
            elapsed=self._clock.now() - self._started,
            record=handle.record,
        )

    def close(self) -> None:
        """Stop watching: release every subscription and callback, leaving each handle
        the latest record seen. Idempotent."""
        for watch in self._positions:
            if self._observe in watch.observers:
                watch.observers.remove(self._observe)
        self._positions.clear()
        subscribed, self._watch_of = self._watch_of, {}
        for position, watch in subscribed.items():
            handle = self.handles[position]
            if not handle.done:
                _take_latest(handle, watch)
            handle._poller.release(watch)


def _take_latest(handle: RunHandle[Any], watch: Watch | None) -> None:
    """Give ``handle`` the latest record ``watch`` has seen."""
    if watch is None:
        return
    if watch.final is not None:
        handle._take(watch.final, full=True)
    elif watch.record is not None and watch.record is not handle.record:
        handle._take(watch.record, full=False)
