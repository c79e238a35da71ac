"""Time, as the run machinery sees it: one small object, injectable.

Everything that decides by elapsed time (poll spacing, the poller's sleep, the
``404`` grace after a create, wait deadlines, the clean-up cancel's grace, a
batch's per-run deadline) asks a :class:`Clock`. The default,
:data:`SYSTEM_CLOCK`, is the event loop's monotonic time and anyio's own sleep
and cancel scopes: no extra cost. :class:`ManualClock` is for tests: time stands
still until the test moves it, so a scheduling decision never depends on how
fast the machine is.

Per-request HTTP timeouts are not scheduling decisions: they stay on real time
(a test clock must not make a request time out, nor keep one waiting forever).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol, cast, runtime_checkable

import anyio
import anyio.lowlevel


class _Poller(Protocol):
    @property
    def idle(self) -> bool: ...


class Driven(Protocol):
    """What :meth:`ManualClock.drive` watches: a ``RetabClient`` is one."""

    @property
    def poller(self) -> _Poller: ...

    @property
    def requests_in_flight(self) -> int: ...


__all__ = ["SYSTEM_CLOCK", "Clock", "ManualClock", "SystemClock"]


class Deadline(Protocol):
    """A context manager giving an anyio cancel scope; its exit may swallow the cancellation."""

    def __enter__(self) -> anyio.CancelScope: ...

    def __exit__(self, *exc_info: Any) -> bool: ...


@runtime_checkable
class Clock(Protocol):
    """What the run machinery needs of time.

    ``now()`` is monotonic seconds (any origin); ``sleep(s)`` returns once ``now()``
    has moved ``s`` seconds on; ``move_on_after(s)`` is a cancel scope that is
    cancelled once ``s`` seconds have passed on this clock (``None``: never).
    """

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    def move_on_after(self, seconds: float | None, *, shield: bool = False) -> Deadline: ...


class SystemClock:
    """The real clock: ``time.monotonic()``, ``anyio.sleep`` and ``anyio.move_on_after``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SYSTEM_CLOCK"

    def now(self) -> float:
        """Monotonic seconds (the event loop's time base)."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """``anyio.sleep``."""
        await anyio.sleep(seconds)

    def move_on_after(self, seconds: float | None, *, shield: bool = False) -> anyio.CancelScope:
        """``anyio.move_on_after``."""
        return anyio.move_on_after(seconds, shield=shield)


SYSTEM_CLOCK = SystemClock()
"""The default clock of every client."""


class _Timer:
    __slots__ = ("action", "dead", "due")

    def __init__(self, due: float, action: Callable[[], object]) -> None:
        self.due = due
        self.action = action
        self.dead = False


class ManualClock:
    """A clock that moves only when told to, for deterministic tests.

    ``clock.advance(0.5)`` moves time on by half a second and wakes every sleeper
    and deadline that falls due, in order. Nothing else moves it: a test decides
    what time it is when each request goes out. Pass it to ``RetabClient(clock=...)``
    and to ``LocalRetab(clock=...)`` so that client and server share one time.

    Example::

        clock = ManualClock()
        async with LocalRetab(clock=clock, run_time=1.0) as server, RetabClient(
            server.api_key, server.base_url, clock=clock
        ) as client:
            handle = await client.classifications.start("a.pdf", ["a", "b"])
            clock.advance(1.0)  # the run is now complete on the server
            await handle.wait()
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._timers: list[tuple[float, int, _Timer]] = []
        self._order = itertools.count()

    def __repr__(self) -> str:
        return f"<ManualClock at {self._now:.6f}s, {self.pending} timers>"

    def now(self) -> float:
        """The clock's time, in seconds."""
        return self._now

    @property
    def pending(self) -> int:
        """How many sleeps and deadlines are waiting for time to move on."""
        return sum(1 for _, _, timer in self._timers if not timer.dead)

    @property
    def next_due(self) -> float | None:
        """When the next sleeper or deadline falls due, or ``None`` if none is waiting."""
        self._drop_dead()
        return self._timers[0][0] if self._timers else None

    async def sleep(self, seconds: float) -> None:
        """Return once the clock was advanced by ``seconds`` (at once when ``<= 0``)."""
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        timer = self._add(self._now + seconds, event.set)
        try:
            await event.wait()
        finally:
            timer.dead = True

    def move_on_after(self, seconds: float | None, *, shield: bool = False) -> Deadline:
        """A cancel scope cancelled once the clock reaches now + ``seconds``."""
        # typeshed gives a generator context manager's __exit__ ``bool | None``; this one
        # swallows its own cancellation, as Deadline says, so ManualClock is a Clock.
        return cast(Deadline, self._move_on_after(seconds, shield))

    @contextlib.contextmanager
    def _move_on_after(self, seconds: float | None, shield: bool) -> Iterator[anyio.CancelScope]:
        with anyio.CancelScope(shield=shield) as scope:
            timer: _Timer | None = None
            if seconds is not None and seconds < math.inf:
                if seconds <= 0:
                    scope.cancel()
                else:
                    timer = self._add(self._now + seconds, scope.cancel)
            try:
                yield scope
            finally:
                if timer is not None:
                    timer.dead = True

    def advance(self, seconds: float) -> None:
        """Move time on by ``seconds``; wake what falls due, earliest first.

        Raises :class:`ValueError` for a negative step (time never goes back).
        """
        if not seconds >= 0:
            raise ValueError(f"cannot advance a clock by {seconds!r} seconds")
        target = self._now + seconds
        timers = self._timers
        while timers and timers[0][0] <= target:
            due, _, timer = heapq.heappop(timers)
            if timer.dead:
                continue
            self._now = max(self._now, due)
            timer.dead = True
            timer.action()
        self._now = target

    def advance_to_next(self) -> float:
        """Advance to the next sleeper or deadline; returns the step (0 when none waits)."""
        due = self.next_due
        step = 0.0 if due is None else max(0.0, due - self._now)
        self.advance(step)
        return step

    async def drive(
        self,
        client: Driven,
        until: Callable[[], bool],
        *,
        step: float | None = None,
        max_steps: int = 100_000,
    ) -> None:
        """Move time on, each time ``client`` waits for it, until ``until()`` is true.

        "Waits for it": no request of the client is in flight and its poller sleeps
        until a later moment. Then the clock advances by ``step`` seconds, or (by
        default) to the next sleeper or deadline. Run it beside the code under test::

            async with anyio.create_task_group() as tg:
                tg.start_soon(handle.wait)
                await clock.drive(client, until=lambda: handle.done)

        Raises :class:`RuntimeError` after ``max_steps`` steps.
        """
        for _ in range(max_steps):
            await _until_waiting(client)
            if until():
                return
            if step is None:
                self.advance_to_next()
            else:
                self.advance(step)
        raise RuntimeError(f"still not done after {max_steps} steps of {self!r}")

    def _add(self, due: float, action: Callable[[], object]) -> _Timer:
        timer = _Timer(due, action)
        heapq.heappush(self._timers, (due, next(self._order), timer))
        return timer

    def _drop_dead(self) -> None:
        timers = self._timers
        while timers and timers[0][2].dead:
            heapq.heappop(timers)


async def _until_waiting(client: Driven) -> None:
    """Return once ``client`` has nothing to do until time moves on."""
    while True:
        for _ in range(5):  # let woken waiters run: no I/O involved
            await anyio.lowlevel.checkpoint()
        if client.poller.idle and not client.requests_in_flight:
            return
        await anyio.sleep(0.0005)  # a request is in flight on real sockets, in real time
