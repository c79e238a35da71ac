"""The checkpoint journal belongs to its batch: parameters, input contents, lost runs, full disks."""

from __future__ import annotations

import errno
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from retab_async import (
    BatchItem,
    CheckpointError,
    PollPolicy,
    RetryPolicy,
    UsageError,
)
from retab_async.testing import FaultConfig, LocalRetab

from .conftest import CATEGORIES, INVOICE, RECEIPT, make_client

pytestmark = pytest.mark.retab_server(run_time=0.02)

QUICK_404 = PollPolicy(min_interval=0.005, max_interval=0.05, not_found_grace=0.05)


def _files(folder: Path, n: int) -> list[Path]:
    paths = []
    for i in range(n):
        path = folder / f"doc{i}.txt"
        path.write_text(f"INVOICE {i}. Amount due 300 EUR, payment due in 30 days.")
        paths.append(path)
    return paths


async def _run(server: LocalRetab, inputs: Any, categories: Any = CATEGORIES, **kwargs: Any) -> Any:
    async with make_client(server, poll=kwargs.pop("poll", None) or QUICK_404) as client:
        return [r async for r in client.classifications.map(inputs, categories, **kwargs)]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _creates(server: LocalRetab) -> list[Any]:
    return server.by_operation("create")


def _filenames(server: LocalRetab, status: str | None = None) -> list[str]:
    runs = [run for run in server.runs if status is None or run.status == status]
    return sorted(run.file["filename"] for run in runs)


# -- parameters and contents -----------------------------------------------------


@pytest.mark.parametrize(
    ("changed", "kwargs"),
    [
        ("categories", {"categories": ["invoice", "receipt", "contract"]}),
        ("model", {"model": "retab-large"}),
        ("instructions", {"instructions": "Prefer receipts."}),
        ("n_consensus", {"n_consensus": 3}),
    ],
)
async def test_rerun_with_other_parameters_is_refused_then_restarts(
    server: LocalRetab, tmp_path: Path, changed: str, kwargs: dict[str, Any]
) -> None:
    checkpoint = tmp_path / "journal.jsonl"
    inputs = [INVOICE, RECEIPT]
    first = await _run(server, inputs, checkpoint=checkpoint)
    assert all(r.ok for r in first)
    sent = len(server.requests)

    categories = kwargs.pop("categories", CATEGORIES)
    with pytest.raises(UsageError, match=rf"\({changed} changed\).*checkpoint_mode='restart'"):
        await _run(server, inputs, categories, checkpoint=checkpoint, **kwargs)
    assert len(server.requests) == sent  # refused before anything was sent

    again = await _run(
        server, inputs, categories, checkpoint=checkpoint, checkpoint_mode="restart", **kwargs
    )
    assert all(r.ok and not r.from_checkpoint for r in again)
    assert {r.run_id for r in again}.isdisjoint({r.run_id for r in first})
    # The restarted journal now belongs to the new parameters.
    resumed = await _run(server, inputs, categories, checkpoint=checkpoint, **kwargs)
    assert all(r.from_checkpoint for r in resumed)


