"""The local server's state: runs of every primitive, their lifecycle, listing, and
idempotency keys.

Runs move on their own: each background run has its transitions scheduled on
a heap, and the store applies the due ones before every request
(:meth:`RunStore.advance`). No task or timer exists per run, so ten thousand
runs cost ten thousand small records and nothing more.

What a long-lived server holds stays bounded: idempotency records expire after
``idempotency_ttl`` seconds of the store's clock (purged oldest first, as they
were made in order), and with ``max_runs`` the oldest finished runs are evicted.
Run ids are random (``secrets``), never drawn from the seeded RNG, so that two
server processes never hand out the same id.

Nothing here knows a primitive by name: a run carries its
:class:`~._primitive.ServerPrimitive`, whose fields say what its record looks
like, and each primitive's runs are indexed (by sequence, by status) apart, so
that listing one never walks another's.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import heapq
import random
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .._clock import SYSTEM_CLOCK, Clock
from .._status import TERMINAL_STATUSES
from ._config import ServerConfig
from ._primitive import FAIL_MARKER, CreateRequest, Outcome, ServerPrimitive
from ._validation import ListQuery

__all__ = ["IdempotencyConflict", "Run", "RunStore"]

_encode = msgspec.json.Encoder().encode


@dataclass(eq=False)
class Run:
    """One stored run of any primitive.

    Attributes:
        primitive: what kind of run it is.
        fields: the request fields its record echoes (``categories``, ``json_schema``...).
        outcome: what the stand-in model answered at create time.
    """

    primitive: ServerPrimitive[Any]
    seq: int
    id: str
    file: dict[str, str]
    model: str
    fields: dict[str, Any]
    created_at: str
    created_wall: float
    created_mono: float
    run_time: float
    will_fail: bool
    outcome: Outcome
    idempotency_key: str | None = None
    status: str = "queued"
    error: dict[str, Any] | None = None
    terminal_wall: float | None = None
    terminal_mono: float | None = None
    started_wall: float | None = None  # when it moved to in_progress
    _cache: dict[bool, bytes] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        """Whether the run will not change again."""
        return self.status in TERMINAL_STATUSES

    @property
    def view(self) -> dict[str, Any]:
        """What list filters look at: ``file`` and the echoed request fields."""
        return {"file": self.file, **self.fields}

    def to_dict(self, include_output: bool = True) -> dict[str, Any]:
        """The record as the API returns it (D3, D9, D15)."""
        primitive = self.primitive
        completed = self.status == "completed"
        if completed and include_output:
            output: Any = self.outcome.output
        elif self.terminal or not include_output:
            output = primitive.empty_output
        else:
            output = primitive.placeholder
        record: dict[str, Any] = {}
        if primitive.object_name is not None:
            record["object"] = primitive.object_name
        record["id"] = self.id
        if primitive.has_file:
            record["file"] = self.file
        if primitive.has_model:
            record["model"] = self.model
        record.update(self.fields)
        record[primitive.result_field] = output
        record["status"] = self.status
        record["error"] = self.error
        if primitive.has_consensus:
            record["consensus"] = self.outcome.consensus if completed and include_output else None
        if primitive.has_usage:
            record["usage"] = {"credits": self.outcome.credits} if completed else None
        record["created_at"] = self.created_at
        if primitive.has_timestamps:
            record["started_at"] = _iso(self.started_wall) if self.started_wall else None
            record["completed_at"] = _iso(self.terminal_wall) if self.terminal_wall else None
        return record

    def to_json(self, include_output: bool = True) -> bytes:
        """The encoded record, cached until the status changes."""
        cached = self._cache.get(include_output)
        if cached is None:
            cached = self._cache[include_output] = _encode(self.to_dict(include_output))
        return cached

    def set_status(self, status: str) -> None:
        """Move to ``status``, stamping the time when it is terminal."""
        self.status = status
        self._cache.clear()
        if status == "in_progress":
            self.started_wall = time.time()
        if status in TERMINAL_STATUSES:
            self.terminal_wall = time.time()
            self.terminal_mono = time.monotonic()


class IdempotencyConflict(Exception):
    """An idempotency key was reused with a different body."""


@dataclass
class _KeyEntry:
    body_hash: str
    run_id: str
    expires: float


def new_run_id(prefix: str) -> str:
    """A fresh run id in the API's shape (``prefix`` and 16 hex digits), from ``secrets``."""
    return prefix + secrets.token_hex(8)


@dataclass
class _Index:
    """One primitive's runs, as sorted sequence numbers: all, and by status; and the
    sequence number of every id it ever held (a deleted run's id stays a cursor)."""

    all: list[int] = field(default_factory=list)
    by_status: dict[str, list[int]] = field(default_factory=dict)
    seq_of: dict[str, int] = field(default_factory=dict)


