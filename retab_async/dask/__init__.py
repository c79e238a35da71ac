"""Batches on a Dask distributed cluster: ``pip install "retab-async[dask]"``.

::

    import dask.bag as db
    from distributed import Client, progress
    from retab_async.dask import RetabPlugin, map_bag, result_meta

    client = Client(cluster)
    client.register_plugin(RetabPlugin(concurrency=32))  # key: $RETAB_API_KEY on each worker
    rows = map_bag(db.from_sequence(paths, npartitions=40), "classifications",
                   categories=["invoice", "receipt"], batch_id="2026-12-01")
    df = rows.to_dataframe(meta=result_meta()).persist()
    progress(df)

Dask schedules, retries and reports; this module gives each worker one open
:class:`~retab_async.RetabClient` (:class:`RetabPlugin`) and each input one
idempotency key made of the batch id and its key, so a task run again after a
worker died re-attaches to its runs instead of starting them twice. Cancelling
the computation (its futures, or closing the Dask client) cancels the runs in
flight on the server.
"""

from __future__ import annotations

from . import _require  # noqa: F401  # first: says what to install when Dask is missing
from ._collections import map_bag as map_bag
from ._collections import map_dataframe as map_dataframe
from ._collections import map_futures as map_futures
from ._jobs import Job as Job
from ._jobs import result_columns as result_columns
from ._jobs import result_meta as result_meta
from ._worker import RetabPlugin as RetabPlugin
from ._worker import WorkerStats as WorkerStats
from ._worker import run_partition as run_partition

__all__ = [
    "Job",
    "RetabPlugin",
    "WorkerStats",
    "map_bag",
    "map_dataframe",
    "map_futures",
    "result_columns",
    "result_meta",
    "run_partition",
]

for _cls in (Job, RetabPlugin, WorkerStats):
    _cls.__module__ = __name__
del _cls