async def test_explicit_default_options_are_the_same_batch(
    server: LocalRetab, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "journal.jsonl"
    await _run(server, [INVOICE], checkpoint=checkpoint)
    again = await _run(server, [INVOICE], checkpoint=checkpoint, model="retab-small", n_consensus=1)
    assert again[0].from_checkpoint


async def test_rerun_with_changed_contents_is_refused_naming_the_inputs(
    server: LocalRetab, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "journal.jsonl"
    paths = _files(tmp_path, 4)
    items = [*paths, BatchItem("inline", ("note.txt", b"RECEIPT. Paid by card."))]
    first = await _run(server, items, checkpoint=checkpoint)
    assert all(r.ok for r in first)

    paths[1].write_text("RECEIPT. Paid by card. Thank you for your purchase.")
    paths[3].unlink()
    items[4] = BatchItem(
        "inline",
        ("note.txt", b"Dear Ms Smith, thank you for your kind letter. Yours sincerely, John."),
    )
    sent = len(server.requests)
    with pytest.raises(UsageError) as caught:
        await _run(server, items, checkpoint=checkpoint)
    message = str(caught.value)
    assert "3 input(s) changed" in message
    for key in (str(paths[1]), str(paths[3]), "inline"):
        assert repr(key) in message
    assert repr(str(paths[0])) not in message
    assert "checkpoint_mode='restart'" in message
    assert len(server.requests) == sent

    paths[3].write_text("INVOICE 3. Amount due 300 EUR, payment due in 30 days.")
    again = await _run(server, items, checkpoint=checkpoint, checkpoint_mode="restart")
    by_key = {r.key: r for r in again}
    assert not any(r.from_checkpoint for r in again)
    assert by_key[str(paths[1])].record.category == "receipt"
    assert by_key["inline"].record.category == "letter"


async def test_errored_input_with_new_content_is_sent_under_a_new_key(
    server: LocalRetab, tmp_path: Path
) -> None:
    # The first creates reach the server but their answers are lost: the inputs
    # only have errors in the journal, and the server knows their keys.
    checkpoint = tmp_path / "journal.jsonl"
    server.set_faults(FaultConfig(disconnect=1.0, operations=("create",), limit=2))
    async with make_client(server, retry=RetryPolicy.never()) as client:
        first = [
            r
            async for r in client.classifications.map(
                [INVOICE, RECEIPT], CATEGORIES, checkpoint=checkpoint
            )
        ]
    assert all(not r.ok for r in first)
    creates_before = len(_creates(server))
    old_keys = {r.headers.get("idempotency-key") for r in _creates(server)}

    changed = (INVOICE[0], b"RECEIPT. Paid in cash.")
    again = await _run(server, [changed, RECEIPT], checkpoint=checkpoint)
    by_key = {r.key: r for r in again}
    assert all(r.ok for r in again), [r.error for r in again]  # no ConflictError (409)
    assert by_key[INVOICE[0]].record.category == "receipt"  # the new content, not the old run
    rerun_creates = _creates(server)[creates_before:]
    assert all(r.status is not None and r.status < 300 for r in rerun_creates)
    changed_name = INVOICE[0].encode()
    assert any(
        r.headers.get("idempotency-key") not in old_keys and changed_name in r.body
        for r in rerun_creates
    )


async def test_journal_of_an_older_version_is_refused(server: LocalRetab, tmp_path: Path) -> None:
    checkpoint = tmp_path / "journal.jsonl"
    line = {"key": "invoice.txt", "event": "started", "run_id": "clss_0123456789abcdef"}
    checkpoint.write_text(json.dumps(line) + "\n")
    with pytest.raises(UsageError, match=r"older version.*restart"):
        await _run(server, [INVOICE], checkpoint=checkpoint)
    again = await _run(server, [INVOICE], checkpoint=checkpoint, checkpoint_mode="restart")
    assert again[0].ok


async def test_bad_checkpoint_mode(server: LocalRetab, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="checkpoint_mode"):
        await _run(server, [INVOICE], checkpoint=tmp_path / "j", checkpoint_mode="fresh")


# -- runs the server lost --------------------------------------------------------


async def _cut_short(inputs: Any, categories: Any, checkpoint: Path, seed: int) -> None:
    """A batch on a server that then goes away, stopped once four runs are started."""
    stop = anyio.CancelScope()

    def progress(p: Any) -> None:
        if p.running == 4:
            stop.cancel()

    async with LocalRetab(run_time=30, seed=seed) as gone, make_client(gone) as client:
        batch = client.classifications.map(
            inputs,
            categories,
            concurrency=4,
            checkpoint=checkpoint,
            cancel_on_exit=False,
            progress=progress,
        )
        async with batch:
            with stop:
                async for _ in batch:
                    pass


async def test_runs_unknown_to_a_new_server_are_started_again(
    server: LocalRetab, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "journal.jsonl"
    paths = _files(tmp_path, 6)
    await _cut_short(paths, CATEGORIES, checkpoint, seed=1)
    assert sum(line["event"] == "started" for line in _lines(checkpoint)) == 4

    with anyio.fail_after(20):
        results = await _run(server, paths, checkpoint=checkpoint)
    assert sorted(r.key for r in results) == sorted(str(p) for p in paths)
    assert all(r.ok for r in results), [r.error for r in results]
    assert _filenames(server) == sorted(p.name for p in paths)
    abandoned = [line for line in _lines(checkpoint) if line["event"] == "abandoned"]
    assert len(abandoned) == 4


async def test_a_run_cancelled_before_the_rerun_is_started_again(
    server: LocalRetab, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "journal.jsonl"
    first = await _run(server, [INVOICE], checkpoint=checkpoint)
    lines = [line for line in _lines(checkpoint) if line["event"] != "finished"]
    # The journal names a run that was cancelled (and the journal missed it).
    async with make_client(server) as client:
        handle = await client.classifications.start(INVOICE, CATEGORIES)
    # Cancelled in the store itself, before any later request lets the run move on:
    # a cancel sent over the wire could lose the race with a millisecond run.
    run = next(run for run in server.runs if run.id == handle.id)
    assert server.state.store.cancel(run).status == "cancelled"
    started = next(line for line in lines if line["event"] == "started")
    started["run_id"] = handle.id
    checkpoint.write_text("".join(json.dumps(line) + "\n" for line in lines))

    again = await _run(server, [INVOICE], checkpoint=checkpoint)
    assert again[0].ok and again[0].run_id not in (handle.id, first[0].run_id)


@pytest.mark.subprocess
@pytest.mark.usefixtures("responsive_cli")
def test_cli_rerun_against_a_new_local_server_finishes_every_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from retab_async._cli.main import main

    checkpoint = tmp_path / "journal.jsonl"
    paths = [str(p) for p in _files(tmp_path, 8)]

    anyio.run(_cut_short, paths, ["invoice", "letter"], checkpoint, 3)
    argv = ["classify", *paths, "--categories", "invoice,letter", "--json", "--local"]
    code = main([*argv, "--checkpoint", str(checkpoint)])
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0, err
    assert sorted(r["file"] for r in rows) == paths
    assert all(r["status"] == "completed" for r in rows)


# -- torn lines and full disks ---------------------------------------------------


async def test_torn_last_line_is_dropped_and_reported(
    server: LocalRetab, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    checkpoint = tmp_path / "journal.jsonl"
    await _run(server, [INVOICE], checkpoint=checkpoint)
    with checkpoint.open("a") as fh:
        fh.write('{"key": "receipt.txt", "event": "sta')  # a crash mid-write
    with caplog.at_level(logging.WARNING, logger="retab_async"):
        results = await _run(server, [INVOICE, RECEIPT], checkpoint=checkpoint)
    assert all(r.ok for r in results)
    assert any("cut short" in m for m in caplog.messages)
    lines = _lines(checkpoint)  # whole lines only: the rerun appended after a clean end
    assert [line["event"] for line in lines].count("finished") == 2


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
async def test_full_disk_when_opening_is_a_checkpoint_error(server: LocalRetab) -> None:
    with pytest.raises(CheckpointError) as caught:
        await _run(server, [INVOICE], checkpoint="/dev/full")
    assert caught.value.errno == errno.ENOSPC
    assert isinstance(caught.value, OSError)
    assert not server.runs


def _fd_of(path: Path) -> int:
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == str(path):
                return int(name)
        except OSError:
            continue
    raise AssertionError(f"{path} is not open")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /dev/full and /proc")
@pytest.mark.retab_server(run_time=0.2)
async def test_full_disk_mid_batch_stops_cleanly_and_the_rerun_finishes(
    server: LocalRetab, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "journal.jsonl"
    paths = _files(tmp_path, 6)
    async with make_client(server) as client:
        batch = client.classifications.map(paths, CATEGORIES, concurrency=2, checkpoint=checkpoint)
        async with batch:
            first = await batch.__anext__()
            # From now on every write to the journal fails as on a full disk.
            full = os.open("/dev/full", os.O_WRONLY)
            os.dup2(full, _fd_of(checkpoint))
            os.close(full)
            with pytest.raises(CheckpointError, match="No space left") as caught:
                async for _ in batch:
                    pass
        assert caught.value.errno == errno.ENOSPC
        assert client.poller.watching == 0
    assert not [run for run in server.runs if run.status in ("queued", "in_progress")]

    with anyio.fail_after(20):
        rest = await _run(server, paths, checkpoint=checkpoint)
    assert sorted(r.key for r in rest) == sorted(str(p) for p in paths)
    assert all(r.ok for r in rest), [r.error for r in rest]
    by_key = {r.key: r for r in rest}
    assert by_key[first.key].from_checkpoint
    assert _filenames(server, "completed") == sorted(p.name for p in paths)  # one per input


@pytest.mark.usefixtures("responsive_cli")
def test_cli_refuses_other_categories_until_restart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from retab_async._cli.main import main

    checkpoint = str(tmp_path / "journal.jsonl")
    paths = [str(p) for p in _files(tmp_path, 2)]
    argv = ["classify", *paths, "--json", "--local", "--checkpoint", checkpoint]
    assert main([*argv, "--categories", "invoice,letter"]) == 0
    capsys.readouterr()
    assert main([*argv, "--categories", "invoice,receipt"]) == 2
    err = capsys.readouterr().err
    assert "categories changed" in err and "--restart" in err
    assert main([*argv, "--categories", "invoice,receipt", "--restart"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(r["file"] for r in rows) == paths


@pytest.mark.retab_server(
    run_time=30, faults=FaultConfig(slow=1.0, slow_seconds=0.5, operations={"create"}, limit=2)
)
async def test_cancelled_mid_create_the_batch_cancels_its_runs(
    server: LocalRetab, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "journal.jsonl"
    async with make_client(server) as client, anyio.create_task_group() as tg:

        async def consume() -> None:
            async for _ in client.classifications.map(
                [INVOICE, RECEIPT], CATEGORIES, checkpoint=checkpoint
            ):
                pass

        tg.start_soon(consume)
        while len(server.runs) < 2:  # both creates done on the server, answers not sent
            await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    assert [run.status for run in server.runs] == ["cancelled", "cancelled"]
