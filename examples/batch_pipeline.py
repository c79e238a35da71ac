"""A batch pipeline: classify a folder with bounded concurrency, a checkpoint and progress.

    python examples/batch_pipeline.py [FOLDER] [--checkpoint PATH] [--restart]

Kill it and run it again with the same checkpoint: finished files are not run
again, and runs already started are picked up where they were. The checkpoint
belongs to this batch: after changing CATEGORIES or a file, the rerun stops with
an error naming what changed; ``--restart`` starts the checkpoint afresh.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import anyio
from _local import client_for_example

from retab_async import BatchProgress

CATEGORIES = ["invoice", "receipt", "contract", "letter"]


def show(progress: BatchProgress) -> None:
    print(
        f"  progress: {progress.finished}/{progress.total} finished, "
        f"{progress.running} running, {progress.failed} failed"
    )


async def main(folder: Path, checkpoint: Path, restart: bool = False) -> int:
    files = sorted(p for p in folder.iterdir() if p.is_file())  # noqa: ASYNC240 (a few names, once)
    async with client_for_example() as client:
        batch = client.classifications.map(
            files,
            CATEGORIES,
            concurrency=4,
            checkpoint=checkpoint,
            checkpoint_mode="restart" if restart else "resume",
            progress=show,
        )
        failures = 0
        async with batch:
            async for result in batch:
                label = result.record.category if result.ok and result.record else result.error
                origin = " (from checkpoint)" if result.from_checkpoint else ""
                print(f"{Path(result.key).name:<32} {label}{origin}")
                failures += not result.ok
        print(f"requests sent by the poller: {client.poller.stats.requests}")
    return 1 if failures else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", nargs="?", type=Path, default=Path(__file__).parent / "documents")
    parser.add_argument("--checkpoint", type=Path, default=Path(".checkpoints/batch.jsonl"))
    parser.add_argument("--restart", action="store_true", help="start the checkpoint afresh")
    args = parser.parse_args()
    args.checkpoint.parent.mkdir(parents=True, exist_ok=True)
    raise SystemExit(anyio.run(main, args.folder, args.checkpoint, args.restart))
