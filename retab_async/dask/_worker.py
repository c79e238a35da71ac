"""The worker side: one :class:`RetabClient` per Dask worker, and the partition runner.

:class:`RetabPlugin` is a ``distributed.WorkerPlugin``. Its ``setup`` runs on
the worker's event loop: it reads the API key from the worker's environment
(or the worker's Dask config, ``retab.api-key``) and opens one client there,
with one connection pool, one poller and one rate-limit pause for every task of
the worker; ``teardown`` closes it when the worker shuts down. The plugin is
pickled and sent through the scheduler, so it carries the key's *source*, never
the key.

A partition is one Dask task. Dask runs it in one of the worker's threads; the
task hands the partition to the worker's event loop and blocks until it is done.
On the loop, every document is an async task; a per-worker semaphore bounds how
many runs are in flight for all partitions of the worker together.

Replays: every create carries an idempotency key made of the batch id and the
input key (:meth:`Job.idempotency_key`). When Dask runs a partition again (its
worker died, or it was rescheduled), the server answers the creates it already
saw with the same runs, and the replay waits for those.

Cancellation: Dask cannot stop a running task; when its key is released
(cancelled futures, a closed client) the worker moves it from ``executing`` to
``cancelled``. The plugin sees that transition and cancels the partition:
documents in flight are cancelled on the server (shielded, bounded in time) and
documents not started are not started. A worker that shuts down is different:
its runs are left alone and the task asks to be rescheduled, so that the replay
elsewhere re-attaches to them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Iterable
from typing import Any

import anyio
import dask.config
import distributed
from distributed.diagnostics.plugin import WorkerPlugin

from .._client import RetabClient
from .._errors import RetabError, RunCancelled, RunFailed, UsageError
from .._http.retry import RetryPolicy
from .._runs.handle import CANCEL_GRACE, RunHandle
from .._runs.polling import PollPolicy
from .._status import FAILURE_STATUSES
from ._jobs import Job, input_key

__all__ = ["RetabPlugin", "WorkerStats", "run_partition"]

_CANCELLED_BEFORE_START = "cancelled: the Dask task was released before this input started"


@dataclasses.dataclass
class WorkerStats:
    """What one worker's plugin has done so far (``RetabPlugin.stats``).

    Attributes:
        partitions: partitions run (finished or not).
        started: creates answered (a replayed create counts again).
        in_flight: runs started and not yet finished.
        completed, failed: runs that ended so.
        cancelled: runs cancelled on the server because their task was released.
        poll_requests: requests the worker's poller sent.
    """

    partitions: int = 0
    started: int = 0
    in_flight: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    poll_requests: int = 0


class _Partition:
    """One partition in progress: its cancel scope, and whether cancelling it
    should cancel its runs on the server (not when the worker shuts down)."""

    def __init__(self) -> None:
        self.scope = anyio.CancelScope()
        self.cancel_runs = True

    def cancel(self, *, cancel_runs: bool) -> None:
        self.cancel_runs = cancel_runs
        self.scope.cancel()


class _Runner:
    """Runs partitions on one open client, on the client's event loop."""

    def __init__(self, client: RetabClient, concurrency: int, stats: WorkerStats) -> None:
        self.client = client
        self.limit = anyio.Semaphore(concurrency)
        self.stats = stats

    async def run(self, job: Job, items: list[Any], partition: _Partition) -> list[dict[str, Any]]:
        """Every input's row, in input order. Cancelling ``partition`` cancels what is
        in flight; inputs not started then get a ``cancelled`` row."""
        self.stats.partitions += 1
        rows: list[dict[str, Any] | None] = [None] * len(items)
        with partition.scope:
            async with anyio.create_task_group() as tg:
                for index, raw in enumerate(items):
                    tg.start_soon(self._one, job, index, raw, rows, partition)
        return [row or _not_started(job, items, i) for i, row in enumerate(rows)]

    async def _one(
        self,
        job: Job,
        index: int,
        raw: Any,
        rows: list[dict[str, Any] | None],
        partition: _Partition,
    ) -> None:
        key, document = input_key(index, raw)
        handle: RunHandle[Any] | None = None
        try:
            async with self.limit:
                handle = await self._start(job, key, document)
                record = await handle.settle(job.timeout, cancel_on_timeout=True)
        except RetabError as exc:
            rows[index] = job.row(key, error=exc, run_id=handle.id if handle else None)
        except anyio.get_cancelled_exc_class():
            if handle is not None:
                rows[index] = await self._cancelled(job, key, handle, partition.cancel_runs)
            raise
        else:
            rows[index] = job.row(key, record=record, error=_error_of(record))
            self._count(record.status)
        finally:
            if handle is not None:
                self.stats.in_flight -= 1

    async def _start(self, job: Job, key: str, document: Any) -> RunHandle[Any]:
        resource = getattr(self.client, job.primitive)
        # A create in flight is let finish, so that its run is known and can be
        # cancelled: cancelling the request itself could leave a run nobody sees.
        with anyio.CancelScope(shield=True):
            handle: RunHandle[Any] = await resource.start(
                document, idempotency_key=job.idempotency_key(key), **job.options
            )
        self.stats.started += 1
        self.stats.in_flight += 1
        return handle

    async def _cancelled(
        self, job: Job, key: str, handle: RunHandle[Any], cancel_run: bool
    ) -> dict[str, Any]:
        if not cancel_run or handle.done:
            return job.row(key, error=RunCancelled(run_id=handle.id), run_id=handle.id)
        with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_GRACE):
            try:
                record = await handle.cancel()
            except RetabError as exc:
                return job.row(key, error=exc, run_id=handle.id)
            self._count(record.status)
            if record.status == "cancelled":
                self.stats.cancelled += 1
            return job.row(key, record=record, error=_error_of(record))
        return job.row(key, error=RunCancelled(run_id=handle.id), run_id=handle.id)

    def _count(self, status: str) -> None:
        if status == "completed":
            self.stats.completed += 1
        elif status in FAILURE_STATUSES:
            self.stats.failed += 1


