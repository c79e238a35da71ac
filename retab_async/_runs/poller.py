"""One poller per client: every waiting :class:`RunHandle` is observed by it.

No handle has a task or a sleep of its own. Handles *subscribe* a watch while
they wait and release it when they stop; the poller runs while any watch is
subscribed and ends when the last one goes. Its requests run in one anyio task
group, under a cap on requests in flight and on requests per second; a ``429``
pauses every request of the client (see the transport).

Two ways to observe runs, picked per primitive and re-evaluated as runs come
and go (``PollPolicy.strategy="auto"``); a primitive that cannot be listed by
status (``Primitive.list_rounds`` is false) is only ever watched by gets:

* **get**: one ``GET`` per run, spaced by an interval that
  grows with the run's age (``growth`` x age, between ``min_interval`` and
  ``max_interval``), so short runs are seen early and long runs cost little.
* **list**: when many runs of one primitive are waited on, rounds every
  ``list_interval`` read the ``completed`` list, whose rows carry the output, so
  a run that finished is settled from its row without a request of its own. The
  watched runs, in creation order, are cut into blocks of 100; each round reads,
  for every block in parallel, the window from its first to its last open run:
  newest first (``order=desc``) from the id created just after the window
  (``after`` is an item-id cursor), asking for the rows known to be there (runs
  of the window already settled) plus a few; adjacent windows with few runs
  between them whose rows fit in one page are read by one chain. A round costs
  at most one request per block, and rows only of runs that finished: those in
  the windows (a settled run is read again until its window's ends move past it),
  never those in flight. A block's last few open runs (15 at most, among at
  least twice as many settled ones) are the exception: the
  completed rows around them outnumber them, so their window is read from the
  in-flight lists instead, and a run gone from those is fetched once.
  Runs that end some other way never reach that list: the ``failed`` and
  ``cancelled`` lists are read over all windows at once (they are rare, so one
  short page each usually covers every block), at intervals that grow with the
  age of the youngest block (``PollPolicy.check_interval``), beside the rounds
  rather than within them, and settle such runs from their rows. A run in no
  list at all (deleted, or in a status we do not know) is caught by a fallback:
  once a block is older than ``PollPolicy.not_found_grace`` (before that, a
  missing run may be read-after-write lag), and then whenever its age has
  doubled, its in-flight lists are read over its window; a run missing from them,
  and still missing from the next round's completed rows, is fetched once.

Per-run polls ask for the output by default (``PollPolicy.poll_output``): while a
run is in flight its output is a placeholder, so the record is hardly larger, and
the poll that finds the run completed ends the wait, the one full fetch of the
contract (D9). With ``poll_output=False`` polls are light (``include_output=false``)
and a completed run is fetched once more, in full: one request more per run.

Every decision by elapsed time (a run's age, when the next poll or list round is
due, the ``404`` grace, the rate limiter) reads the client's :class:`Clock`, so a
test on a ``ManualClock`` decides what time it is, not the machine.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import datetime
import heapq
import itertools
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

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
from .primitive import Primitive, Scan, shared

if TYPE_CHECKING:
    from .._http.pipeline import Pipeline

__all__ = ["Poller", "Watch"]

_log = logging.getLogger("retab_async.poller")
_ONCE = RetryPolicy.never()
_BLOCK = 100  # runs per block: one list page can cover a block's window
# At most this many open runs of a block are watched through its in-flight lists, each
# fetched once when gone: fewer bytes than the completed rows around them, for a request
# each (more would cost more requests than the rounds they save bytes on).
_TAIL = 15
_MERGE_GAP = 4  # runs between two blocks' windows that one page may read through
_CHAIN_PAGES = 4  # pages one chain reads per round; what it leaves, the next round reads
_STAGE = {status: i for i, status in enumerate(ACTIVE_STATUSES)}
_ENDED_OTHERWISE = ("failed", "cancelled")  # terminal, but never in the completed list


class Watch:
    """What the poller knows about one run, shared by every handle waiting on it."""

    __slots__ = (
        "_changes",
        "_waiters",
        "born",
        "busy",
        "error",
        "final",
        "missing",
        "next_due",
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
        self.not_found = 0
        self.missing = False  # absent from the in-flight lists of a list round
        self.busy = False
        self.observers: list[Callable[[Watch], None]] = []
        # Futures of the tasks waiting: plain asyncio futures, made only when someone
        # waits, because thousands of runs are waited on at once (an anyio Event costs
        # five times as much). ``_waiters`` wake once waiting is over, ``_changes`` at
        # every change.
        self._waiters: list[asyncio.Future[bool]] | None = None
        self._changes: list[asyncio.Future[bool]] | None = None

    @property
    def settled(self) -> bool:
        """Whether waiting is over: a final record or a fatal error."""
        return self.final is not None or self.error is not None

    def update(self, record: Any) -> None:
        """Take a newer (non-final) record; wake waiters when the status changed."""
        self.record = record if self.record is None else shared(record, self.record)
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
        changes, self._changes = self._changes, None
        if changes is not None:
            _wake(changes, True)
        if self._waiters is not None and self.settled:
            waiters, self._waiters = self._waiters, None
            _wake(waiters, True)
        for observer in self.observers:
            observer(self)

    def add_waiter(self, future: asyncio.Future[bool]) -> None:
        """Resolve ``future`` (with ``True``) once waiting is over (see :attr:`settled`)."""
        if self.settled:
            future.set_result(True)
        elif self._waiters is None:
            self._waiters = [future]
        else:
            self._waiters.append(future)

    def drop_waiter(self, future: asyncio.Future[bool]) -> None:
        """Forget ``future`` (its waiter left); no-op when it was woken already."""
        for waiters in (self._waiters, self._changes):
            if waiters is not None and future in waiters:
                waiters.remove(future)

    async def changed(self, version: int) -> None:
        """Return once ``version`` is out of date."""
        while self.version == version:
            future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            if self._changes is None:
                self._changes = [future]
            else:
                self._changes.append(future)
            try:
                await future
            finally:
                self.drop_waiter(future)


def _wake(futures: list[asyncio.Future[bool]], value: bool) -> None:
    for future in futures:
        if not future.done():  # a waiter cancelled meanwhile
            future.set_result(value)


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
        self._deadlines: list[tuple[float, int, asyncio.Future[bool]]] = []  # of waiters
        self._waiters_gone = 0
        self._counter = itertools.count()
        self._list_mode: dict[str, bool] = {}
        self._list_due: dict[str, float] = {}
        self._listing: set[str] = set()
        self._decided: dict[str, tuple[float, int]] = {}  # when, and for how many runs
        self._tracks: dict[str, _Track] = {}
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

    def release(self, watch: Watch, waiter: asyncio.Future[bool] | None = None) -> None:
        """Stop watching for one subscriber, and forget its ``waiter`` (from
        :meth:`waiter`); the run is dropped with its last subscriber."""
        if waiter is not None:
            if not waiter.done():
                waiter.cancel()  # its deadline, if any, is now dead
            watch.drop_waiter(waiter)
            self._forget_deadline()
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

    def waiter(self, watch: Watch, deadline: float | None) -> asyncio.Future[bool]:
        """A future resolved with ``True`` once waiting on ``watch`` is over (a final
        record or a fatal error), or with ``False`` once the poller's clock reaches
        ``deadline`` (``None``: never). Await it, then :meth:`release` it with the watch.

        The deadline costs no timer or cancel scope of its own: the poller, which is
        running while the watch is subscribed, wakes up for the earliest one.
        """
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        watch.add_waiter(future)
        if deadline is not None and deadline < math.inf and not future.done():
            heapq.heappush(self._deadlines, (deadline, next(self._counter), future))
            if deadline < self._sleep_until and self._wake is not None:
                self._wake.set()
        return future

    def _expire(self, now: float) -> None:
        """Resolve with ``False`` every waiter whose deadline has come."""
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            future = heapq.heappop(deadlines)[2]
            if not future.done():
                future.set_result(False)

    def _next_deadline(self) -> float:
        deadlines = self._deadlines
        while deadlines and deadlines[0][2].done():
            heapq.heappop(deadlines)
        return deadlines[0][0] if deadlines else math.inf

    def _forget_deadline(self) -> None:
        """Count a waiter gone; drop the deadlines of those gone once they are half."""
        self._waiters_gone += 1
        if self._waiters_gone > 64 and 2 * self._waiters_gone > len(self._deadlines):
            self._deadlines = [entry for entry in self._deadlines if not entry[2].done()]
            heapq.heapify(self._deadlines)
            self._waiters_gone = 0

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
        self._deadlines.clear()
        self._tracks.clear()
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
        nxt = min(heap[0][0] if heap else math.inf, self._next_deadline())
        for name, due in self._list_due.items():
            if self._list_mode.get(name) and name not in self._listing:
                nxt = min(nxt, due)
        return nxt

    def _dropped(self, watch: Watch) -> bool:
        group = self._groups.get(watch.primitive.name)
        return group is None or group.get(watch.run_id) is not watch or watch.settled

    def _dispatch(self, tg: anyio.abc.TaskGroup) -> None:
        now = self.clock.now()
        self._expire(now)
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
        when, runs = self._decided.get(name, (-math.inf, 0))
        # Once per list_interval, or at once when the runs have doubled since: many runs
        # started together must not all get a first poll of their own before list rounds.
        if now - when < self.policy.list_interval and len(group) < 2 * runs:
            return
        self._decided[name] = (now, len(group))
        use_list = self._list_is_cheaper(group, now)
        was = self._list_mode.get(name, False)
        if was and not use_list and self._keeps_listing(group):
            # The last runs of many are the slowest: per-run polls, spaced for their
            # age, would see them seconds late; a round per block costs a few requests.
            use_list = True
        if use_list != was:
            self._list_mode[name] = use_list
            self.stats.strategy[name] = "list" if use_list else "get"
            _log.debug("polling %s with %s", name, "list rounds" if use_list else "gets")
            if use_list:
                self._list_due[name] = now
            else:
                for watch in group.values():
                    self._schedule(watch, self.policy.interval(now - watch.born))

    def _keeps_listing(self, group: dict[str, Watch]) -> bool:
        """Whether rounds already running go on although gets look cheaper: while a
        quarter of ``list_min_runs`` is still waited on (``auto`` strategy only)."""
        return self.policy.strategy == "auto" and 4 * len(group) >= self.policy.list_min_runs

    def _list_is_cheaper(self, group: dict[str, Watch], now: float) -> bool:
        strategy = self.policy.strategy
        if not group:
            return False
        primitive = next(iter(group.values())).primitive
        if strategy == "get" or not primitive.list_rounds:
            return False
        if strategy == "list":
            return True
        if len(group) < self.policy.list_min_runs:
            return False
        list_cost = 1 + math.ceil(len(group) / _BLOCK)
        if list_cost < 0.5 * len(group) * self.policy.list_interval / self.policy.max_interval:
            return True  # cheaper even if every run were polled as seldom as can be
        per_round = sum(
            self.policy.list_interval / self.policy.base_interval(now - w.born)
            for w in group.values()
        )
        return list_cost < 0.5 * per_round

    # -- one run at a time ------------------------------------------------------

    async def _request(self, watch: Watch, *, output: bool, final: bool) -> Any:
        assert self._slots is not None
        async with self._slots:
            await self._limiter.acquire()
            primitive = watch.primitive
            if final:
                self.stats.final_fetches += 1
            else:
                self.stats.gets += 1
            return await self.pipeline.request(
                "GET",
                primitive.fetch_path(watch.run_id, output=output),
                primitive.decode,
                timeout=self.policy.request_timeout,
                retry=_ONCE,
                expect_id=watch.run_id,
            )

    async def _poll(self, watch: Watch, full: bool = False) -> None:
        """Poll one run (a final fetch when asked, or once it is known terminal). With
        ``PollPolicy.poll_output`` every poll asks for the output, so the poll that finds
        the run completed ends it; otherwise that poll is followed by one full fetch."""
        try:
            final = full or watch.status in TERMINAL_STATUSES
            output = final or self.policy.poll_output
            record = await self._request(watch, output=output, final=final)
            watch.not_found = 0
            if not output and record.status == "completed":
                record = await self._request(watch, output=True, final=True)
            if record.status in TERMINAL_STATUSES:
                watch.settle(record)
                return
            watch.missing = False
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
        """Observe every watched run of ``primitive``: one chain per block, in parallel."""
        name = primitive.name
        started = self.clock.now()
        track = self._tracks.setdefault(name, _Track())
        group = self._groups.get(name, {})
        try:
            track.admit(group, started + self.policy.not_found_grace)
            windows = track.windows(group)
            if track.next_check is None:  # first read a check interval after the first round
                track.next_check = started + self.policy.check_interval(0.0)
            if windows and started >= track.next_check and not track.checking:
                # Off the round: its end, and so the next round, does not wait for it.
                track.checking = True
                age = started - max(window.block.born for window in windows)
                track.next_check = started + self.policy.check_interval(age)
                self._spawn(tg, self._check_ended, primitive, windows)
            async with anyio.create_task_group() as chains:
                for run in _chains(windows):
                    chains.start_soon(self._observe_blocks, primitive, run, started, tg)
        finally:
            self._listing.discard(name)
            now = self.clock.now()
            self._list_due[name] = max(started + self.policy.list_interval, now + 0.01)
            if self._wake is not None:
                self._wake.set()
        self.stats.list_rounds += 1

    async def _observe_blocks(
        self,
        primitive: Primitive[Any],
        windows: list[_Window],
        started: float,
        tg: anyio.abc.TaskGroup,
    ) -> None:
        """Settle finished runs of one or more adjacent blocks from one chain of the
        ``completed`` list; seldom, check each block's in-flight lists for runs that no
        list shows (deleted, or of an unknown status).

        A block's last few open runs, among many settled ones, are watched through its
        in-flight lists instead: their rows are fewer than the completed rows around
        them, which the completed list would return every round; a run gone from them
        is fetched once."""
        try:
            if windows[0].tail:
                await self._check_in_flight(primitive, windows[0], started, tg, fetch=True)
                return
            await self._scan_completed(primitive, _Window.spanning(windows))
            for window in windows:
                self._after_scan(primitive, window, started, tg)
        except RetabError as exc:
            self._list_failed(primitive.name, exc)

    def _after_scan(
        self, primitive: Primitive[Any], window: _Window, started: float, tg: anyio.abc.TaskGroup
    ) -> None:
        block = window.block
        # Only a scan that began after the check ended can have missed a run that
        # completed before the check: the others are fetched.
        for watch in window.open if started >= block.checked else ():
            if watch.missing and not watch.settled and not watch.busy:
                watch.busy = True
                self._spawn(tg, self._poll, watch, True)
        if started >= block.next_check and not block.checking:
            age = started - block.born
            block.next_check = started + max(self.policy.not_found_grace, age)
            # Off the round: its end, and so the next round, does not wait for it.
            block.checking = True
            self._spawn(tg, self._check_block, primitive, window, started, tg)

    async def _check_block(
        self, primitive: Primitive[Any], window: _Window, started: float, tg: anyio.abc.TaskGroup
    ) -> None:
        try:
            await self._check_in_flight(primitive, window, started, tg)
        except RetabError as exc:
            self._list_failed(primitive.name, exc)
        finally:
            window.block.checking = False
            window.block.checked = self.clock.now()

    async def _scan_completed(self, primitive: Primitive[Any], window: _Window) -> None:
        """Page the ``completed`` list newest first from just after the window down to its
        first open run, settling every watched run met with its row (no final fetch).

        Each page asks for the rows already known to be there (the window's settled runs)
        plus a few, so that it stops near the window's start instead of running past it.
        """
        group = self._groups.get(primitive.name, {})
        ordinal = window.track.ordinal
        after = window.cursor
        lowest = window.end + 1
        slack = window.slack
        for _ in range(_CHAIN_PAGES):
            limit = min(100, window.settled_between(window.start, lowest) + slack)
            scan = await self._page(primitive, "completed", "desc", after, limit)
            for run_id, _, raw in scan.rows:
                at = ordinal.get(run_id)
                if at is not None:
                    lowest = min(lowest, at)
                watch = group.get(run_id)
                if watch is not None and not watch.settled and not watch.busy:
                    self._settle_from_row(primitive, watch, raw)
            after = scan.next_cursor
            if not after or lowest <= window.start or not scan.rows:
                return
            slack *= 2  # more ended than expected: ask for more at once

    def _settle_from_row(self, primitive: Primitive[Any], watch: Watch, raw: Any) -> None:
        with contextlib.suppress(DecodeError):
            row = primitive.decode_row(raw)
            if primitive.has_result(row):
                watch.not_found = 0
                watch.settle(row)
                self.stats.results_from_lists += 1

    async def _check_ended(self, primitive: Primitive[Any], windows: list[_Window]) -> None:
        """Settle the watched runs that failed or were cancelled, from those lists."""
        track = windows[0].track
        try:
            async with anyio.create_task_group() as scans:
                for status in _ENDED_OTHERWISE:
                    scans.start_soon(self._scan_ended, primitive, windows, status)
        finally:
            track.checking = False

    async def _scan_ended(
        self, primitive: Primitive[Any], windows: list[_Window], status: str
    ) -> None:
        """Page the ``status`` list newest first over every window at once (from just after
        the newest open run down to the oldest): such runs are rare, so one chain for all
        blocks is cheaper than one per block. Each page asks for as many rows as the last
        check met in that span, plus a few."""
        group = self._groups.get(primitive.name, {})
        track = windows[0].track
        ordinal = track.ordinal
        start = min(window.start for window in windows)
        oldest = _created(min(windows, key=lambda window: window.start).open[0].record)
        after = max(windows, key=lambda window: window.end).cursor
        limit = min(100, track.ended_rows.get(status, 0) + 4)
        met = 0
        for _ in range(_CHAIN_PAGES):
            try:
                scan = await self._page(primitive, status, "desc", after, limit)
            except RetabError as exc:
                self._list_failed(primitive.name, exc)
                return
            below = False  # a row older than every open run: the span is read
            for run_id, row_status, raw in scan.rows:
                at = ordinal.get(run_id)
                watch = group.get(run_id)
                if at is None and watch is None:
                    # Not one of ours (another client's, or of a block forgotten):
                    # its creation time tells whether the span is behind us.
                    with contextlib.suppress(DecodeError):
                        below = below or _before(_created(primitive.decode_row(raw)), oldest)
                elif at is not None and at < start:
                    below = True
                if below:
                    break
                met += 1
                if row_status not in TERMINAL_STATUSES:
                    continue  # only a final status settles a run
                if watch is not None and not watch.settled and not watch.busy:
                    with contextlib.suppress(DecodeError):
                        watch.settle(primitive.decode_row(raw))
            after = scan.next_cursor
            if below or not after or not scan.rows:
                break
            limit = min(100, 2 * limit)
        track.ended_rows[status] = met

    async def _check_in_flight(
        self,
        primitive: Primitive[Any],
        window: _Window,
        started: float,
        tg: anyio.abc.TaskGroup,
        *,
        fetch: bool = False,
    ) -> None:
        """Page the in-flight lists over the window; a watched run in none of them and not
        settled has ended (or was never in the window): fetch it once, at once when
        ``fetch`` (no completed page will be read), else if the next round's completed
        page does not settle it."""
        group = self._groups.get(primitive.name, {})
        open_ = [w for w in window.open if not w.settled and not w.busy]
        if not open_:
            return
        present: set[str] = set()
        earliest = min(_STAGE.get(w.status, 0) for w in open_)
        limit = min(100, len(open_) + window.slack)
        for status in ACTIVE_STATUSES[earliest:]:  # statuses only move forward
            await self._scan_status(primitive, window, status, limit, present, group)
        for watch in open_:
            if watch.run_id in present or watch.since >= started or watch.settled:
                continue
            if fetch:
                if not watch.busy:
                    watch.busy = True
                    self._spawn(tg, self._poll, watch, True)
            else:
                # Ended, or completed just after the completed list was read: the next
                # round's completed page settles the latter; the rest are then fetched.
                watch.missing = True

    async def _scan_status(
        self,
        primitive: Primitive[Any],
        window: _Window,
        status: str,
        limit: int,
        present: set[str],
        group: dict[str, Watch],
    ) -> None:
        ordinal = window.track.ordinal
        after = window.cursor
        for _ in range(_CHAIN_PAGES):
            scan = await self._page(primitive, status, "desc", after, limit)
            lowest = window.end + 1
            for run_id, row_status, raw in scan.rows:
                at = ordinal.get(run_id)
                if at is not None:
                    lowest = min(lowest, at)
                watch = group.get(run_id)
                if watch is None or watch.settled:
                    continue
                present.add(run_id)
                if row_status != watch.status:
                    # Only a change is decoded in full (and kept): most rows are not.
                    with contextlib.suppress(DecodeError):
                        watch.update(primitive.decode_row(raw))
            after = scan.next_cursor
            if not after or lowest <= window.start or not scan.rows:
                return

    async def _page(
        self, primitive: Primitive[Any], status: str, order: str, after: str | None, limit: int
    ) -> Scan:
        """One page (at most ``limit`` rows) of ``primitive``'s runs in ``status``, scanned."""
        assert self._slots is not None
        params = {"status": status, "limit": str(limit), "order": order}
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


def _chains(windows: list[_Window]) -> list[list[_Window]]:
    """Group adjacent windows that one page of the ``completed`` list can cover: few runs
    lie between them, and the rows known to be there (plus a few) fit in a page."""
    chains: list[list[_Window]] = []
    rows = 0
    for window in windows:
        last = chains[-1] if chains else None
        size = len(window.settled) + window.slack
        if (
            last is not None
            and not window.tail
            and not last[-1].tail
            and window.start - last[-1].end - 1 <= _MERGE_GAP
            and rows + size + window.start - last[-1].end - 1 <= _BLOCK
        ):
            last.append(window)
            rows += size + window.start - last[-2].end - 1
        else:
            chains.append([window])
            rows = size
    return chains


def _created(record: Any) -> datetime.datetime | None:
    """When ``record``'s run was created, if it says so in a form we can read."""
    text = getattr(record, "created_at", None)
    if not isinstance(text, str):
        return None
    try:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=datetime.timezone.utc)


