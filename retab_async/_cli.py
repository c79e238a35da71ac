"""The ``retab-async`` command line (also ``python -m retab_async``).

Exit codes: 0 every run completed; 1 some run failed, was cancelled or timed
out, or the API refused; 2 a usage error; 130 interrupted. Expected errors are
one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import msgspec

from ._batch import BatchProgress, BatchResult
from ._cli_output import Output
from ._client import RetabClient
from ._documents import normalize_categories
from ._errors import RetabError, RunError, UsageError
from ._mime import mime_type_for
from ._models import Category, Classification
from ._version import __version__

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--local", action="store_true", help="run against an in-process local Retab server"
    )
    common.add_argument("--json", action="store_true", help="print JSON lines")
    parser = argparse.ArgumentParser(
        prog="retab-async", description="Classify documents with the Retab API."
    )
    parser.add_argument("--version", action="version", version=f"retab-async {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    classify = sub.add_parser("classify", parents=[common], help="classify files in the background")
    classify.add_argument("files", nargs="+", metavar="FILE")
    classify.add_argument("--categories", help="comma-separated category names")
    classify.add_argument("--categories-file", metavar="JSON", help="a JSON list of categories")
    classify.add_argument("--model", default="retab-small")
    classify.add_argument("--consensus", type=int, default=1, metavar="N")
    classify.add_argument("--instructions")
    classify.add_argument("--concurrency", type=int, default=16, metavar="N")
    classify.add_argument("--timeout", type=float, default=None, metavar="S", help="per run")
    classify.add_argument("--no-wait", action="store_true", help="start the runs, print their ids")
    classify.add_argument(
        "--checkpoint", metavar="PATH", help="journal to resume an interrupted batch"
    )
    classify.add_argument(
        "--keep-running", action="store_true", help="on Ctrl-C, leave in-flight runs running"
    )

    get = sub.add_parser("get", parents=[common], help="show one classification")
    get.add_argument("id")
    wait = sub.add_parser("wait", parents=[common], help="wait for a run to finish")
    wait.add_argument("id")
    wait.add_argument("--timeout", type=float, default=None, metavar="S")
    cancel = sub.add_parser("cancel", parents=[common], help="cancel a run")
    cancel.add_argument("id")
    listing = sub.add_parser("list", parents=[common], help="list classifications")
    listing.add_argument("--status")
    listing.add_argument("--limit", type=int, default=20, metavar="N")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    out = Output(json_lines=args.json)
    try:
        return anyio.run(_run, args, out)
    except UsageError as exc:
        out.error(str(exc))
        return EXIT_USAGE
    except RetabError as exc:
        out.error(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        out.error("interrupted")
        return EXIT_INTERRUPTED


async def _run(args: argparse.Namespace, out: Output) -> int:
    if args.command == "classify":
        files, categories = _classify_inputs(args)
    async with _client(args, out) as client:
        if args.command == "classify":
            return await _classify(client, args, files, categories, out)
        if args.command == "get":
            record = await client.classifications.get(args.id)
            out.record(record)
            return EXIT_OK
        if args.command == "wait":
            return await _wait(client, args.id, args.timeout, out)
        if args.command == "cancel":
            out.record(await client.classifications.cancel(args.id))
            return EXIT_OK
        return await _list(client, args.status, args.limit, out)


@contextlib.asynccontextmanager
async def _client(args: argparse.Namespace, out: Output) -> AsyncIterator[RetabClient]:
    if not args.local:
        if not os.environ.get("RETAB_API_KEY"):
            raise UsageError("RETAB_API_KEY is not set (or pass --local to use the local server)")
        async with RetabClient() as client:
            yield client
        return
    from .testing import LocalRetab

    async with LocalRetab(run_time=(0.2, 1.0), queue_time=0.05, record_bodies=False) as server:
        out.note(f"using the local Retab server at {server.base_url} (in-process, offline)")
        async with RetabClient(server.api_key, server.base_url) as client:
            yield client


# -- classify ------------------------------------------------------------------


def _classify_inputs(args: argparse.Namespace) -> tuple[list[Path], list[Category]]:
    categories = _categories(args.categories, args.categories_file)
    files = [Path(name) for name in args.files]
    for path in files:
        if not path.exists():
            raise UsageError(f"{path}: no such file")
        if path.is_dir():
            raise UsageError(f"{path}: is a directory")
        if mime_type_for(path.name) is None:
            raise UsageError(f"{path}: unsupported file type {path.suffix or '(no extension)'}")
    if args.consensus < 1 or args.consensus > 16:
        raise UsageError("--consensus must be from 1 to 16")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    return files, categories


def _categories(names: str | None, path: str | None) -> list[Category]:
    if names and path:
        raise UsageError("use --categories or --categories-file, not both")
    if path:
        try:
            raw: Any = msgspec.json.decode(Path(path).read_bytes())
        except OSError as exc:
            raise UsageError(f"{path}: {exc.strerror}") from None
        except msgspec.DecodeError as exc:
            raise UsageError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(raw, list):
            raise UsageError(f"{path}: expected a JSON list of categories")
        return normalize_categories(raw)
    if not names:
        raise UsageError("give --categories a,b,c or --categories-file cats.json")
    return normalize_categories(names.split(","))


async def _classify(
    client: RetabClient,
    args: argparse.Namespace,
    files: list[Path],
    categories: list[Category],
    out: Output,
) -> int:
    options: dict[str, Any] = {"model": args.model, "n_consensus": args.consensus}
    if args.instructions:
        options["instructions"] = args.instructions
    if args.no_wait:
        return await _start_only(client, files, categories, options, args.concurrency, out)
    out.key_width = max(len(str(f)) for f in files)
    progress = out.progress_bar(len(files))
    results: list[BatchResult[Classification]] = []
    batch = client.classifications.map(
        [str(f) for f in files],
        categories,
        concurrency=args.concurrency,
        checkpoint=args.checkpoint,
        timeout=args.timeout,
        progress=progress.update if progress else None,
        cancel_on_exit=not args.keep_running,
        **options,
    )
    interrupted = await _until_interrupted(_collect(batch, results, out))
    if progress:
        progress.close()
    summary = _summary(batch.progress)
    if interrupted:
        left = "left running" if args.keep_running else "cancelled"
        out.note(f"interrupted: {summary}; runs in flight were {left}")
        return EXIT_INTERRUPTED
    out.note(summary)
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


async def _collect(batch: Any, results: list[BatchResult[Classification]], out: Output) -> None:
    async with batch:
        async for result in batch:
            results.append(result)
            out.result(result)


async def _until_interrupted(work: Any) -> bool:
    """Run ``work``; on SIGINT/SIGTERM cancel it (its clean-up runs) and return True."""
    interrupted = False
    async with anyio.create_task_group() as tg:
        scope = anyio.CancelScope()

        async def on_signal() -> None:
            nonlocal interrupted
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    interrupted = True
                    scope.cancel()
                    return

        tg.start_soon(on_signal)
        with scope:
            await work
        tg.cancel_scope.cancel()
    return interrupted


async def _start_only(
    client: RetabClient,
    files: list[Path],
    categories: list[Category],
    options: dict[str, Any],
    concurrency: int,
    out: Output,
) -> int:
    limiter = anyio.CapacityLimiter(concurrency)
    failed = False

    async def start(path: Path) -> None:
        nonlocal failed
        async with limiter:
            try:
                handle = await client.classifications.start(path, categories, **options)
            except RetabError as exc:
                failed = True
                out.error(f"{path}: {exc}")
                return
        out.started(str(path), handle.id, handle.token)

    async with anyio.create_task_group() as tg:
        for path in files:
            tg.start_soon(start, path)
    return EXIT_FAILED if failed else EXIT_OK


def _summary(p: BatchProgress) -> str:
    text = f"{p.completed} completed, {p.failed} failed, {p.cancelled} cancelled"
    if p.resumed:
        text += f" ({p.resumed} resumed from the checkpoint)"
    return text


# -- single runs -------------------------------------------------------------


async def _wait(client: RetabClient, run_id: str, timeout: float | None, out: Output) -> int:
    handle = client.classifications.handle(run_id)
    try:
        record = await handle.wait(timeout)
    except RunError as exc:
        if exc.record is not None:
            out.record(exc.record)
        out.error(str(exc))
        return EXIT_FAILED
    out.record(record)
    return EXIT_OK


async def _list(client: RetabClient, status: str | None, limit: int, out: Output) -> int:
    if not 1 <= limit <= 10_000:
        raise UsageError("--limit must be from 1 to 10000")
    shown = 0
    async for record in client.classifications.list(status=status, page_size=min(limit, 100)):
        out.record(record)
        shown += 1
        if shown >= limit:
            break
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