class RunStore:
    """All runs of one local server, of every primitive.

    ``clock`` moves runs on and decides when idempotency records expire (the
    system clock by default; a ``ManualClock`` in tests).
    """

    def __init__(self, config: ServerConfig, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.clock = clock
        self._rng = random.Random(config.seed)
        self._runs: dict[str, Run] = {}
        self._by_seq: dict[int, Run] = {}
        self._indexes: dict[str, _Index] = {}
        self._events: list[tuple[float, int, str]] = []
        self._keys: dict[str, _KeyEntry] = {}
        self._next_seq = 0
        self.created = 0

    def _index_of(self, primitive: ServerPrimitive[Any]) -> _Index:
        index = self._indexes.get(primitive.name)
        if index is None:
            index = self._indexes[primitive.name] = _Index()
        return index

    # -- lifecycle ------------------------------------------------------------

    def advance(self, now: float | None = None) -> None:
        """Apply every scheduled transition that is due."""
        now = self.clock.now() if now is None else now
        events = self._events
        while events and events[0][0] <= now:
            _, seq, status = heapq.heappop(events)
            run = self._by_seq.get(seq)
            if run is not None and not run.terminal:
                self._move(run, status)

    def _move(self, run: Run, status: str) -> None:
        self._unindex(run)
        run.set_status(status)
        if status == "failed":
            run.error = run.outcome.error or _marker_error(run.primitive)
        self._index(run)

    def _index(self, run: Run) -> None:
        by_status = self._index_of(run.primitive).by_status
        bisect.insort(by_status.setdefault(run.status, []), run.seq)

    def _unindex(self, run: Run) -> None:
        seqs = self._index_of(run.primitive).by_status.get(run.status, [])
        i = bisect.bisect_left(seqs, run.seq)
        if i < len(seqs) and seqs[i] == run.seq:
            del seqs[i]

    # -- create ---------------------------------------------------------------

    def create(
        self,
        primitive: ServerPrimitive[Any],
        req: CreateRequest,
        *,
        idempotency_key: str | None,
        body_hash: str,
    ) -> tuple[Run, bool]:
        """Create a run, or replay the one made with the same idempotency key.

        ``body_hash`` identifies the request (the route included). Returns
        ``(run, replayed)``. Raises :class:`IdempotencyConflict` when the key was
        used with a different body.
        """
        if idempotency_key is not None:
            now = self.clock.now()
            self._expire_keys(now)
            entry = self._keys.get(idempotency_key)
            if entry is not None:
                if entry.body_hash != body_hash:
                    raise IdempotencyConflict(idempotency_key)
                existing = self._runs.get(entry.run_id)
                if existing is not None:
                    return existing, True
                del self._keys[idempotency_key]  # its run was deleted or evicted
        run = self._new_run(primitive, req, idempotency_key)
        if idempotency_key is not None:
            expires = now + self.config.idempotency_ttl
            self._keys[idempotency_key] = _KeyEntry(body_hash, run.id, expires)
        self._evict()
        return run, False

    @property
    def idempotency_keys(self) -> int:
        """How many idempotency records are held (expired ones go on the next keyed create)."""
        return len(self._keys)

    def _expire_keys(self, now: float) -> None:
        # Every record lives for the same time and dicts keep insertion order,
        # so the expired ones are at the front.
        keys = self._keys
        while keys:
            key, entry = next(iter(keys.items()))
            if entry.expires > now:
                return
            del keys[key]

    def _evict(self) -> None:
        """Drop the oldest finished runs while more than ``max_runs`` are stored."""
        limit = self.config.max_runs
        if limit is None:
            return
        while len(self._runs) > limit:
            oldest = self._oldest_terminal()
            if oldest is None:
                return  # everything left is in flight: never evicted
            self.delete(oldest)
            # A deleted run's id stays a valid list cursor; an evicted one is
            # forgotten (an unknown cursor gives the first page, as in the API).
            del self._index_of(oldest.primitive).seq_of[oldest.id]

    def _oldest_terminal(self) -> Run | None:
        heads = [
            seqs[0]
            for index in self._indexes.values()
            for s in TERMINAL_STATUSES
            if (seqs := index.by_status.get(s))
        ]
        return self._by_seq[min(heads)] if heads else None

    def _new_run(
        self, primitive: ServerPrimitive[Any], req: CreateRequest, idempotency_key: str | None
    ) -> Run:
        seq = self._next_seq
        self._next_seq += 1
        now_wall, now_mono = time.time(), self.clock.now()
        low, high = self.config.run_time_range
        run_time = low if low == high else self._rng.uniform(low, high)
        raw = req.content or req.url.encode()
        outcome = primitive.compute(req)
        run = Run(
            primitive=primitive,
            seq=seq,
            id=new_run_id(primitive.id_prefix),
            file=primitive.file_of(req)
            if primitive.file_of is not None
            else {
                "id": f"file_{hashlib.sha256(raw).hexdigest()[:16]}",
                "filename": req.filename,
                "mime_type": req.mime_type,
            },
            model=req.model,
            fields=primitive.record(req),
            created_at=_iso(now_wall),
            created_wall=now_wall,
            created_mono=now_mono,
            run_time=run_time,
            will_fail=FAIL_MARKER in raw or outcome.error is not None,
            outcome=outcome,
            idempotency_key=idempotency_key,
        )
        index = self._index_of(primitive)
        self._runs[run.id] = run
        index.seq_of[run.id] = seq
        self._by_seq[seq] = run
        index.all.append(seq)
        self._index(run)
        self.created += 1
        started = now_mono + self.config.queue_time
        heapq.heappush(self._events, (started, seq, "in_progress"))
        final = "failed" if run.will_fail else "completed"
        heapq.heappush(self._events, (started + run_time, seq, final))
        # Not advanced here: a background create answers the run as created, `queued`
        # (D2), even when it leaves the queue at once; the next request moves it on.
        return run

    def finish_time(self, run: Run) -> float:
        """The monotonic time at which ``run`` reaches its terminal state on its own."""
        return run.created_mono + self.config.queue_time + run.run_time

    # -- read, cancel, delete -------------------------------------------------

    def get(self, primitive: ServerPrimitive[Any], run_id: str) -> Run | None:
        """The run of ``primitive`` with this id, or ``None``."""
        run = self._runs.get(run_id)
        return run if run is not None and run.primitive is primitive else None

    def cancel(self, run: Run) -> Run:
        """Cancel a run that is not terminal; a terminal run is left as it is (D4)."""
        if not run.terminal:
            self._move(run, "cancelled")
        return run

    def delete(self, run: Run) -> None:
        """Remove a run for good, cancelling it first when in flight (D5)."""
        self.cancel(run)
        self._unindex(run)
        del self._runs[run.id]
        del self._by_seq[run.seq]
        seqs = self._index_of(run.primitive).all
        del seqs[bisect.bisect_left(seqs, run.seq)]

    def __len__(self) -> int:
        return len(self._runs)

    def __iter__(self) -> Any:
        return iter(list(self._runs.values()))

    # -- list -----------------------------------------------------------------

    def page(
        self, primitive: ServerPrimitive[Any], q: ListQuery
    ) -> tuple[list[Run], str | None, str | None]:
        """One page of ``primitive``'s runs for ``q``: ``(runs, before, after)`` with the
        cursors of D12. An id that is not one of its runs' is no cursor (a first page)."""
        index = self._index_of(primitive)
        seqs = index.by_status.get(q.status, []) if q.status else index.all
        cursor_id = q.after or q.before
        cursor = index.seq_of.get(cursor_id) if cursor_id else None
        backward = q.before is not None and cursor is not None
        # Walking "down" means towards older runs (smaller sequence numbers).
        down = (q.order == "desc") != backward
        if cursor is None:
            start = len(seqs) - 1 if down else 0
        elif down:
            start = bisect.bisect_left(seqs, cursor) - 1
        else:
            start = bisect.bisect_right(seqs, cursor)
        found = self._walk(seqs, start, -1 if down else 1, q)
        more = len(found) > q.limit
        page = found[: q.limit]
        if backward:
            page.reverse()
            after = page[-1].id if page else None
            before = page[0].id if page and more else None
        else:
            after = page[-1].id if page and more else None
            before = page[0].id if page and cursor is not None else None
        return page, before, after

    def _walk(self, seqs: list[int], i: int, step: int, q: ListQuery) -> list[Run]:
        found: list[Run] = []
        prefix = q.filename.lower() if q.filename else None
        while 0 <= i < len(seqs) and len(found) <= q.limit:
            run = self._by_seq[seqs[i]]
            i += step
            if prefix is not None and not run.file["filename"].lower().startswith(prefix):
                continue
            if q.from_date or q.to_date:
                day = dt.datetime.fromtimestamp(run.created_wall, dt.timezone.utc).date()
                if (q.from_date and day < q.from_date) or (q.to_date and day > q.to_date):
                    continue
            if q.matches is not None and not q.matches(run.view):
                continue
            found.append(run)
        return found


def _marker_error(primitive: ServerPrimitive[Any]) -> dict[str, Any]:
    return {
        "code": "DOCUMENT_UNREADABLE",
        "message": "The document asked to fail (it contains the failure marker).",
        "details": {"stage": primitive.stage, "marker": FAIL_MARKER.decode()},
    }


def _iso(wall: float) -> str:
    stamp = dt.datetime.fromtimestamp(wall, dt.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
