"""``RunHandle``: a background run you can wait for, cancel, watch, and resume elsewhere.

Waiting goes through the client's one :class:`Poller`; a handle itself holds no
task and no timer, and a wait's deadline is kept by the poller too: thousands of
waits at once cost little memory. A cancel that must reach the server (on
timeout, or when a ``run()`` block is left early) runs in a shielded anyio cancel
scope bounded by ``CANCEL_GRACE`` seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine, Generator
from typing import TYPE_CHECKING, Any, Generic

from .._errors import NotFoundError, RetabError, UsageError, WaitTimeout, outcome_error
from .._status import TERMINAL_STATUSES
from .primitive import Primitive, R
from .tokens import encode_token

if TYPE_CHECKING:
    from .._http.pipeline import Pipeline
    from .poller import Poller

__all__ = ["CANCEL_GRACE", "RunHandle", "RunWatch"]

_log = logging.getLogger("retab_async")

CANCEL_GRACE = 10.0
"""Seconds a clean-up cancel may take before we give up on it (the default of
``cancel_grace``). A clean-up cancel is not held back by a client-wide
``Retry-After`` pause."""


class RunHandle(Generic[R]):
    """A background run of one primitive, generic over its record type.

    Get one from ``client.classifications.start(...)``, ``.handle(id)`` or
    ``client.resume(token)``. ``await handle`` is ``await handle.wait()``.

    Attributes:
        id: the run id.
        primitive: which kind of run this is.
        idempotency_key: the key its create was sent with, when known.
    """

    __slots__ = (
        "_born",
        "_full",
        "_pipeline",
        "_poller",
        "_record",
        "id",
        "idempotency_key",
        "primitive",
    )

    def __init__(
        self,
        pipeline: Pipeline,
        poller: Poller,
        primitive: Primitive[R],
        run_id: str,
        *,
        record: R | None = None,
        full: bool = False,
        idempotency_key: str | None = None,
        born: float | None = None,
    ) -> None:
        primitive.record_path(run_id)  # validates the id before anything is sent
        self._pipeline = pipeline
        self._poller = poller
        self.primitive = primitive
        self.id = run_id
        self.idempotency_key = idempotency_key
        self._record = record
        self._full = full and record is not None
        self._born = pipeline.clock.now() if born is None else born

    def __repr__(self) -> str:
        return f"<RunHandle {self.primitive.name} {self.id} {self.status}>"

    @property
    def status(self) -> str:
        """The last status seen (``"unknown"`` before any record was seen)."""
        return self._record.status if self._record is not None else "unknown"

    @property
    def record(self) -> R | None:
        """The last record seen, if any."""
        return self._record

    @property
    def done(self) -> bool:
        """Whether the last status seen is terminal."""
        return self.status in TERMINAL_STATUSES

    @property
    def token(self) -> str:
        """A JSON-safe string to resume this run with ``client.resume(token)``; no secret in it."""
        return encode_token(self.primitive, self.id, self._pipeline.base_url, self.idempotency_key)

    def _take(self, record: R, *, full: bool) -> R:
        self._record = record
        self._full = full
        return record

    async def refresh(self) -> R:
        """Fetch the record now (with its output) and return it.

        Raises what the request raises (:class:`NotFoundError`, transport errors...).
        """
        record = await self._pipeline.request(
            "GET",
            self.primitive.fetch_path(self.id, output=True),
            self.primitive.decode,
            expect_id=self.id,
        )
        self._poller.report(self.primitive, record, full=True)
        return self._take(record, full=True)

    def settle(
        self,
        timeout: float | None = None,
        *,
        cancel_on_timeout: bool = False,
        cancel_grace: float = CANCEL_GRACE,
    ) -> Coroutine[Any, Any, R]:
        """Wait until the run is terminal and return its final record, whatever the status.

        ``await handle.settle()``. With ``cancel_on_timeout``, a timed-out wait then
        cancels the run on the server, for at most ``cancel_grace`` more seconds: it
        may take up to ``timeout + cancel_grace`` in all.

        Raises:
            WaitTimeout: ``timeout`` seconds passed first (after cancelling the run
                on the server when ``cancel_on_timeout``).
            UsageError: ``timeout`` is negative.
            APIStatusError: polling hit an error that will not go away (401, 403,
                a persistent 404...).
        """
        return self._finish(timeout, cancel_on_timeout, cancel_grace, outcome=False)

    def wait(
        self,
        timeout: float | None = None,
        *,
        cancel_on_timeout: bool = False,
        cancel_grace: float = CANCEL_GRACE,
    ) -> Coroutine[Any, Any, R]:
        """Wait for the run to complete and return its record, with its output.

        ``await handle.wait()``. With ``cancel_on_timeout``, a timed-out wait then
        cancels the run on the server, for at most ``cancel_grace`` more seconds: it
        may take up to ``timeout + cancel_grace`` in all.

        Raises:
            RunFailed: the run ended ``failed``; ``.error`` is the server's error.
            RunCancelled: the run ended ``cancelled``.
            WaitTimeout: ``timeout`` seconds passed first.
            UsageError: ``timeout`` is negative.
            APIStatusError: polling hit an error that will not go away.
        """
        return self._finish(timeout, cancel_on_timeout, cancel_grace, outcome=True)

    async def _finish(
        self, timeout: float | None, cancel_on_timeout: bool, cancel_grace: float, *, outcome: bool
    ) -> R:
        """``settle()``, and with ``outcome`` ``wait()``: one coroutine, as thousands may
        wait at once. The deadline is the poller's (see :meth:`Poller.waiter`), not a
        cancel scope; a cancellation from outside leaves the run going."""
        if timeout is not None and (timeout < 0 or timeout != timeout):
            raise UsageError(f"timeout must be >= 0 seconds or None, not {timeout!r}")
        if not cancel_grace >= 0:
            raise UsageError(f"cancel_grace must be >= 0 seconds, not {cancel_grace!r}")
        if not (self.done and self._full):
            await self._pipeline.ensure_open()  # a clear error for a closed client or another loop
            clock = self._pipeline.clock
            started = clock.now()
            deadline = None if timeout is None else started + timeout
            poller = self._poller
            watch = poller.subscribe(self.primitive, self.id, self._record, self._born)
            waiter = None
            try:
                if not watch.settled and (deadline is None or clock.now() < deadline):
                    waiter = poller.waiter(watch, deadline)
                    await waiter
            finally:
                poller.release(watch, waiter)
            if watch.final is not None:
                self._take(watch.final, full=True)
            elif watch.error is not None:
                raise watch.error
            else:
                if watch.record is not None:
                    self._record = watch.record
                grace = cancel_grace if cancel_on_timeout else None
                raise await self._timeout_error(clock.now() - started, grace)
        record: R = self._record  # type: ignore[assignment]
        if outcome:
            error = outcome_error(record)
            if error is not None:
                raise error
        return record

    async def _timeout_error(self, elapsed: float, cancel_grace: float | None) -> WaitTimeout:
        """The :class:`WaitTimeout` to raise, after cancelling the run if given a grace."""
        status = self.status  # at the deadline: the cancel below changes it
        cancelled = False if cancel_grace is None else await self._cancel_quietly(cancel_grace)
        return WaitTimeout(
            run_id=self.id,
            status=status,
            elapsed=elapsed,
            cancelled=cancelled,
            record=self._record,
        )

    def __await__(self) -> Generator[Any, None, R]:
        return self.wait().__await__()

    async def cancel(self, *, wait: bool = False) -> R:
        """Cancel the run on the server and return its record.

        Idempotent: on a run known to be terminal nothing is sent and the record is
        returned unchanged; the server, too, returns a terminal run unchanged, so a
        cancel that loses the race with completion gives the true final state.
        With ``wait=True``, returns only once the run is terminal.

        Raises what the request raises; a ``404`` just after the create is retried.
        """
        if self.done:
            return self._record  # type: ignore[return-value]
        record = await self._send_cancel()
        terminal = record.status in TERMINAL_STATUSES
        self._poller.report(self.primitive, record, full=True)
        self._take(record, full=True)
        if wait and not terminal:
            return await self.settle()
        return record

    async def _send_cancel(self) -> R:
        path = self.primitive.cancel_path(self.id)
        clock = self._pipeline.clock
        not_found = 0
        while True:
            try:
                return await self._pipeline.request(
                    "POST", path, self.primitive.decode, expect_id=self.id, bypass_pause=True
                )
            except NotFoundError:
                not_found += 1
                age = clock.now() - self._born
                delay = self._poller.policy.not_found_retry(age, not_found)
                if delay is None:
                    raise
                await clock.sleep(delay)  # read-after-write lag (D10)

    async def _cancel_quietly(self, grace: float = CANCEL_GRACE) -> bool:
        """Cancel on the server during cleanup: shielded, bounded by ``grace`` seconds,
        past any client-wide pause, never raising."""
        with self._pipeline.clock.move_on_after(grace, shield=True):
            try:
                record = await self.cancel()
            except RetabError as exc:
                _log.warning("could not cancel run %s: %s", self.id, exc)
                return False
            return record.status == "cancelled"
        _log.warning("cancelling run %s took longer than %ss; gave up", self.id, grace)
        return False

    def watch(self) -> RunWatch[R]:
        """Iterate over the run's records, one per status change, ending at the terminal one.

        ``async for record in handle.watch(): ...``. Polling happens only while
        the loop waits for the next change, so leaving the loop early leaves
        nothing running.
        """
        return RunWatch(self)


class RunWatch(Generic[R]):
    """The iterator of :meth:`RunHandle.watch`."""

    def __init__(self, handle: RunHandle[R]) -> None:
        self._handle = handle
        self._last: str | None = None
        self._finished = False

    def __aiter__(self) -> RunWatch[R]:
        return self

    async def __anext__(self) -> R:
        handle = self._handle
        if self._finished:
            raise StopAsyncIteration
        record = handle.record if handle.done else None
        if record is None:
            record = await self._next_change()
        self._last = record.status
        self._finished = record.status in TERMINAL_STATUSES
        return record

    async def _next_change(self) -> R:
        handle = self._handle
        if self._last is None and handle.record is not None:
            return handle.record
        poller = handle._poller
        watch = poller.subscribe(handle.primitive, handle.id, handle.record, handle._born)
        try:
            while True:
                if watch.final is not None:
                    return handle._take(watch.final, full=True)
                if watch.error is not None:
                    raise watch.error
                if watch.record is not None and watch.status != self._last:
                    return handle._take(watch.record, full=False)
                await watch.changed(watch.version)
        finally:
            poller.release(watch)