class RetabPlugin(WorkerPlugin):
    """Gives every Dask worker one open :class:`RetabClient` for all its tasks.

    Register it once per cluster, before computing::

        client.register_plugin(RetabPlugin(concurrency=32))

    Workers that join later get it too. The API key is read on each worker, from
    the environment variable named by ``api_key_env`` (``RETAB_API_KEY``), else
    from the worker's Dask config ``retab.api-key``; it is never pickled, shown
    in the dashboard or logged.

    Args:
        base_url: the API's base URL; defaults to ``$RETAB_API_BASE_URL`` on the
            worker, then the public API.
        concurrency: runs in flight per worker, over all its partitions.
        api_key_env: the environment variable that holds the key on the workers.
        name: the plugin's name; a batch names the plugin it runs on (``plugin=``),
            so that one cluster can talk to two accounts or servers.
        timeout, max_connections, retry, poll, allow_insecure_http: as for
            :class:`RetabClient`.

    Raises:
        UsageError: bad arguments here; on a worker, no API key (registration
            then fails with that error).
    """

    idempotent = False

    def __init__(
        self,
        base_url: str | None = None,
        *,
        concurrency: int = 32,
        api_key_env: str = "RETAB_API_KEY",
        name: str = "retab",
        timeout: float = 60.0,
        max_connections: int = 100,
        retry: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise UsageError(f"concurrency must be a positive integer, not {concurrency!r}")
        if not api_key_env or not isinstance(api_key_env, str):
            raise UsageError("api_key_env must name an environment variable")
        self.name = name
        self.base_url = base_url
        self.concurrency = concurrency
        self.api_key_env = api_key_env
        self._client_options: dict[str, Any] = {
            "timeout": timeout,
            "max_connections": max_connections,
            "retry": retry,
            "poll": poll,
            "allow_insecure_http": allow_insecure_http,
        }
        self._reset()

    def _reset(self) -> None:
        self.stats = WorkerStats()
        self._worker: distributed.Worker | None = None
        self._runner: _Runner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._partitions: dict[Any, _Partition] = {}

    def __repr__(self) -> str:
        where = self.base_url or "$RETAB_API_BASE_URL"
        return f"<RetabPlugin {self.name!r} {where} concurrency={self.concurrency}>"

    def __getstate__(self) -> dict[str, Any]:
        # Only the configuration travels; a worker's client and loop stay where they are.
        state = dict(self.__dict__)
        for name in ("stats", "_worker", "_runner", "_loop", "_partitions"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()

    # -- lifecycle (on the worker's event loop) -----------------------------------

    async def setup(self, worker: distributed.Worker) -> None:
        """Open this worker's client. Raises :class:`UsageError` without an API key."""
        client = RetabClient(self._api_key(), self.base_url, **self._client_options)
        await client.open()
        self._worker = worker
        self._loop = asyncio.get_running_loop()
        self._runner = _Runner(client, self.concurrency, self.stats)

    async def teardown(self, worker: distributed.Worker) -> None:
        """Stop this worker's partitions (their runs keep going, for the replay) and
        close its client."""
        runner, self._runner = self._runner, None
        for partition in list(self._partitions.values()):
            partition.cancel(cancel_runs=False)
        if runner is not None:
            await runner.client.aclose()

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        """Cancel a partition when Dask releases its task while it runs."""
        # Releasing an executing task is reported as a transition to "released";
        # the task's state then reads "cancelled" until it returns.
        if key in self._partitions and self._released(key):
            self._partitions[key].cancel(cancel_runs=True)

    def _api_key(self) -> str:
        key = os.environ.get(self.api_key_env) or dask.config.get("retab.api-key", None)
        if not key:
            raise UsageError(
                f"no Retab API key on this worker: set {self.api_key_env} in the workers' "
                "environment or retab.api-key in their Dask config"
            )
        return str(key)

    # -- running partitions ----------------------------------------------------------

    def run_threadsafe(self, key: Any, job: Job, items: list[Any]) -> list[dict[str, Any]]:
        """Run one partition on the worker's loop from a task thread; block until done.

        Raises :class:`distributed.Reschedule` when the worker shuts down meanwhile.
        """
        if self._loop is None or self._runner is None:
            raise UsageError(f"the Retab worker plugin {self.name!r} is not set up here")
        if _running_loop() is self._loop:
            raise UsageError("a Retab partition cannot block the worker's own event loop")
        future = asyncio.run_coroutine_threadsafe(self._run(key, job, items), self._loop)
        return future.result()

    async def _run(self, key: Any, job: Job, items: list[Any]) -> list[dict[str, Any]]:
        runner = self._runner
        if runner is None:
            raise distributed.Reschedule()
        partition = self._partitions[key] = _Partition()
        if self._released(key):
            partition.cancel(cancel_runs=True)
        try:
            rows = await runner.run(job, items, partition)
        finally:
            del self._partitions[key]
            self.stats.poll_requests = runner.client.poller.stats.requests
        if not partition.cancel_runs:
            raise distributed.Reschedule()
        return rows

    def _released(self, key: Any) -> bool:
        tasks = self._worker.state.tasks if self._worker is not None else {}
        task = tasks.get(key)
        return task is not None and task.state == "cancelled"


def run_partition(items: Iterable[Any], job: Job) -> list[dict[str, Any]]:
    """The Dask task: run one partition of inputs; one row per input, in order.

    On a distributed worker, it runs on the worker's :class:`RetabPlugin`.
    Under Dask's local schedulers (no cluster), it opens a client of its own
    from ``RETAB_API_KEY`` / ``RETAB_API_BASE_URL`` for the partition.

    Raises :class:`UsageError` on a worker without the plugin.
    """
    items = list(items)
    try:
        worker = distributed.get_worker()
    except ValueError:
        return anyio.run(_run_alone, job, items)
    plugin = worker.plugins.get(job.plugin)
    if not isinstance(plugin, RetabPlugin):
        raise UsageError(
            f"worker {worker.address} has no Retab plugin {job.plugin!r}; "
            f"call client.register_plugin(RetabPlugin(...)) first"
        )
    return plugin.run_threadsafe(worker.get_current_task(), job, items)


async def _run_alone(job: Job, items: list[Any]) -> list[dict[str, Any]]:
    async with RetabClient() as client:
        return await _Runner(client, 32, WorkerStats()).run(job, items, _Partition())


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _error_of(record: Any) -> RetabError | None:
    if record.status in FAILURE_STATUSES:
        return RunFailed(run_id=record.id, error=record.error, record=record)
    if record.status == "cancelled":
        return RunCancelled(run_id=record.id, record=record)
    return None


def _not_started(job: Job, items: list[Any], index: int) -> dict[str, Any]:
    row = job.row(input_key(index, items[index])[0])
    row["status"] = "cancelled"
    row["error"] = _CANCELLED_BEFORE_START
    return row
