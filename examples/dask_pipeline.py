"""Classify a folder on a Dask cluster: one client per worker, results as a DataFrame.

    pip install "retab-async[dask]"
    python examples/dask_pipeline.py [FOLDER] [--workers N] [--batch-id ID]

With ``RETAB_API_KEY`` set it uses the real API; otherwise it starts the local
Retab server in a process of its own. The workers read the key from their own
environment: it is never part of the task graph. Run it twice with the same
``--batch-id``: the second run re-attaches to the runs of the first instead of
starting them again.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dask.bag as db
from distributed import Client, LocalCluster, progress

from retab_async.dask import RetabPlugin, map_bag, result_meta

CATEGORIES = ["invoice", "receipt", "contract", "letter"]


@contextlib.contextmanager
def retab_api() -> Iterator[tuple[str | None, dict[str, str]]]:
    """The base URL and the workers' environment: the real API, or a local server."""
    if os.environ.get("RETAB_API_KEY"):
        yield None, {}
        return
    key = "sk_local_example"
    serve = [sys.executable, "-m", "retab_async.testing", "serve", "--api-key", key]
    server = subprocess.Popen([*serve, "--run-time", "0.2", "--run-time-max", "0.8"], stdout=-1)
    assert server.stdout is not None
    url = server.stdout.readline().decode().strip().removeprefix("listening on ")
    print(f"(using the local Retab server at {url})", file=sys.stderr)
    try:
        yield url, {"RETAB_API_KEY": key}
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stdout.close()


def main(folder: Path, workers: int, batch_id: str | None) -> int:
    paths = sorted(str(p) for p in folder.iterdir() if p.is_file())
    with (
        retab_api() as (base_url, env),
        LocalCluster(
            n_workers=workers, threads_per_worker=2, dashboard_address=":0", env=env
        ) as cluster,
        Client(cluster) as client,
    ):
        client.register_plugin(RetabPlugin(base_url, concurrency=16))
        bag = db.from_sequence(paths, npartitions=max(1, len(paths) // 2))
        rows = map_bag(bag, "classifications", categories=CATEGORIES, batch_id=batch_id)
        frame = rows.to_dataframe(meta=result_meta()).persist()
        progress(frame, notebook=False)  # Dask's own progress bar: one tick per partition
        table = frame.compute()
        stats = client.run(lambda dask_worker: dask_worker.plugins["retab"].stats)
    print()
    for row in table.itertuples():
        label = row.category if row.status == "completed" else f"{row.status}: {row.error}"
        print(f"{Path(row.key).name:<32} {label}")
    started = sum(s.started for s in stats.values())
    print(f"{len(table)} documents, {started} runs started on {len(stats)} workers")
    return 0 if (table["status"] == "completed").all() else 1


if __name__ == "__main__":  # required: Dask starts its workers as fresh processes
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", nargs="?", type=Path, default=Path(__file__).parent / "documents")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-id", default=None)
    args = parser.parse_args()
    raise SystemExit(main(args.folder, args.workers, args.batch_id))
