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

    The default is built to send few requests: a run waited on alone is polled every
    2.3 s, and from an age of 23 s on at a tenth of its age (at most 10 s apart), and
    every poll asks for the output (``poll_output``), so the poll that finds the run
    completed ends the wait. Measured (``benchmarks/bench_single_run.py``; requests
    per run with its create, p95 lag from its end to the result): 4.1 requests and
    2.3 s for runs of 2-10 s, 14.9 and 3.7 s for runs of 10-60 s, where a fixed 2 s
    loop of full ``GET`` requests sends 4.4 and 18.9 (p95 1.9 s). A run under 2 s costs 2
    requests (its create and one poll, at 2.3 s; p95 1.9 s): no policy sends fewer.
    Three presets shift the trade-off:

    * :meth:`responsive` (the default before polls asked for the output): a quarter
      of the run's age, 0.25-2 s apart, light polls and one full fetch: p95 lags of
      0.33 s (runs of 0.3-2 s) to 1.8 s (10-60 s), for 6.9, 13.2 and 29 requests per
      run of 0.3-2, 2-10 and 10-60 s;
    * :meth:`low_latency`: a tenth of the run's age, 0.1-1 s apart, light polls:
      0.16 s to 1 s, for 13, 27 and 61 requests;
    * :meth:`economical`: every 4 s, then a third of the run's age (at most 20 s
      apart), polls with the output: 3.0 requests per run of 2-10 s and 8.3 per run
      of 10-60 s, for lags of 4 to 14 s.

    The contract's light polls (D9: ``include_output=false`` while in flight, then one
    full fetch) are *not* the default for per-run polls, deliberately: they cost one
    request more per run (a run under 2 s costs at least 3, against a 2 s loop's 2),
    while an in-flight run's output is only a placeholder, so a poll asking for it is
    hardly larger; the poll that finds a run completed *is* the one full fetch D9 asks
    for. Light polls remain the better choice where many polls are sent per run
    (:meth:`responsive`, :meth:`low_latency`): each is a little smaller.

    Many runs of one primitive are watched with list rounds instead (see
    ``strategy``), whose cost does not depend on these intervals.

    Attributes:
        min_interval, max_interval: bounds of the per-run polling interval (seconds);
            the first poll of a new run comes ``min_interval`` after its creation.
        growth: the interval as a fraction of the run's age, so that the detection
            lag stays a small fraction of a run's duration.
        jitter: random spread of each interval (a fraction of it).
        poll_output: whether per-run polls ask for the output (``include_output``).
            On by default: the poll that finds a run completed ends the wait. Off, polls
            are light and a completed run is fetched once more, in full (contract D9):
            one request more per run, a little fewer bytes per poll.
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

    min_interval: float = 2.3
    max_interval: float = 10.0
    growth: float = 0.1
    jitter: float = 0.05
    poll_output: bool = True
    max_in_flight: int = 64
    max_rate: float = 5000.0
    strategy: Literal["auto", "get", "list"] = "auto"
    list_min_runs: int = 20
    list_interval: float = 0.4
    not_found_grace: float = 10.0
    not_found_limit: int = 5
    request_timeout: float = 30.0

    @classmethod
    def responsive(cls) -> PollPolicy:
        """Results sooner, for several times the requests: polls at a quarter of a run's
        age, 0.25-2 s apart, light (the output is fetched once, when completed)."""
        return cls(min_interval=0.25, growth=0.25, max_interval=2.0, jitter=0.1, poll_output=False)

    @classmethod
    def low_latency(cls) -> PollPolicy:
        """Results soonest, for the most requests: light polls at a tenth of a run's age,
        0.1-1 s apart, and list rounds every 0.25 s."""
        return cls(
            min_interval=0.1,
            growth=0.1,
            max_interval=1.0,
            jitter=0.1,
            poll_output=False,
            list_interval=0.25,
        )

    @classmethod
    def economical(cls) -> PollPolicy:
        """Fewest requests, for later results: polls every 4 s, then at a third of a
        run's age (at most 20 s apart), asking for the output, and list rounds every
        second."""
        return cls(min_interval=4.0, growth=0.3, max_interval=20.0, list_interval=1.0)

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

        The one 404 grace policy (D10): polls and cancels both follow it. The waits are
        0.1 s, doubling (0.1, 0.2, 0.4, ...), whatever the polling intervals: the grace
        is for read-after-write lag, which a slow poll schedule does not make longer, so
        a mistyped run id is refused after about 3 s with the default limit of 5.
        """
        if age >= self.not_found_grace or count > self.not_found_limit:
            return None
        return 0.1 * 2.0 ** (count - 1)

    def check_interval(self, age: float) -> float:
        """In list rounds, seconds until the ``failed`` and ``cancelled`` lists are read
        again (how a run that ended so is noticed), when the youngest block of runs is
        ``age`` seconds old: about its age, at least a second, at most 4 s (or twice
        ``max_interval``, if shorter), however sparse the per-run polls are."""
        return min(max(1.0, age), 4.0, 2.0 * self.max_interval)

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
