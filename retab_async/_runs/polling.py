"""How runs are polled: the policy, the counters, and the request-rate limiter."""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Literal

from .._clock import Clock

__all__ = ["PollPolicy", "PollStats", "RateLimiter"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class PollPolicy:
    """How background runs are observed.

    The default polls a single run at about a quarter of its age (at least 0.25 s,
    at most 2 s apart): a run of 1 s costs about 5 requests with creation, and its
    result arrives about 0.35 s after it ends (p95); a run of 30 s about 25 requests
    and 1.9 s. Two presets shift the trade-off:

    * :meth:`low_latency`: about a tenth of the run's age, 0.1-1 s apart: results
      within 0.15 s (short runs) to 1 s (long runs), for about twice the requests;
    * :meth:`economical`: half the run's age, 2-10 s apart, and polls that ask for
      the output (``poll_output``), so the poll that finds a run completed ends it:
      fewer requests than a fixed 2 s loop for runs of 2 s or more (a third of the
      default's for runs of a minute), for lags of seconds.

    The default keeps the contract's light polls (D9): a run costs at least three
    requests (its create, a poll, one full fetch), so no light-polling schedule sends
    fewer than a fixed 2 s loop of full fetches for runs under 2 s, and for runs of
    2-10 s only one that waits about 3 s before its first poll.

    Many runs of one primitive are watched with list rounds instead (see
    ``strategy``), whose cost does not depend on these intervals.

    Attributes:
        min_interval, max_interval: bounds of the per-run polling interval (seconds).
        growth: the interval as a fraction of the run's age, so that the detection
            lag stays a small fraction of a run's duration.
        jitter: random spread of each interval (a fraction of it).
        poll_output: whether per-run polls ask for the output (``include_output``).
            Off by default, as the API contract has it (D9): polls are light and a
            completed run is fetched once, in full. On, the poll that finds a run
            completed ends the wait (one request fewer per run; an in-flight run's
            output is only a placeholder, so such a poll costs little more).
        max_in_flight: poll requests in flight at once, for the whole client.
        max_rate: poll requests per second, for the whole client.
        strategy: ``"auto"`` (cheapest of the two), ``"get"`` or ``"list"``.
        list_min_runs: runs of one primitive that must be waited on before a list
            round is considered.
        list_interval: seconds between list rounds.
        not_found_grace: seconds after creation in which a ``404`` is taken for
            read-after-write lag (D10) rather than a missing run.
        not_found_limit: ``404`` answers in a row tolerated within that grace.
        request_timeout: seconds for one poll request.
    """

    min_interval: float = 0.25
    max_interval: float = 2.0
    growth: float = 0.25
    jitter: float = 0.1
    poll_output: bool = False
    max_in_flight: int = 64
    max_rate: float = 5000.0
    strategy: Literal["auto", "get", "list"] = "auto"
    list_min_runs: int = 20
    list_interval: float = 0.4
    not_found_grace: float = 10.0
    not_found_limit: int = 5
    request_timeout: float = 30.0

    @classmethod
    def low_latency(cls) -> PollPolicy:
        """Results sooner, for more requests: polls at a tenth of a run's age, 0.1-1 s
        apart, and list rounds every 0.25 s."""
        return cls(min_interval=0.1, growth=0.1, max_interval=1.0, list_interval=0.25)

    @classmethod
    def economical(cls) -> PollPolicy:
        """Fewer requests, for later results: polls at half a run's age, 2-10 s apart,
        asking for the output (the poll that finds a run completed ends it), and list
        rounds every second."""
        return cls(
            min_interval=2.0, growth=0.5, max_interval=10.0, list_interval=1.0, poll_output=True
        )

    def __post_init__(self) -> None:
        if not 0 < self.min_interval <= self.max_interval:
            raise ValueError("need 0 < min_interval <= max_interval")
        if self.max_in_flight < 1 or self.max_rate <= 0:
            raise ValueError("max_in_flight and max_rate must be positive")
        if self.strategy not in ("auto", "get", "list"):
            raise ValueError(f"unknown strategy {self.strategy!r}")

    def base_interval(self, age: float) -> float:
        """The polling interval of a run that is ``age`` seconds old, without jitter."""
        return min(max(self.growth * age, self.min_interval), self.max_interval)

    def not_found_retry(self, age: float, count: int) -> float | None:
        """After the ``count``-th ``404`` in a row for a run ``age`` seconds old: seconds to
        wait before asking again, or ``None`` when the ``404`` stands (the run is gone).

        The one 404 grace policy (D10): polls and cancels both follow it.
        """
        if age >= self.not_found_grace or count > self.not_found_limit:
            return None
        return max(0.1 * 2.0 ** (count - 1), self.base_interval(age))

    def check_interval(self, age: float) -> float:
        """In list rounds, seconds until the ``failed`` and ``cancelled`` lists are read
        again (how a run that ended so is noticed), when the youngest block of runs is
        ``age`` seconds old: about its age, at least a second, at most twice ``max_interval``."""
        return min(max(1.0, age), 2.0 * self.max_interval)

    def interval(self, age: float) -> float:
        """Seconds until the next poll of a run that is ``age`` seconds old (jittered)."""
        return self.base_interval(age) * (1.0 + random.uniform(-self.jitter, self.jitter))


@dataclasses.dataclass
class PollStats:
    """Counters of what the poller did; handy to measure a strategy.

    ``final_fetches`` counts runs fetched once more for their output;
    ``results_from_lists`` counts runs whose output came with a ``completed`` list page.
    """

    gets: int = 0
    final_fetches: int = 0
    results_from_lists: int = 0
    list_pages: int = 0
    list_rounds: int = 0
    transient_errors: int = 0
    strategy: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def requests(self) -> int:
        """Every request the poller sent."""
        return self.gets + self.final_fetches + self.list_pages


class RateLimiter:
    """Spaces requests ``1/rate`` apart, allowing a short burst."""

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        self._clock = clock
        self._step = 1.0 / rate
        self._burst = burst * self._step
        self._next = -math.inf
        self.waiting = 0
        """Requests held back now."""

    async def acquire(self) -> None:
        now = self._clock.now()
        slot = max(self._next, now - self._burst)
        self._next = slot + self._step
        if slot > now:
            self.waiting += 1
            try:
                await self._clock.sleep(slot - now)
            finally:
                self.waiting -= 1