def _before(when: datetime.datetime | None, than: datetime.datetime | None) -> bool:
    return when is not None and than is not None and when < than


class _Block:
    """Up to ``_BLOCK`` watched runs of one primitive, consecutive in creation order."""

    __slots__ = ("born", "checked", "checking", "done", "ids", "next_check", "number")

    def __init__(self, number: int, born: float, next_check: float) -> None:
        self.number = number
        self.born = born
        self.next_check = next_check
        self.ids: list[str] = []
        self.done = False
        self.checking = False  # its in-flight lists are being read
        self.checked = -math.inf  # when they were last read


class _Window(NamedTuple):
    """The part of a block a round reads: from its first to its last open run."""

    track: _Track
    block: _Block
    start: int  # ordinal of the first open run
    end: int  # ordinal of the last open run
    cursor: str | None  # the id created just after ``end`` (``None``: the newest)
    open: list[Watch]
    settled: list[int]  # ordinals in the window that are no longer open, ascending
    slack: int  # rows asked for beyond those known to be there

    @classmethod
    def spanning(cls, windows: list[_Window]) -> _Window:
        """One window over adjacent ``windows`` (oldest first), and the runs between them."""
        if len(windows) == 1:
            return windows[0]
        low, high = windows[0], windows[-1]
        settled = list(low.settled)
        for below, window in itertools.pairwise(windows):
            settled.extend(range(below.end + 1, window.start))  # between two blocks
            settled.extend(window.settled)
        return cls(
            high.track,
            high.block,
            low.start,
            high.end,
            high.cursor,
            [w for window in windows for w in window.open],
            settled,
            sum(window.slack for window in windows),
        )

    @property
    def tail(self) -> bool:
        """Whether the window is read from the in-flight lists: a few open runs (``_TAIL``
        at most) among at least twice as many settled ones."""
        return len(self.open) <= _TAIL and len(self.settled) >= 2 * len(self.open)

    def settled_between(self, low: int, high: int) -> int:
        """How many settled runs lie in ``[low, high)``."""
        return bisect.bisect_left(self.settled, high) - bisect.bisect_left(self.settled, low)


