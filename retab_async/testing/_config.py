"""Knobs of the local server: run times, the seed, limits, timeouts and fault injection."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Collection
from typing import Literal

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_LOG_LIMIT",
    "FAULT_KINDS",
    "FaultConfig",
    "FaultKind",
    "Operation",
    "ServerConfig",
]

DEFAULT_API_KEY = "sk_local_test"
DEFAULT_LOG_LIMIT = 10_000

FaultKind = Literal["rate_limit", "server_error", "disconnect", "slow", "truncated", "not_found"]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "rate_limit",
    "server_error",
    "disconnect",
    "slow",
    "truncated",
    "not_found",
)

Operation = Literal[
    "create",
    "get",
    "list",
    "cancel",
    "delete",
    "stream",
    "sources",
    "upload",
    "upload_content",
    "complete_upload",
    "download_link",
    "download",
]
OPERATIONS: tuple[Operation, ...] = (
    "create",
    "get",
    "list",
    "cancel",
    "delete",
    "stream",
    "sources",
    "upload",
    "upload_content",
    "complete_upload",
    "download_link",
    "download",
)


_READS_BY_ID = frozenset({"get", "cancel", "sources"})
"""The operations that read a run by id: those a read-after-write ``404`` applies to."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class FaultConfig:
    """Per-request fault rates (probabilities in 0..1), drawn from the server's seeded RNG.

    Attributes:
        rate_limit: answer ``429`` with ``Retry-After: retry_after`` before doing anything.
        server_error: answer ``500``, ``502`` or ``503`` (JSON or plain text) before doing anything.
        disconnect: do the work, then drop the connection without a response.
        slow: do the work, then wait ``slow_seconds`` before answering.
        truncated: do the work, then send a JSON body cut short.
        not_found: answer ``404`` to a read of a run younger than ``not_found_window``
            seconds (read-after-write lag, decision D10).
        operations: which operations faults apply to (default: all).
        limit: inject at most this many faults in all (``None``: no limit).
    """

    rate_limit: float = 0.0
    server_error: float = 0.0
    disconnect: float = 0.0
    slow: float = 0.0
    truncated: float = 0.0
    not_found: float = 0.0
    retry_after: float = 1.0
    slow_seconds: float = 2.0
    not_found_window: float = 2.0
    operations: Collection[Operation] = OPERATIONS
    limit: int | None = None
    _active: bool = dataclasses.field(init=False, repr=False, compare=False, default=False)

    def __post_init__(self) -> None:
        for kind in FAULT_KINDS:
            rate = getattr(self, kind)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"fault rate {kind}={rate!r} is not between 0 and 1")
        unknown = set(self.operations) - set(OPERATIONS)
        if unknown:
            raise ValueError(f"unknown operations {sorted(unknown)}; expected {OPERATIONS}")
        # Read on every request: computed once.
        object.__setattr__(self, "_active", any(getattr(self, k) > 0 for k in FAULT_KINDS))

    @classmethod
    def mixed(cls, rate: float, **overrides: object) -> FaultConfig:
        """Spread ``rate`` (the chance of any fault per request) evenly over every fault kind."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate {rate!r} is not between 0 and 1")
        share = rate / len(FAULT_KINDS)
        values: dict[str, object] = dict.fromkeys(FAULT_KINDS, share)
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def active(self) -> bool:
        """Whether any fault can happen."""
        return self._active

    def draw(self, rng: random.Random, operation: str | None) -> FaultKind | None:
        """Pick the fault for one request (at most one), or ``None``."""
        if operation not in self.operations:
            return None
        roll = rng.random()
        for kind in FAULT_KINDS:
            if kind == "not_found" and operation not in _READS_BY_ID:
                continue
            rate = getattr(self, kind)
            if roll < rate:
                return kind
            roll -= rate
        return None


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """How the local server behaves.

    Attributes:
        api_key: the key clients must send (``Authorization: Bearer`` or ``Api-Key``).
        queue_time: seconds a background run stays ``queued``.
        run_time: seconds a run stays ``in_progress``: a number, or a ``(low, high)``
            range drawn from the seeded RNG.
        seed: seeds run times, the classifier's draws and faults, so that a run is
            reproducible. Run ids do not depend on it: they are random, so that no two
            server processes ever hand out the same id.
        faults: fault injection rates.
        record_bodies: keep request bodies in the request log (off by default: a log of
            large documents costs memory; turn it on to assert what was sent).
        log_limit: keep only the latest this many requests in the log (``None``: all,
            which grows without bound).
        max_runs: keep at most this many runs; beyond it the oldest finished runs are
            evicted first (``None``: keep every run). Runs still in flight are never
            evicted, so the store may hold more while more runs than this are in flight.
        idempotency_ttl: seconds an ``Idempotency-Key`` is remembered (contract: 24 h).
        stream_delay: seconds between the lines of an extraction stream (the
            partial records, then the final one).
        max_body_size: request bodies larger than this get ``413``.
        max_json_depth: create bodies nested deeper than this get ``422``.
        header_timeout: seconds a connection has to deliver a complete request head, from
            when it opens or from its previous response; an idle keep-alive connection is
            closed after the same time.
        body_timeout: seconds a request has to deliver its whole body once its head arrived
            (on the upload route: seconds between two pieces of the body).
        upload_ttl: seconds an upload session stays open after ``POST /v1/files/upload``
            (after it, the upload and its ``complete`` get ``410``).
        upload_host: the host name of the upload URLs it hands out (default: the one the
            client reached it by); another name for the same server makes the upload
            URL a foreign origin, as a signed storage URL is.
        max_upload_size: larger uploads are refused at reservation (``422``). The
            upload route alone takes bodies above ``max_body_size``.
    """

    api_key: str = DEFAULT_API_KEY
    queue_time: float = 0.0
    run_time: float | tuple[float, float] = 0.05
    seed: int = 0
    faults: FaultConfig = FaultConfig()
    record_bodies: bool = False
    log_limit: int | None = DEFAULT_LOG_LIMIT
    max_runs: int | None = None
    idempotency_ttl: float = 24 * 3600.0
    stream_delay: float = 0.01
    max_body_size: int = 32 * 1024 * 1024
    max_json_depth: int = 64
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    upload_ttl: float = 3600.0
    upload_host: str | None = None
    max_upload_size: int = 5 * 1024**3

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("api_key must not be empty")
        for name in ("log_limit", "max_runs"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 (or None for no limit)")
        if self.max_json_depth < 1:
            raise ValueError("max_json_depth must be at least 1")
        if self.stream_delay < 0:
            raise ValueError("stream_delay must be >= 0")
        for name in ("idempotency_ttl", "header_timeout", "body_timeout", "upload_ttl"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")
        if self.queue_time < 0:
            raise ValueError("queue_time must be >= 0")
        low, high = self.run_time_range
        if low < 0 or high < low:
            raise ValueError(f"run_time {self.run_time!r} is not a valid duration or range")

    @property
    def run_time_range(self) -> tuple[float, float]:
        """The run time as a ``(low, high)`` range."""
        if isinstance(self.run_time, tuple):
            return self.run_time
        return (self.run_time, self.run_time)
