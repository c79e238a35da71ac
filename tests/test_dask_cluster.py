"""``retab_async.dask`` on a real cluster: a ``LocalCluster`` of worker processes
against ``python -m retab_async.testing serve`` in a process of its own.

Every wait here is bounded; nothing asserts on how long anything took.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import dask
import dask.bag as db
import dask.dataframe as dd
import pandas as pd
import pytest
from distributed import Client, LocalCluster, wait

from retab_async import PollPolicy
from retab_async.dask import RetabPlugin, map_bag, map_dataframe, map_futures, result_columns
from retab_async.dask._jobs import make_job

pytestmark = [pytest.mark.subprocess, pytest.mark.timeout(120)]

API_KEY = "sk_dask_secret_4242"
CATEGORIES = ["invoice", "receipt", "letter"]
FAST_POLL = PollPolicy(min_interval=0.01, max_interval=0.1)


class Server:
    """``python -m retab_async.testing serve`` in its own process."""

    def __init__(self, *args: str) -> None:
        argv = [sys.executable, "-m", "retab_async.testing", "serve", "--api-key", API_KEY]
        argv += ["--no-bodies", "--log-limit", "200000", *args]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        assert line.startswith("listening on "), line
        self.url = line.removeprefix("listening on ")

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=30) as resp:
            return json.loads(resp.read())

    def runs(self) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = self.get("/_local/runs")["runs"]
        return runs

    def creates(self) -> list[dict[str, Any]]:
        return [r for r in self.get("/_local/requests") if r["operation"] == "create"]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture(scope="module")
def fast_server() -> Iterator[Server]:
    server = Server("--run-time", "0.05", "--run-time-max", "0.3")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def slow_server() -> Iterator[Server]:
    server = Server("--run-time", "600")  # runs that only end when cancelled
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(
        n_workers=3,
        threads_per_worker=2,
        processes=True,
        dashboard_address=":0",
        env={"RETAB_API_KEY": API_KEY},
    ) as cluster:
        yield cluster


@pytest.fixture
def client(cluster: LocalCluster) -> Iterator[Client]:
    with Client(cluster) as client:
        yield client


def use(client: Client, server: Server, **options: Any) -> None:
    options.setdefault("poll", FAST_POLL)
    client.register_plugin(RetabPlugin(server.url, **options))


def docs(n: int, prefix: str = "doc") -> list[tuple[str, bytes]]:
    return [(f"{prefix}-{i:05d}.txt", b"INVOICE %d. Amount due 300 EUR." % i) for i in range(n)]


def until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def worker_stats(client: Client) -> dict[str, Any]:
    return client.run(lambda dask_worker: dask_worker.plugins["retab"].stats)  # type: ignore[no-any-return]


# -- results -------------------------------------------------------------------------


def test_bag_of_documents_gives_a_row_per_input(client: Client, fast_server: Server) -> None:
    use(client, fast_server)
    inputs: list[Any] = docs(40, "bag")
    inputs += [("broken.txt", b"[[retab:fail]] unreadable"), 12345]
    rows = map_bag(
        db.from_sequence(inputs, npartitions=6), categories=CATEGORIES, batch_id="bag-1"
    ).compute()
    assert [r["key"] for r in rows[:-1]] == [d[0] for d in inputs[:-1]]
    assert rows[-1]["key"].startswith("#")  # its position in its partition
    done = rows[:40]
    assert {r["status"] for r in done} == {"completed"}
    assert {r["category"] for r in done} == {"invoice"}
    assert len({r["run_id"] for r in done}) == 40
    assert all(r["error"] is None and r["reasoning"] for r in done)
    failed, not_a_document = rows[40:]
    assert failed["status"] == "failed" and failed["run_id"].startswith("clss_")
    assert failed["error"]
    assert not_a_document["status"] == "error" and not_a_document["run_id"] is None
    assert not_a_document["error"].startswith("DocumentError: cannot use a int")
    assert all(tuple(r) == result_columns() for r in rows)


def test_dataframe_column_gives_aligned_results(client: Client, fast_server: Server) -> None:
    use(client, fast_server)
    names = [name for name, _ in docs(30, "frame")]
    frame = pd.DataFrame(
        {"id": [f"row{i}" for i in range(30)], "name": names, "body": [d for _, d in docs(30)]},
        index=pd.RangeIndex(100, 130),
    )
    with dask.config.set({"dataframe.convert-string": False}):
        ddf = dd.from_pandas(frame, npartitions=4)
        results = map_dataframe(
            ddf, column="body", key="id", filename="name", categories=CATEGORIES, batch_id="df"
        )
        assert list(results.columns) == list(result_columns())
        out = ddf.join(results).compute()
    assert list(out.index) == list(range(100, 130))
    assert list(out["key"]) == list(frame["id"])
    assert set(out["status"]) == {"completed"} and set(out["category"]) == {"invoice"}


def test_futures_form(client: Client, fast_server: Server) -> None:
    use(client, fast_server)
    futures = map_futures(client, docs(25, "fut"), chunk_size=10, categories=CATEGORIES)
    assert len(futures) == 3 and all(f.key.startswith("retab-classifications-") for f in futures)
    chunks = client.gather(futures)
    assert [len(c) for c in chunks] == [10, 10, 5]
    assert {r["status"] for c in chunks for r in c} == {"completed"}


def test_any_primitive_runs_the_same_way(client: Client, fast_server: Server) -> None:
    use(client, fast_server)
    bag = db.from_sequence(docs(6, "prim"), npartitions=2)
    schema = {
        "type": "object",
        "properties": {"total": {"type": "number"}, "vendor": {"type": "string"}},
        "required": ["total", "vendor"],
    }
    extracted = map_bag(bag, "extractions", json_schema=schema, batch_id="prim").compute()
    assert {r["status"] for r in extracted} == {"completed"}
    assert all(set(r["output"]) == {"total", "vendor"} for r in extracted)
    assert tuple(extracted[0]) == result_columns("extractions")
    parsed = map_bag(bag, "parses", batch_id="prim").compute()
    assert {r["status"] for r in parsed} == {"completed"}
    assert all("INVOICE" in r["text"] and r["pages"] for r in parsed)
    # The same batch id over two primitives makes different runs.
    assert not {r["run_id"] for r in extracted} & {r["run_id"] for r in parsed}


def test_same_batch_id_reattaches_instead_of_running_again(
    client: Client, fast_server: Server
) -> None:
    use(client, fast_server)
    bag = db.from_sequence(docs(20, "again"), npartitions=3)
    first = map_bag(bag, categories=CATEGORIES, batch_id="again").compute()
    created = fast_server.get("/_local/runs")["created"]
    second = map_bag(bag, categories=CATEGORIES, batch_id="again").compute()
    assert fast_server.get("/_local/runs")["created"] == created
    assert [r["run_id"] for r in first] == [r["run_id"] for r in second]
    other = map_bag(bag, categories=CATEGORIES, batch_id="another").compute()
    assert fast_server.get("/_local/runs")["created"] == created + 20
    assert not {r["run_id"] for r in other} & {r["run_id"] for r in first}


# -- no run submitted twice ---------------------------------------------------------


def test_killed_worker_every_input_completes_exactly_once(
    client: Client, fast_server: Server
) -> None:
    use(client, fast_server, concurrency=8)
    n = 300
    inputs = docs(n, "kill")
    before = {run["id"] for run in fast_server.runs()}
    job = make_job(
        "classifications", {"categories": CATEGORIES}, batch_id="kill", timeout=None, plugin="retab"
    )
    rows_future = client.compute(
        map_bag(db.from_sequence(inputs, npartitions=30), categories=CATEGORIES, batch_id="kill")
    )

    victim: dict[str, str] = {}

    def busy_worker() -> bool:
        assert not rows_future.done(), "the batch ended before a worker could be killed"
        busy = [addr for addr, s in worker_stats(client).items() if s.in_flight > 0]
        if busy:
            victim["address"] = busy[0]
        return bool(busy)

    until(busy_worker, "a worker with runs in flight")
    pid = client.run(os.getpid, workers=[victim["address"]])[victim["address"]]
    os.kill(pid, signal.SIGKILL)

    rows = rows_future.result(timeout=90)
    runs = [run for run in fast_server.runs() if run["id"] not in before]
    ours = {job.idempotency_key(name) for name, _ in inputs}
    creates = [c for c in fast_server.creates() if c["idempotency_key"] in ours]
    replays = Counter(c["idempotency_key"] for c in creates)
    print(
        f"killed worker pid {pid}: {n} inputs, {len(runs)} server runs, "
        f"{len(creates)} creates of which {sum(v - 1 for v in replays.values())} replayed"
    )
    assert len(rows) == n
    assert [r["key"] for r in rows] == [name for name, _ in inputs]
    assert {r["status"] for r in rows} == {"completed"}
    assert len(runs) == n  # the server ran every input once: no duplicate
    assert {r["run_id"] for r in rows} == {run["id"] for run in runs}
    assert set(replays) == ours
    assert any(count > 1 for count in replays.values())  # the killed partition was replayed
    assert pid not in client.run(os.getpid).values()


def test_a_worker_shutting_down_leaves_its_runs_to_the_replay(
    client: Client, fast_server: Server
) -> None:
    use(client, fast_server, concurrency=4)
    n = 120
    inputs = docs(n, "restart")
    before = {run["id"] for run in fast_server.runs()}
    rows_future = client.compute(
        map_bag(db.from_sequence(inputs, npartitions=12), categories=CATEGORIES)
    )
    busy: list[str] = []

    def busy_worker() -> bool:
        assert not rows_future.done(), "the batch ended before a worker could be restarted"
        busy.extend(a for a, s in worker_stats(client).items() if s.in_flight)
        return bool(busy)

    until(busy_worker, "a worker with runs in flight")
    # A clean shutdown: the plugin's teardown runs, and the task is rescheduled.
    client.restart_workers(busy[:1], timeout=60)

    rows = rows_future.result(timeout=90)
    runs = [run for run in fast_server.runs() if run["id"] not in before]
    assert len(runs) == n
    assert {r["status"] for r in rows} == {"completed"}  # nothing was cancelled on the way
    assert {run["status"] for run in runs} == {"completed"}


# -- cancellation -------------------------------------------------------------------------


def _in_flight(client: Client) -> int:
    return sum(s.in_flight for s in worker_stats(client).values())


def test_cancelling_futures_cancels_the_runs_in_flight(client: Client, slow_server: Server) -> None:
    use(client, slow_server, concurrency=4)
    before = {run["id"] for run in slow_server.runs()}
    futures = map_futures(client, docs(12, "cancel"), chunk_size=2, categories=CATEGORIES)
    until(lambda: _in_flight(client) == 12, "12 runs in flight")
    client.cancel(futures)

    def all_cancelled() -> bool:
        runs = [run for run in slow_server.runs() if run["id"] not in before]
        return len(runs) == 12 and all(run["status"] == "cancelled" for run in runs)

    until(all_cancelled, "every run cancelled on the server")
    until(lambda: _in_flight(client) == 0, "the partitions to end")
    assert sum(s.cancelled for s in worker_stats(client).values()) >= 12


def test_closing_the_client_cancels_the_runs_in_flight(
    cluster: LocalCluster, client: Client, slow_server: Server
) -> None:
    use(client, slow_server, concurrency=4)
    before = {run["id"] for run in slow_server.runs()}
    other = Client(cluster)
    try:
        rows = map_bag(
            db.from_sequence(docs(6, "closing"), npartitions=3), categories=CATEGORIES
        ).persist()
        until(lambda: _in_flight(client) == 6, "6 runs in flight")
    finally:
        other.close()
    del rows

    def all_cancelled() -> bool:
        runs = [run for run in slow_server.runs() if run["id"] not in before]
        return len(runs) == 6 and all(run["status"] == "cancelled" for run in runs)

    until(all_cancelled, "every run cancelled on the server")


# -- secrets and progress --------------------------------------------------------------


def test_the_key_is_never_in_the_graph_the_plugin_or_the_logs(
    client: Client, fast_server: Server
) -> None:
    plugin = RetabPlugin(fast_server.url, poll=FAST_POLL)
    client.register_plugin(plugin)
    rows = map_bag(db.from_sequence(docs(4, "secret"), npartitions=2), categories=CATEGORIES)
    assert API_KEY.encode() not in cloudpickle.dumps(dict(rows.__dask_graph__()))
    assert API_KEY.encode() not in cloudpickle.dumps(plugin)
    assert API_KEY not in repr(plugin)
    assert {r["status"] for r in rows.compute()} == {"completed"}
    logs = [client.get_scheduler_logs(), *client.get_worker_logs().values()]
    assert API_KEY not in repr(logs)
    assert all("retab-classifications" in key for key in rows.__dask_keys__() for key in [key[0]])


def test_progress_is_one_dask_task_per_partition(client: Client, fast_server: Server) -> None:
    use(client, fast_server)
    rows = map_bag(db.from_sequence(docs(12, "progress"), npartitions=4), categories=CATEGORIES)
    persisted = rows.persist()
    wait(persisted)
    prefixes = client.run_on_scheduler(
        lambda dask_scheduler: {
            name: dict(prefix.state_counts) for name, prefix in dask_scheduler.task_prefixes.items()
        }
    )
    assert prefixes["retab-classifications"]["memory"] >= 4


def test_local_scheduler_opens_its_own_client(
    fast_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETAB_API_KEY", API_KEY)
    monkeypatch.setenv("RETAB_API_BASE_URL", fast_server.url)
    rows = map_bag(db.from_sequence(docs(3, "sync"), npartitions=1), categories=CATEGORIES)
    assert {r["status"] for r in rows.compute(scheduler="sync")} == {"completed"}


# -- the example ------------------------------------------------------------------------


def test_example_dask_pipeline(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "dask_pipeline.py"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETAB_")}
    out = subprocess.run(
        [sys.executable, str(example), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=tmp_path,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert "receipt-cafe.txt                 receipt" in out.stdout
    assert "invoice-acme-hosting.txt         invoice" in out.stdout
    assert "8 documents, 8 runs started on 2 workers" in out.stdout
    assert "100% Completed" in out.stdout  # Dask's own progress bar