class _Track:
    """The watched runs of one primitive in creation order, cut into blocks.

    A run's ordinal is its place in that order (runs are admitted by creation time);
    blocks whose runs are all settled keep only their first id (the cursor of the
    block before them) and are forgotten once no older block is left.
    """

    __slots__ = ("blocks", "checking", "count", "ended_rows", "next_check", "ordinal")

    def __init__(self) -> None:
        self.blocks: dict[int, _Block] = {}
        self.ordinal: dict[str, int] = {}
        self.count = 0
        self.next_check: float | None = None  # when the failed and cancelled lists are read
        self.checking = False
        self.ended_rows: dict[str, int] = {}  # rows each of them had in the last check

    def admit(self, group: dict[str, Watch], next_check: float) -> None:
        """Give every watched run not placed yet its ordinal and block."""
        fresh = [w for w in group.values() if w.run_id not in self.ordinal and not w.settled]
        fresh.sort(key=lambda w: w.born)
        for watch in fresh:
            number = self.count // _BLOCK
            self.count += 1
            block = self.blocks.get(number)
            if block is None:
                block = self.blocks[number] = _Block(number, watch.since, next_check)
            self.ordinal[watch.run_id] = number * _BLOCK + len(block.ids)
            block.ids.append(watch.run_id)

    def windows(self, group: dict[str, Watch]) -> list[_Window]:
        """This round's window of every block that has open runs; frees finished blocks."""
        found: list[_Window] = []
        blocks = list(self.blocks.values())
        for i, block in enumerate(blocks):
            if block.done:
                continue
            later = blocks[i + 1].ids[0] if i + 1 < len(blocks) else None
            window = self._window(block, group, later)
            if window is not None:
                found.append(window)
            elif len(block.ids) == _BLOCK and not any(
                (w := group.get(run_id)) is not None and not w.settled for run_id in block.ids
            ):
                self._free(block)
        while self.blocks and next(iter(self.blocks.values())).done:
            block = self.blocks.pop(next(iter(self.blocks)))
            self.ordinal.pop(block.ids[0], None)
        return found

    def _window(self, block: _Block, group: dict[str, Watch], later: str | None) -> _Window | None:
        ids = block.ids
        positions: list[int] = []
        watches: list[Watch] = []
        for j, run_id in enumerate(ids):
            watch = group.get(run_id)
            if watch is not None and not watch.settled and not watch.busy:
                positions.append(j)
                watches.append(watch)
        if not positions:
            return None
        first, last = positions[0], positions[-1]
        base = block.number * _BLOCK
        cursor = ids[last + 1] if last + 1 < len(ids) else later
        taken = set(positions)
        settled = [base + j for j in range(first, last + 1) if j not in taken]
        slack = 2 + len(watches) // 10
        return _Window(self, block, base + first, base + last, cursor, watches, settled, slack)

    def _free(self, block: _Block) -> None:
        for run_id in block.ids[1:]:
            self.ordinal.pop(run_id, None)
        del block.ids[1:]
        block.done = True
