"""Imported first by ``retab_async.dask``: a clear error when the extra is not installed."""

from __future__ import annotations

try:
    import dask.bag
    import distributed
except ImportError as exc:
    raise ImportError(
        'retab_async.dask needs Dask distributed: pip install "retab-async[dask]"'
    ) from exc

__all__: list[str] = []
del dask, distributed
