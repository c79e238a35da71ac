"""The retry policy: which failures are retried, how often, and how long we wait.

Retries are implemented with tenacity, which never shows in our signatures.
The first attempt runs outside tenacity so that the common case (no failure)
costs nothing extra.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import tenacity

from .._errors import APIStatusError, DecodeError, RetabError, TransportError

__all__ = ["RetryPolicy", "is_transient"]

_T = TypeVar("_T")
_RETRY_STATUSES = frozenset({408, 429})


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` may go away on its own: connection errors, timeouts, 408, 429, 5xx,
    and bodies that are not JSON at all (cut short on the way)."""
    if isinstance(exc, TransportError):
        return True
    if isinstance(exc, APIStatusError):
        return exc.status in _RETRY_STATUSES or exc.status >= 500
    if isinstance(exc, DecodeError):
        return exc.malformed
    return False


@dataclasses.dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How requests are retried.

    A request is tried at most ``attempts`` times and never past ``timeout`` seconds
    from its first attempt: an attempt in flight is cut short when the budget runs
    out (:class:`RequestTimeout`), and no retry starts whose wait would pass it (the
    last error is raised at once). Between attempts we wait ``wait_initial * wait_exp_base**n``
    (capped at ``wait_max``) plus up to ``wait_jitter`` seconds of random jitter, or
    the server's ``Retry-After`` when it gave one, capped at ``max_retry_after``.
    Connection errors, timeouts, 408, 429 and 5xx are retried; other 4xx never are.

    Creates are safe to retry: each carries one ``Idempotency-Key`` for all its attempts.
    """

    attempts: int = 4
    timeout: float | None = 120.0
    wait_initial: float = 0.2
    wait_max: float = 10.0
    wait_exp_base: float = 2.0
    wait_jitter: float = 0.5
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError("timeout must be positive (or None for no total limit)")
        for name in ("wait_initial", "wait_max", "wait_jitter", "max_retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")

    @classmethod
    def never(cls) -> RetryPolicy:
        """A policy that tries once."""
        return cls(attempts=1)

    @classmethod
    def for_tests(cls, attempts: int = 6) -> RetryPolicy:
        """Retries with (almost) no waiting, so fault-injection tests run fast."""
        return cls(
            attempts=attempts,
            wait_initial=0.001,
            wait_max=0.01,
            wait_jitter=0.0,
            max_retry_after=0.05,
        )

    def retry_after_delay(self, retry_after: float) -> float:
        """Seconds to honour of a server's ``Retry-After``: capped at ``max_retry_after``.

        The one place a ``Retry-After`` becomes a wait: retries and the poller use it.
        """
        return min(max(retry_after, 0.0), self.max_retry_after)

    def backoff(self, retry_number: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry_number`` (1-based)."""
        if retry_after is not None:
            return self.retry_after_delay(retry_after)
        base = self.wait_initial * self.wait_exp_base ** (retry_number - 1)
        return min(base, self.wait_max) + random.uniform(0.0, self.wait_jitter)

    async def call(self, attempt: Callable[[int, float | None], Awaitable[_T]]) -> _T:
        """Run ``attempt(n, budget)`` until it succeeds or the policy gives up.

        ``n`` counts from 1; ``budget`` is the seconds left of ``timeout`` (``None``
        without one), which the attempt must not overrun. Raises the last error when
        every allowed attempt failed, or at once when the error is not transient.
        """
        started = time.monotonic()
        try:
            return await attempt(1, self.timeout)
        except RetabError as exc:
            wait = self.first_wait(exc, started)
            if wait is None:
                raise
        return await self.resume(attempt, started, wait)

    def first_wait(self, exc: RetabError, started: float) -> float | None:
        """Seconds to wait after a first attempt (begun at ``started``, ``time.monotonic()``)
        failed with ``exc``, or ``None`` when ``exc`` stands: not transient, a single
        attempt allowed, or no time left.

        With :meth:`resume`, what :meth:`call` does; a caller that makes the first
        attempt itself (the request pipeline's fast path) enters the retry machinery
        only when that attempt fails.
        """
        if self.attempts == 1 or not is_transient(exc):
            return None
        wait = self.backoff(1, getattr(exc, "retry_after", None))
        if self.timeout is not None and time.monotonic() - started + wait >= self.timeout:
            return None
        return wait

    async def resume(
        self,
        attempt: Callable[[int, float | None], Awaitable[_T]],
        started: float,
        wait: float,
    ) -> _T:
        """After a failed first attempt: sleep ``wait`` (from :meth:`first_wait`), then run
        the remaining attempts as :meth:`call` would."""
        await anyio.sleep(wait)
        return await self._retry(attempt, started)

    async def _retry(
        self, attempt: Callable[[int, float | None], Awaitable[_T]], started: float
    ) -> _T:
        number = 1
        stop: tenacity.stop.stop_base = tenacity.stop_after_attempt(self.attempts - 1)
        if self.timeout is not None:
            remaining = self.timeout - (time.monotonic() - started)
            stop = stop | tenacity.stop_before_delay(max(remaining, 0.0))

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome is not None else None
            return self.backoff(state.attempt_number + 1, getattr(exc, "retry_after", None))

        async def again() -> _T:
            nonlocal number
            number += 1
            budget = None
            if self.timeout is not None:
                budget = self.timeout - (time.monotonic() - started)
            return await attempt(number, budget)

        retrying = tenacity.AsyncRetrying(
            stop=stop,
            wait=wait,
            retry=tenacity.retry_if_exception(is_transient),
            reraise=True,
            sleep=anyio.sleep,
        )
        return await retrying(again)
