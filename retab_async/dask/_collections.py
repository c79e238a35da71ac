"""The client side: a batch over a Dask Bag, a DataFrame column, or plain futures.

Each builds one Dask task per partition (or chunk) that runs
:func:`~retab_async.dask._worker.run_partition`; nothing runs until Dask
computes. The task keys are named ``retab-<primitive>-...``, so Dask's progress
bar and the dashboard's task stream show the batch partition by partition.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import dask.bag as db

from .._errors import UsageError
from .._runs.batch import BatchItem
from ._jobs import Job, make_job
from ._worker import run_partition

if TYPE_CHECKING:
    import dask.dataframe as dd
    import distributed

__all__ = ["map_bag", "map_dataframe", "map_futures"]


def map_bag(
    bag: db.Bag,
    primitive: str = "classifications",
    *,
    batch_id: str | None = None,
    timeout: float | None = None,
    plugin: str = "retab",
    **options: Any,
) -> db.Bag:
    """Run ``primitive`` on every document of ``bag``: a lazy Bag of result rows.

    Elements are documents (paths, ``https://`` URLs, ``(filename, bytes)``,
    ``MIMEData``) or ``BatchItem(key, document)``. Each row is a dict with
    ``key``, ``status``, ``run_id``, the primitive's output fields (for
    classifications ``category`` and ``reasoning``) and ``error``, in input
    order; ``.to_dataframe()`` turns the Bag into a DataFrame.

    One Dask task per partition: partition the bag into a few times as many
    partitions as workers, so that progress is visible and a lost worker costs
    little. ``batch_id`` names the batch; computing again with the same id
    re-attaches to the runs already started instead of starting them again
    (default: a fresh id per call). ``timeout`` bounds the wait for each run
    (the run is then cancelled). Other keyword arguments are the primitive's
    create options (``categories=...``, ``model=...``).

    Raises:
        UsageError: an unknown primitive, bad options, batch id or timeout.
    """
    if not isinstance(bag, db.Bag):
        raise UsageError(f"map_bag() takes a dask.bag.Bag, not {type(bag).__name__}")
    job = make_job(primitive, options, batch_id=batch_id, timeout=timeout, plugin=plugin)
    rows: db.Bag = bag.map_partitions(  # type: ignore[no-untyped-call]  # dask.bag is untyped
        run_partition, job, token=_token(job)
    )
    return rows


def map_dataframe(
    frame: dd.DataFrame | dd.Series,
    primitive: str = "classifications",
    *,
    column: str | None = None,
    key: str | None = None,
    filename: str | None = None,
    batch_id: str | None = None,
    timeout: float | None = None,
    plugin: str = "retab",
    **options: Any,
) -> dd.DataFrame:
    """Run ``primitive`` on a DataFrame column: a lazy DataFrame of results.

    ``column`` holds the documents (paths, URLs, ``MIMEData``, or bytes with a
    ``filename`` column naming them); pass a Series instead of a DataFrame to
    leave it out. ``key`` names a column of unique input keys (default: the
    document's path, URL or filename). The result has the input's index and
    partitions, and the columns of :func:`result_columns`, so
    ``frame.join(results)`` puts them side by side. Other arguments as for
    :func:`map_bag`.

    Raises:
        UsageError: a missing column, or as :func:`map_bag`.
    """
    import dask.dataframe as dd
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]  # stubs are optional

    job = make_job(primitive, options, batch_id=batch_id, timeout=timeout, plugin=plugin)
    if isinstance(frame, dd.Series):
        if column is not None:
            raise UsageError("pass column= with a DataFrame, not with a Series")
        frame = frame.to_frame(name="document")
        column = "document"
    if not isinstance(frame, dd.DataFrame):
        raise UsageError(f"map_dataframe() takes a Dask DataFrame or Series, not {type(frame)}")
    for role, name in (("column", column), ("key", key), ("filename", filename)):
        if (name is not None or role == "column") and name not in frame.columns:
            raise UsageError(f"{role}={name!r} is not a column of the DataFrame")
    meta = pd.DataFrame({name: pd.Series(dtype=object) for name in job.columns()})
    results: dd.DataFrame = frame.map_partitions(  # type: ignore[no-untyped-call]  # untyped
        _frame_partition,
        job,
        column,
        key,
        filename,
        meta=meta,
        enforce_metadata=False,
        token=_token(job),
    )
    return results


def map_futures(
    client: distributed.Client,
    documents: Iterable[Any],
    primitive: str = "classifications",
    *,
    chunk_size: int = 100,
    batch_id: str | None = None,
    timeout: float | None = None,
    plugin: str = "retab",
    **options: Any,
) -> list[distributed.Future[list[dict[str, Any]]]]:
    """Submit ``documents`` in chunks to ``client``: one future per chunk.

    Each future's result is the list of rows of its chunk (as :func:`map_bag`).
    Use ``distributed.as_completed``, ``client.gather`` or ``distributed.progress``
    on them; ``client.cancel(futures)`` cancels the runs in flight on the server.
    Other arguments as for :func:`map_bag`.

    Raises:
        UsageError: a bad ``chunk_size``, or as :func:`map_bag`.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise UsageError(f"chunk_size must be a positive integer, not {chunk_size!r}")
    job = make_job(primitive, options, batch_id=batch_id, timeout=timeout, plugin=plugin)
    chunks = _chunks(documents, chunk_size)
    keys = [f"{_token(job)}-{job.batch_id}-{i}" for i in range(len(chunks))]
    futures: list[distributed.Future[list[dict[str, Any]]]] = client.map(
        run_partition, chunks, job=job, key=keys, pure=False
    )
    return futures


# pandas ships no type information; its frames are Any here.
def _frame_partition(
    part: Any, job: Job, column: str, key: str | None, filename: str | None
) -> Any:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]  # stubs are optional

    documents: Iterable[Any] = part[column]
    if filename is not None:
        # Dask's string conversion may have turned UTF-8 bytes into str: encode back.
        contents = (d.encode() if isinstance(d, str) else d for d in documents)
        documents = zip(part[filename], contents, strict=True)
    if key is not None:
        documents = (BatchItem(str(k), d) for k, d in zip(part[key], documents, strict=True))
    rows = run_partition(documents, job) if len(part) else []
    columns = list(job.columns())
    return pd.DataFrame(rows, index=part.index, columns=columns, dtype=object)


def _chunks(documents: Iterable[Any], size: int) -> list[list[Any]]:
    chunks: list[list[Any]] = []
    for document in documents:
        if not chunks or len(chunks[-1]) == size:
            chunks.append([])
        chunks[-1].append(document)
    return chunks


def _token(job: Job) -> str:
    return f"retab-{job.primitive}"
