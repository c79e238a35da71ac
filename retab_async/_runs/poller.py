"""One poller per client: every waiting :class:`RunHandle` is observed by it.

No handle has a task or a sleep of its own. Handles *subscribe* a watch while
they wait and release it when they stop; the poller runs while any watch is
subscribed and ends when the last one goes. Its requests run in one anyio task
group, under a cap on requests in flight and on requests per second; a ``429``
pauses every request of the client (see the transport).

Two ways to observe runs, picked per primitive and re-evaluated as runs come
and go (``PollPolicy.strategy="auto"``):

* **get**: one ``GET ?include_output=false`` per run, spaced by an interval that
  grows with the run's age (``growth`` x age, between ``min_interval`` and
  ``max_interval``), so short runs are seen early and long runs cost little.
* **list**: when many runs of one primitive are waited on, one round pages
  through the in-flight statuses (``status=pending|queued|in_progress``, 100 per
  page) every ``list_interval``; a watched run missing from them has ended.
  When several ended at once their records (output included) are read from the
  ``completed`` list, newest first, within a page budget that keeps it cheaper
  than fetching them; the rest are fetched once each, in full.

Polls ask for ``include_output=false``; a completed run's output is read once,
at the end (D9). Failed and cancelled runs need no second request.

Every decision by elapsed time (a run's age, when the next poll or list round is
due, the ``404`` grace, the rate limiter) reads the client's :class:`Clock`, so a
test on a ``ManualClock`` decides what time it is, not the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from .._errors import (
    APIStatusError,
    ClientStateError,
    DecodeError,
    NotFoundError,
    PauseTimeout,
    RetabError,
)
from .._http.retry import RetryPolicy, is_transient
from .._status import ACTIVE_STATUSES, TERMINAL_STATUSES
from .polling import PollPolicy, PollStats, RateLimiter
from .primitive import Primitive, Scan

if TYPE_CHECKING:
    from .._http.pipeline import Pipeline

__all__ = ["Poller", "Watch"]

_log = logging.getLogger("retab_async.poller")
_ONCE = RetryPolicy.never()
_MAX_PAGES = 10_000
_COMPLETED_LIST_MIN = 8


class Watch:
    """What the poller knows about one run, shared by every handle waiting on it."""

    __slots__ = (
        "_changed",
        "born",
        "busy",
        "error",
        "final",
        "next_due",
        "next_verify",
        "not_found",
        "observers",
        "primitive",
        "record",
        "refs",
        "run_id",
        "since",
        "status",
        "version",
    )

    def __init__(
        self, primitive: Primitive[Any], run_id: str, record: Any, born: float, since: float
    ) -> None:
        self.primitive = primitive
        self.run_id = run_id
        self.record = record
        self.status: str = record.status if record is not None else ""
        self.final: Any = None
        self.error: BaseException | None = None
        self.refs = 0
        self.version = 0
        self.born = born
        self.since = since
        self.next_due = 0.0
        self.next_verify = 0.0
        self.not_found = 0
        self.busy = False
        self.observers: list[Callable[[Watch], None]] = []
        self._changed: anyio.Event | None = None  # made when someone waits

    @property
    def settled(self) -> bool:
        """Whether waiting is over: a final record or a fatal error."""
        return self.final is not None or self.error is not None

    def update(self, record: Any) -> None:
        """Take a newer (non-final) record; wake waiters when the status changed."""
        self.record = record
        if record.status != self.status:
            self.status = record.status
            self._notify()

    def settle(self, record: Any) -> None:
        """Take the final record of the run."""
        self.record = self.final = record
        self.status = record.status
        self._notify()

    def fail(self, error: BaseException) -> None:
        """End waiting with ``error``."""
        self.error = error
        self._notify()

    def _notify(self) -> None:
        self.version += 1
        event, self._changed = self._changed, None
        if event is not None:
            event.set()
        for observer in self.observers:
            observer(self)

    async def changed(self, version: int) -> None:
        """Return once ``version`` is out of date."""
        while self.version == version:
            if self._changed is None:
                self._changed = anyio.Event()
            await self._changed.wait()


class Poller:
    """The client's scheduler for every waiting handle. See the module docstring."""

    def __init__(self, pipeline: Pipeline, policy: PollPolicy) -> None:
        self.pipeline = pipeline
        clock = pipeline.clock
        self.policy = policy
        self.clock = clock
        self.stats = PollStats()
        self._groups: dict[str, dict[str, Watch]] = {}
        self._heap: list[tuple[float, int, Watch]] = []
        self._counter = itertools.count()
        self._list_mode: dict[str, bool] = {}
        self._list_due: dict[str, float] = {}
        self._listing: set[str] = set()
        self._decided: dict[str, float] = {}
        self._active_seen: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake: anyio.Event | None = None
        self._sleep_until = math.inf
        self._slots: anyio.Semaphore | None = None
        self._limiter = RateLimiter(policy.max_rate, burst=policy.max_in_flight, clock=clock)
        self._children = 0
        self._sleep_scope: anyio.CancelScope | None = None
        self._closed = False

    def __repr__(self) -> str:
        watched = sum(len(group) for group in self._groups.values())
        return f"<Poller watching {watched} runs, {self.stats.requests} requests sent>"

    @property
    def watching(self) -> int:
        """How many runs are being watched now."""
        return sum(len(group) for group in self._groups.values())

    @property
    def idle(self) -> bool:
        """Whether the poller has nothing to do until time moves on: no request in flight,
        and its next wake-up is still ahead (or nothing is watched).

        A test that drives a :class:`ManualClock` waits for this before it advances
        the clock, so that each moment's requests are all answered first.
        """
        if self._task is None:
            return True
        scope, wake = self._sleep_scope, self._wake
        return (
            self._children == self._limiter.waiting  # each child left waits for time to pass
            and scope is not None
            and not scope.cancel_called
            and wake is not None
            and not wake.is_set()
        )

    # -- subscriptions ----------------------------------------------------------

    def subscribe(self, primitive: Primitive[Any], run_id: str, record: Any, born: float) -> Watch:
        """Start (or join) watching a run; pair with :meth:`release`."""
        if self._closed:
            raise ClientStateError("the client is closed; make a new RetabClient")
        group = self._groups.setdefault(primitive.name, {})
        watch = group.get(run_id)
        if watch is None:
            now = self.clock.now()
            watch = group[run_id] = Watch(primitive, run_id, record, born, now)
            self._schedule(watch, self.policy.interval(now - born) if record else 0.0)
        elif record is not None and watch.record is None:
            watch.update(record)
        watch.refs += 1
        self._ensure_running()
        return watch

    def release(self, watch: Watch) -> None:
        """Stop watching for one subscriber; the run is dropped with its last one."""
        watch.refs -= 1
        group = self._groups.get(watch.primitive.name)
        if watch.refs <= 0 and group is not None and group.get(watch.run_id) is watch:
            del group[watch.run_id]

    def report(self, primitive: Primitive[Any], record: Any, *, full: bool) -> None:
        """Share a record a handle fetched itself (refresh, cancel) with its waiters."""
        watch = self._groups.get(primitive.name, {}).get(record.id)
        if watch is None or watch.settled:
            return
        if full and record.status in TERMINAL_STATUSES:
            watch.settle(record)
        else:
            watch.update(record)
            if record.status in TERMINAL_STATUSES:
                self._schedule(watch, 0.0)

    async def wait(self, watch: Watch) -> Any:
        """The final record of ``watch``'s run; raises the fatal error if polling ended with one."""
        while True:
            if watch.final is not None:
                return watch.final
            if watch.error is not None:
                raise watch.error
            await watch.changed(watch.version)

    async def aclose(self) -> None:
        """Stop polling; waiters still subscribed get :class:`ClientStateError`."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})  # unlike ``await task``, does not raise its cancellation
        error = ClientStateError("the client was closed while waiting for the run")
        watches = list(self._all_watches())
        # Forget every run, also those whose subscribers never release them (a batch
        # left by ``break`` and never closed): a closed client watches nothing.
        self._groups.clear()
        self._heap.clear()
        for watch in watches:
            if not watch.settled:
                watch.fail(error)

    # -- the loop ---------------------------------------------------------------

    def _all_watches(self) -> Iterable[Watch]:
        for group in list(self._groups.values()):
            yield from list(group.values())

    def _schedule(self, watch: Watch, delay: float) -> None:
        due = self.clock.now() + delay
        watch.next_due = due
        heapq.heappush(self._heap, (due, next(self._counter), watch))
        if due < self._sleep_until and self._wake is not None:
            self._wake.set()

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="retab-poller")
        elif self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        self._slots = self._slots or anyio.Semaphore(self.policy.max_in_flight)
        try:
            async with anyio.create_task_group() as tg:
                while self.watching:
                    self._wake = anyio.Event()
                    self._dispatch(tg)
                    self._sleep_until = self._next_wakeup()
                    delay = max(0.0, self._sleep_until - self.clock.now())
                    with self.clock.move_on_after(delay) as self._sleep_scope:
                        await self._wake.wait()
                    self._sleep_scope = None
                    self._sleep_until = math.inf
        except Exception as exc:  # a bug here must reach the waiters, not vanish
            _log.exception("poller stopped")
            for watch in self._all_watches():
                if not watch.settled:
                    watch.fail(exc)
        finally:
            self._wake = None
            if self._task is asyncio.current_task():
                self._task = None

    def _spawn(
        self, tg: anyio.abc.TaskGroup, func: Callable[..., Awaitable[None]], *args: Any
    ) -> None:
        self._children += 1  # counted now, so that ``idle`` is false before the task starts
        tg.start_soon(self._child, func, *args)

    async def _child(self, func: Callable[..., Awaitable[None]], *args: Any) -> None:
        try:
            await func(*args)
        finally:
            self._children -= 1

    def _next_wakeup(self) -> float:
        heap = self._heap
        while heap and (heap[0][2].next_due != heap[0][0] or self._dropped(heap[0][2])):
            heapq.heappop(heap)
        nxt = heap[0][0] if heap else math.inf
        for name, due in self._list_due.items():
            if self._list_mode.get(name) and name not in self._listing:
                nxt = min(nxt, due)
        return nxt

    def _dropped(self, watch: Watch) -> bool:
        group = self._groups.get(watch.primitive.name)
        return group is None or group.get(watch.run_id) is not watch or watch.settled

    def _dispatch(self, tg: anyio.abc.TaskGroup) -> None:
        now = self.clock.now()
        for name, group in self._groups.items():
            self._decide(name, group, now)
            list_due = self._list_due.get(name, 0.0) <= now
            if self._list_mode.get(name) and name not in self._listing and list_due and group:
                self._listing.add(name)
                self._spawn(tg, self._list_round, next(iter(group.values())).primitive, tg)
        heap = self._heap
        while heap and heap[0][0] <= now + 0.002:
            due, _, watch = heapq.heappop(heap)
            if due != watch.next_due or self._dropped(watch) or watch.busy:
                continue
            if self._list_mode.get(watch.primitive.name) and watch.status not in TERMINAL_STATUSES:
                continue  # list rounds observe it now
            watch.busy = True
            self._spawn(tg, self._poll, watch)

    def _decide(self, name: str, group: dict[str, Watch], now: float) -> None:
        if now - self._decided.get(name, -math.inf) < self.policy.list_interval:
            return
        self._decided[name] = now
        use_list = self._list_is_cheaper(group, now)
        was = self._list_mode.get(name, False)
        if use_list != was:
            self._list_mode[name] = use_list
            self.stats.strategy[name] = "list" if use_list else "get"
            _log.debug("polling %s with %s", name, "list rounds" if use_list else "gets")
            if use_list:
                self._list_due[name] = now
            else:
                for watch in group.values():
                    self._schedule(watch, self.policy.interval(now - watch.born))

    def _list_is_cheaper(self, group: dict[str, Watch], now: float) -> bool:
        strategy = self.policy.strategy
        if not group:
            return False
        primitive = next(iter(group.values())).primitive
        if strategy == "get" or not primitive.list_status_filter:
            return False
        if strategy == "list":
            return True
        if len(group) < self.policy.list_min_runs:
            return False
        active = max(self._active_seen.get(primitive.name, 0), len(group))
        list_cost = len(ACTIVE_STATUSES) + math.ceil(active / 100)
        per_round = sum(
            self.policy.list_interval / self.policy.base_interval(now - w.born)
            for w in group.values()
        )
        return list_cost < 0.5 * per_round

    # -- one run at a time ------------------------------------------------------

    async def _request(self, watch: Watch, *, full: bool) -> Any:
        assert self._slots is not None
        async with self._slots:
            await self._limiter.acquire()
            primitive = watch.primitive
            if full:
                self.stats.final_fetches += 1
            else:
                self.stats.gets += 1
            return await self.pipeline.request(
                "GET",
                primitive.record_path(watch.run_id),
                primitive.decode,
                params={"include_output": "true" if full else "false"},
                timeout=self.policy.request_timeout,
                retry=_ONCE,
                expect_id=watch.run_id,
            )

    async def _poll(self, watch: Watch, full: bool = False) -> None:
        """Poll one run (in full when asked, or once it is known terminal); a light poll
        that finds it completed fetches it once more, with its output."""
        try:
            full = full or watch.status in TERMINAL_STATUSES
            record = await self._request(watch, full=full)
            watch.not_found = 0
            if not full and record.status == "completed":
                record = await self._request(watch, full=True)
            if record.status in TERMINAL_STATUSES:
                watch.settle(record)
                return
            watch.update(record)
            self._schedule(watch, self.policy.interval(self.clock.now() - watch.born))
        except RetabError as exc:
            self._on_error(watch, exc)
        finally:
            watch.busy = False

    def _on_error(self, watch: Watch, exc: RetabError) -> None:
        now = self.clock.now()
        age = now - watch.born
        if isinstance(exc, NotFoundError):
            watch.not_found += 1
            delay = self.policy.not_found_retry(age, watch.not_found)
            if delay is None:
                watch.fail(exc)
            else:
                self._schedule(watch, delay)
            return
        if is_transient(exc):
            self.stats.transient_errors += 1
            delay = self.policy.interval(age)
            if isinstance(exc, (APIStatusError, PauseTimeout)) and exc.retry_after:
                delay = max(delay, self.pipeline.retry.retry_after_delay(exc.retry_after))
            self._schedule(watch, delay)
            return
        watch.fail(exc)  # 401, 403, other 4xx, a body of the wrong shape: polling will not help

    # -- many runs at once ------------------------------------------------------

    async def _list_round(self, primitive: Primitive[Any], tg: anyio.abc.TaskGroup) -> None:
        """Observe every watched run of ``primitive`` through its in-flight lists."""
        name = primitive.name
        started = self.clock.now()
        try:
            present, total = await self._list_active(primitive)
        except RetabError as exc:
            self._list_failed(name, exc)
            return
        finally:
            self._listing.discard(name)
            self._list_due[name] = self.clock.now() + self.policy.list_interval
            if self._wake is not None:
                self._wake.set()
        self.stats.list_rounds += 1
        self._active_seen[name] = total
        now = self.clock.now()
        gone: list[Watch] = []
        for watch in list(self._groups.get(name, {}).values()):
            if watch.settled or watch.busy:
                continue
            if watch.run_id in present:
                watch.not_found = 0
            elif watch.since < started and watch.next_verify <= now:
                # Gone from every in-flight list: it ended (or is not listed yet).
                watch.busy = True
                watch.next_verify = now + self.policy.interval(now - watch.born)
                gone.append(watch)
        if len(gone) >= _COMPLETED_LIST_MIN:
            try:
                gone = await self._settle_from_completed(primitive, gone)
            except RetabError as exc:  # refused outright (401, 403...): everyone must know
                self._list_failed(name, exc)
                return
        for watch in gone:
            self._spawn(tg, self._poll, watch, True)

    async def _settle_from_completed(
        self, primitive: Primitive[Any], gone: list[Watch]
    ) -> list[Watch]:
        """Settle runs that left the in-flight lists from the ``completed`` list, whose rows
        carry the output, instead of fetching each; returns the runs still to fetch.

        Pages newest first, at most one page per four runs, so it never costs more
        than fetching them one by one would.
        """
        wanted = {watch.run_id: watch for watch in gone}
        budget = max(1, len(gone) // 4)
        after: str | None = None
        try:
            for _ in range(budget):
                scan = await self._page(primitive, "completed", "desc", after)
                for run_id, _, raw in scan.rows:
                    watch = wanted.get(run_id)
                    if watch is None:
                        continue
                    with contextlib.suppress(DecodeError):
                        row = primitive.decode_row(raw)
                        if primitive.has_result(row):
                            del wanted[run_id]
                            watch.busy = False
                            watch.not_found = 0
                            watch.settle(row)
                            self.stats.results_from_lists += 1
                after = scan.next_cursor
                if not wanted or not after:
                    break
        except RetabError as exc:
            if not is_transient(exc):
                raise
            self.stats.transient_errors += 1
        return list(wanted.values())

    async def _list_active(self, primitive: Primitive[Any]) -> tuple[set[str], int]:
        """Page through the in-flight statuses; update watched runs whose status changed.

        Returns the ids of watched runs seen, and how many runs are in flight in all.
        """
        watched = self._groups.get(primitive.name, {})
        present: set[str] = set()
        total = 0
        for status in ACTIVE_STATUSES:
            after: str | None = None
            for _ in range(_MAX_PAGES):
                scan = await self._page(primitive, status, "asc", after)
                total += len(scan.rows)
                for run_id, row_status, raw in scan.rows:
                    watch = watched.get(run_id)
                    if watch is None or watch.settled:
                        continue
                    present.add(run_id)
                    if row_status != watch.status:
                        # Only a change is decoded in full (and kept): most rows are not.
                        with contextlib.suppress(DecodeError):
                            watch.update(primitive.decode_row(raw))
                after = scan.next_cursor
                if not after:
                    break
        return present, total

    async def _page(
        self, primitive: Primitive[Any], status: str, order: str, after: str | None
    ) -> Scan:
        """One page (100 rows) of ``primitive``'s runs in ``status``, scanned."""
        assert self._slots is not None
        params = {"status": status, "limit": "100", "order": order}
        if after:
            params["after"] = after
        async with self._slots:
            await self._limiter.acquire()
            self.stats.list_pages += 1
            scan: Scan = await self.pipeline.request(
                "GET",
                primitive.path,
                primitive.scan_page,
                params=params,
                timeout=self.policy.request_timeout,
                retry=_ONCE,
            )
            return scan

    def _list_failed(self, name: str, exc: RetabError) -> None:
        if is_transient(exc):
            self.stats.transient_errors += 1
            return
        # Listing is refused (for example 401/403): every waiter of this primitive must know.
        for watch in list(self._groups.get(name, {}).values()):
            if not watch.settled:
                watch.fail(exc)
