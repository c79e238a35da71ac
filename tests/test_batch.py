"""client.classifications.map(): bounded concurrency, failures, progress, checkpoints."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path

import anyio
import pytest

from retab_async import (
    BatchItem,
    BatchProgress,
    BatchResult,
    Classification,
    DocumentError,
    RetabClient,
    RunCancelled,
    RunFailed,
    UsageError,
)
from retab_async._runs.batch import ProgressCallback
from retab_async.testing import FAIL_MARKER, LocalRetab, ManualClock

from .conftest import CATEGORIES, FAST_POLL, INVOICE, make_client

# Every run polled each 5 ms of its age, without jitter: on a ManualClock, when
# each poll goes out is decided by the runs alone.
STEP_POLL = dataclasses.replace(
    FAST_POLL, min_interval=0.005, max_interval=0.005, jitter=0.0, strategy="get"
)
FAILING = 6  # the first input started when a slot frees up, on its own


def docs(n: int, *, fail: set[int] = frozenset()) -> list[tuple[str, bytes]]:  # type: ignore[assignment]
    return [
        (f"doc{i:03d}.txt", (FAIL_MARKER if i in fail else b"") + f"invoice number {i}".encode())
        for i in range(n)
    ]


@pytest.mark.retab_server(run_time=(0.02, 0.1))
async def test_every_input_once_as_runs_finish(client: RetabClient, server: LocalRetab) -> None:
    inputs = docs(25, fail={3, 7})
    seen_running: list[int] = []
    results = []
    async with client.classifications.map(
        inputs, CATEGORIES, concurrency=5, progress=lambda p: seen_running.append(p.running)
    ) as batch:
        async for result in batch:
            results.append(result)
    assert sorted(r.key for r in results) == [name for name, _ in inputs]
    assert max(seen_running) <= 5
    ok = [r for r in results if r.ok]
    failed = [r for r in results if not r.ok]
    assert len(ok) == 23 and all(r.record.category == "invoice" for r in ok)  # type: ignore[union-attr]
    assert {r.key for r in failed} == {"doc003.txt", "doc007.txt"}
    assert all(isinstance(r.error, RunFailed) for r in failed)
    assert len(server.runs) == 25
    assert batch.progress == BatchProgress(
        total=25, submitted=25, running=0, completed=23, failed=2
    )


async def test_results_pair_inputs_with_keys(client: RetabClient) -> None:
    items = [BatchItem("first", ("a.txt", b"receipt")), BatchItem("second", ("b.txt", b"letter"))]
    results = {r.key: r async for r in client.classifications.map(items, CATEGORIES)}
    assert results["first"].document == ("a.txt", b"receipt")
    assert results["first"].record.category == "receipt"  # type: ignore[union-attr]
    assert results["second"].record.category == "letter"  # type: ignore[union-attr]


async def test_bad_documents_are_results_not_crashes(client: RetabClient, tmp_path: Path) -> None:
    results = [
        r
        async for r in client.classifications.map(
            [tmp_path / "missing.pdf", ("ok.txt", b"x")], CATEGORIES
        )
    ]
    by_key = {r.key: r for r in results}
    assert isinstance(by_key[str(tmp_path / "missing.pdf")].error, DocumentError)
    assert by_key["ok.txt"].ok


async def test_stop_on_first_failure_cancels_the_rest() -> None:
    # One clock for the server and the client: time moves only while the client
    # waits, so the schedule is the seeded run times' alone. The first six runs end
    # at moments of their own (more than one poll apart), so the failing input is
    # started alone, when the first slot frees up, and fails while five runs are in
    # progress, none of them ending within eight polls of the failure.
    clock = ManualClock()
    async with (
        LocalRetab(run_time=(0.2, 1.0), clock=clock) as server,
        make_client(server, clock=clock, poll=STEP_POLL) as client,
    ):
        batch = client.classifications.map(
            docs(30, fail={FAILING}), CATEGORIES, concurrency=6, on_failure="stop"
        )
        results: list[BatchResult[Classification]] = []
        finished: list[bool] = []

        async def consume() -> None:
            async with batch:
                async for result in batch:
                    results.append(result)
            finished.append(True)

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await clock.drive(client, until=lambda: bool(finished))
        assert client.poller.watching == 0

    store = server.state.store
    [failed] = [run for run in server.runs if run.status == "failed"]
    completed = [run for run in server.runs if run.status == "completed"]
    cancelled = [run for run in server.runs if run.status == "cancelled"]
    assert len(completed) + 1 + len(cancelled) == len(server.runs)  # none left going
    # The runs that completed ended before the failure; the five others still had
    # time to go when it came, and were cancelled; nothing more was started.
    assert all(store.finish_time(run) < store.finish_time(failed) for run in completed)
    assert all(store.finish_time(run) > store.finish_time(failed) for run in cancelled)
    assert len(cancelled) == 5
    assert completed  # runs had completed before the failure: it did not come first
    assert len(server.runs) < 30

    n = len(completed)
    assert [r.ok for r in results[:n]] == [True] * n
    assert isinstance(results[n].error, RunFailed) and results[n].key == f"doc{FAILING:03d}.txt"
    assert results[n].run_id == failed.id
    assert all(isinstance(r.error, RunCancelled) for r in results[n + 1 :])
    assert {r.run_id for r in results[n + 1 :]} == {run.id for run in cancelled}
    assert sorted(r.key for r in results) == [name for name, _ in docs(n + 6)]  # each once
    assert batch.progress == BatchProgress(
        total=30, submitted=n + 6, running=0, completed=n, failed=1, cancelled=5
    )


@pytest.mark.retab_server(run_time=30)
async def test_closing_early_cancels_in_flight_runs(
    client: RetabClient, server: LocalRetab
) -> None:
    with anyio.CancelScope() as scope:
        batch = client.classifications.map(
            docs(10), CATEGORIES, concurrency=4, progress=_cancel_when_running(scope, 4)
        )
        async with batch:
            async for _ in batch:
                pass
    assert [run.status for run in server.runs] == ["cancelled"] * 4
    assert client.poller.watching == 0


@pytest.mark.retab_server(run_time=30)
async def test_cancelling_the_consumer_cancels_in_flight_runs(
    client: RetabClient, server: LocalRetab
) -> None:
    with anyio.CancelScope() as scope:
        progress = _cancel_when_running(scope, 3)
        async for _ in client.classifications.map(
            docs(10), CATEGORIES, concurrency=3, progress=progress
        ):
            pass
    assert [run.status for run in server.runs] == ["cancelled"] * 3


def _cancel_when_running(scope: anyio.CancelScope, n: int) -> ProgressCallback:
    """A progress callback that cancels ``scope`` once ``n`` runs are in flight."""

    def progress(p: BatchProgress) -> None:
        if p.running == n:
            scope.cancel()

    return progress


@pytest.mark.retab_server(run_time=30)
async def test_timeout_per_run(client: RetabClient, server: LocalRetab) -> None:
    from retab_async import WaitTimeout

    results = [r async for r in client.classifications.map(docs(2), CATEGORIES, timeout=0.1)]
    assert all(isinstance(r.error, WaitTimeout) for r in results)


@pytest.mark.retab_server(run_time=(0.02, 0.08))
async def test_checkpoint_skips_finished_and_reattaches_started(
    server: LocalRetab, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "journal.jsonl"
    inputs = docs(12)
    async with make_client(server) as client:
        first = [
            r async for r in client.classifications.map(inputs, CATEGORIES, checkpoint=checkpoint)
        ]
    assert len(first) == 12 and len(server.runs) == 12
    lines = [json.loads(line) for line in checkpoint.read_text().splitlines()]
    assert {line["event"] for line in lines} == {"batch", "started", "finished"}

    before = len(server.requests)
    async with make_client(server) as client:
        again = [
            r async for r in client.classifications.map(inputs, CATEGORIES, checkpoint=checkpoint)
        ]
    assert len(server.requests) == before  # nothing sent at all
    assert all(r.from_checkpoint and r.ok for r in again)
    assert {r.key: r.record.id for r in again} == {r.key: r.record.id for r in first}  # type: ignore[union-attr]


@pytest.mark.retab_server(run_time=0.3)
async def test_checkpoint_resumes_a_batch_cut_short(server: LocalRetab, tmp_path: Path) -> None:
    checkpoint = tmp_path / "journal.jsonl"
    inputs = docs(8)
    async with make_client(server) as client:
        batch = client.classifications.map(
            inputs, CATEGORIES, concurrency=4, checkpoint=checkpoint, cancel_on_exit=False
        )
        async with batch:
            await batch.__anext__()  # one result, then the process "goes away"
    assert len(server.runs) == 4
    async with make_client(server) as client:
        rest = [
            r async for r in client.classifications.map(inputs, CATEGORIES, checkpoint=checkpoint)
        ]
    assert sorted(r.key for r in rest) == [k for k, _ in inputs]
    assert all(r.ok for r in rest)
    assert len(server.runs) == 8  # the three left running were re-attached, not created again
    assert sum(r.from_checkpoint for r in rest) >= 1


async def test_torn_last_line_is_ignored(server: LocalRetab, tmp_path: Path) -> None:
    checkpoint = tmp_path / "journal.jsonl"
    checkpoint.write_text('{"key": "doc000.txt", "event": "sta')
    async with make_client(server) as client:
        results = [
            r async for r in client.classifications.map(docs(1), CATEGORIES, checkpoint=checkpoint)
        ]
    assert results[0].ok


async def test_corrupt_checkpoint_is_a_usage_error(client: RetabClient, tmp_path: Path) -> None:
    checkpoint = tmp_path / "journal.jsonl"
    checkpoint.write_text('garbage\n{"key": "a", "event": "started"}\n')
    with pytest.raises(UsageError, match="line 1"):
        client.classifications.map(docs(1), CATEGORIES, checkpoint=checkpoint)


@pytest.mark.parametrize(
    "kwargs",
    [{"concurrency": 0}, {"on_failure": "explode"}, {"timeout": -1}, {"n_consensus": 0}],
)
async def test_bad_map_arguments(client: RetabClient, kwargs: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        client.classifications.map(docs(1), CATEGORIES, **kwargs)  # type: ignore[arg-type]


async def test_an_unknown_map_option_is_a_type_error(client: RetabClient) -> None:
    with pytest.raises(TypeError, match="colour"):
        client.classifications.map(docs(1), CATEGORIES, colour="red")  # type: ignore[call-arg]


async def test_duplicate_keys_are_refused(client: RetabClient) -> None:
    with pytest.raises(UsageError, match="twice"):
        async for _ in client.classifications.map([("a.txt", b"1"), ("a.txt", b"2")], CATEGORIES):
            pass


async def test_empty_batch(client: RetabClient) -> None:
    assert [r async for r in client.classifications.map([], CATEGORIES)] == []


async def test_lazy_inputs_are_pulled_as_slots_free_up(client: RetabClient) -> None:
    pulled = 0

    def generate():  # type: ignore[no-untyped-def]
        nonlocal pulled
        for item in docs(10):
            pulled += 1
            yield item

    batch = client.classifications.map(generate(), CATEGORIES, concurrency=2)
    async with batch:
        await batch.__anext__()
        assert pulled <= 4
        with contextlib.suppress(StopAsyncIteration):
            async for _ in batch:
                pass
    assert pulled == 10


def _rewrite_journal(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(line) + "\n" for line in edit(lines)))


@pytest.mark.retab_server(run_time=0.02)
async def test_inputs_sharing_one_run_all_get_their_result(
    server: LocalRetab, tmp_path: Path
) -> None:
    # Two inputs whose checkpoint names the same run: one watch, two inputs to serve.
    checkpoint = tmp_path / "journal.jsonl"
    items = [BatchItem("a", INVOICE), BatchItem("b", INVOICE)]
    async with make_client(server) as client:
        [first] = [
            r
            async for r in client.classifications.map(items[:1], CATEGORIES, checkpoint=checkpoint)
        ]

    def share(lines: list[dict[str, object]]) -> list[dict[str, object]]:
        kept = [line for line in lines if line.get("event") != "finished"]
        started = next(line for line in kept if line.get("event") == "started")
        return [*kept, {**started, "key": "b"}]

    _rewrite_journal(checkpoint, share)
    async with make_client(server) as client:
        with anyio.fail_after(10):
            results = [
                r
                async for r in client.classifications.map(items, CATEGORIES, checkpoint=checkpoint)
            ]
        assert client.poller.watching == 0
    assert sorted(r.key for r in results) == ["a", "b"]
    assert all(r.ok and r.run_id == first.run_id for r in results)
    assert len(server.runs) == 1
