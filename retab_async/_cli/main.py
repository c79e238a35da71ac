"""The ``retab-async`` command line (also ``python -m retab_async``).

Expected errors are one line on stderr, never a traceback; the exit codes are
listed in ``EXIT_CODES`` and shown by ``--help``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import math
import os
import signal
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import msgspec

from .._client import DEFAULT_BASE_URL, RetabClient
from .._documents import normalize_categories
from .._errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    RetabError,
    RunError,
    UsageError,
    WaitTimeout,
)
from .._http.transport import _is_loopback
from .._mime import mime_type_for
from .._models.common import Category
from .._models.edits import check_color
from .._models.file_blueprints import check_file_id
from .._models.parses import TABLE_PARSING_FORMATS
from .._models.schemas import load_json_schema
from .._models.splits import Subdocument, normalize_subdocuments
from .._resources.base import BackgroundResource
from .._runs.batch import Batch, BatchItem, BatchProgress, BatchResult
from .._runs.handle import RunHandle
from .._runs.polling import PollPolicy
from .._runs.primitive import CLASSIFICATIONS, PRIMITIVES, Primitive
from .._runs.tokens import is_token
from .._status import KNOWN_STATUSES, TERMINAL_STATUSES
from .._version import __version__
from .output import (
    BLUEPRINT_COLUMN,
    OUTPUT_COLUMN,
    PAGES_COLUMN,
    SCHEMA_COLUMN,
    Column,
    Output,
    ResultTable,
    category_column,
    error_text,
    filled_column,
    filled_path,
    pages_column,
    started_table,
)

__all__ = ["EXIT_CODES", "main", "parser"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TIMEOUT, EXIT_INTERRUPTED = 0, 1, 2, 124, 130
EXIT_CODES = {
    EXIT_OK: "every run completed (get, cancel, list: the request succeeded)",
    EXIT_FAILED: "a run failed, was cancelled or timed out, or the API refused a request",
    EXIT_USAGE: "usage error: bad arguments or files; nothing was sent",
    EXIT_TIMEOUT: "wait --timeout ran out while the run was still going (it keeps running)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); in-flight runs were cancelled unless --keep-running",
}
ENVIRONMENT = {
    "RETAB_API_KEY": "the API key (required unless --local)",
    "RETAB_API_BASE_URL": f"the API's address (default {DEFAULT_BASE_URL})",
    "RETAB_ALLOW_INSECURE_HTTP": "1: allow a plain http:// address that is not local",
    "RETAB_POLL": "the poll policy when --poll is not given (default, responsive, ...)",
}
#: ``--poll`` choices: the default policy and its documented presets.
POLL_POLICIES: dict[str, Callable[[], PollPolicy]] = {
    "default": PollPolicy,
    "responsive": PollPolicy.responsive,
    "low-latency": PollPolicy.low_latency,
    "economical": PollPolicy.economical,
}
_STATUSES = sorted(KNOWN_STATUSES - {"error"})


def _epilog() -> str:
    env = "\n".join(f"  {name:<27} {text}" for name, text in ENVIRONMENT.items())
    codes = "\n".join(f"  {code:<4} {text}" for code, text in EXIT_CODES.items())
    return f"environment variables:\n{env}\n\nexit codes:\n{codes}"


def parser() -> argparse.ArgumentParser:
    """The argument parser (also the source of the documentation's CLI reference)."""
    formatter = argparse.RawDescriptionHelpFormatter
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON lines instead of tables")
    common.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow a plain http:// RETAB_API_BASE_URL that is not local (the key travels "
        "unencrypted)",
    )
    common.add_argument(
        "--max-response-mb",
        type=float,
        default=64.0,
        metavar="MB",
        help="refuse a response body larger than this, after decompression (default: "
        "%(default)g; a parse of a large document needs more)",
    )
    common.add_argument(
        "--poll",
        choices=list(POLL_POLICIES),
        default=None,
        help="how runs are polled: default (few requests: a lone run's first poll 2.3 s "
        "after its creation), responsive (results sooner, several times the requests), "
        "low-latency, economical (default: $RETAB_POLL, else default)",
    )
    top = argparse.ArgumentParser(
        prog="retab-async",
        description="Classify, extract from, parse, split, partition and fill documents, make "
        "blueprints of files and generate schemas with the Retab API, as background runs.",
        epilog=_epilog(),
        formatter_class=formatter,
    )
    top.add_argument("--version", action="version", version=f"retab-async {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            parents=[common],
            help=help,
            description=textwrap.fill(description, 78),
            epilog=_epilog(),
            formatter_class=formatter,
        )

    classify = command(
        "classify",
        "classify files in the background",
        "Start one background run per file, wait for them with bounded concurrency and print "
        "one row per file, in the order given.",
    )
    classify.add_argument("files", nargs="+", metavar="FILE", help="documents to classify")
    classify.add_argument("--categories", metavar="A,B,C", help="comma-separated category names")
    classify.add_argument(
        "--categories-file",
        metavar="JSON",
        help='a JSON list of names or {"name": ..., "description": ...} objects',
    )
    _batch_options(classify)
    extract = command(
        "extract",
        "extract data from files in the background",
        "Start one background extraction per file, with the JSON schema of the object to "
        "extract, wait for them with bounded concurrency and print one row per file, in the "
        "order given (--json: the whole extracted object).",
    )
    extract.add_argument("files", nargs="+", metavar="FILE", help="documents to extract from")
    extract.add_argument(
        "--schema",
        required=True,
        metavar="JSON",
        help="a JSON-schema file of the object to extract",
    )
    _batch_options(extract)
    parse = command(
        "parse",
        "parse files into text in the background",
        "Start one background parse per file, wait for them with bounded concurrency and print "
        "one row per file, in the order given (--json: the text of each page).",
    )
    parse.add_argument("files", nargs="+", metavar="FILE", help="documents to parse")
    parse.add_argument(
        "--table-format",
        choices=TABLE_PARSING_FORMATS,
        default="html",
        help="how tables are written in the text (default: %(default)s)",
    )
    _batch_options(parse, consensus=False)
    edit = command(
        "edit",
        "fill the form fields of files in the background",
        "Start one background edit per file: the fields each document asks for are filled as "
        "--instructions say, and a PDF with the values written in is made. Prints one row per "
        "file, in the order given (FILLED: fields filled of fields found; --json: every field "
        "and where its filled PDF was written). Templates are filled with the library "
        "(client.edits.create(template_id=...)).",
    )
    edit.add_argument("files", nargs="+", metavar="FILE", help="documents to fill (PDF, DOCX...)")
    edit.add_argument(
        "--color",
        default="#000080",
        metavar="HEX",
        help="colour of the filled values (default: %(default)s)",
    )
    edit.add_argument(
        "--output-dir",
        metavar="DIR",
        help="write each filled PDF here, as <file name>_filled.pdf (made if missing)",
    )
    _batch_options(edit, consensus=False)
    split = command(
        "split",
        "split files into their subdocuments in the background",
        "Start one background split per file, wait for them with bounded concurrency and print "
        "one row per file, in the order given: each subdocument found with its pages (--json: "
        "the whole output).",
    )
    split.add_argument("files", nargs="+", metavar="FILE", help="documents to split")
    split.add_argument("--subdocuments", metavar="A,B,C", help="comma-separated subdocument names")
    split.add_argument(
        "--subdocuments-file",
        metavar="JSON",
        help='a JSON list of names or {"name": ..., "description": ..., '
        '"allow_multiple_instances": ...} objects',
    )
    _batch_options(split)
    partition = command(
        "partition",
        "partition files into chunks by a key in the background",
        "Start one background partition per file, wait for them with bounded concurrency and "
        "print one row per file, in the order given: each value of the key found with its "
        "pages (--json: the whole output). --instructions says how to tell the chunks apart.",
    )
    partition.add_argument("files", nargs="+", metavar="FILE", help="documents to partition")
    partition.add_argument(
        "--key", required=True, metavar="KEY", help="what to partition by (e.g. 'invoice number')"
    )
    partition.add_argument(
        "--no-overlap", action="store_true", help="put each page in one chunk only"
    )
    _batch_options(partition)
    generate = command(
        "generate-schema",
        "generate a JSON schema from example files",
        "Start one background schema generation from all the files given (examples of one "
        "kind of document), wait for it and print one row (SCHEMA: the properties found; "
        "--json: the whole JSON schema, ready for extract --schema).",
    )
    generate.add_argument("files", nargs="+", metavar="FILE", help="example documents")
    _batch_options(generate, consensus=False)
    blueprint = command(
        "blueprint",
        "describe files: their pages and fields",
        "Start one background file blueprint per file, wait for them with bounded concurrency "
        "and print one row per file, in the order given (BLUEPRINT: pages and fields found; "
        "--json: the whole blueprint). A local file is uploaded first; an argument that is "
        "no local file is the id of a file uploaded before (file_...).",
    )
    blueprint.add_argument(
        "files", nargs="+", metavar="FILE", help="local files, or ids of uploaded files"
    )
    _batch_options(blueprint, consensus=False, model=False, instructions="the blueprint's intent")

    run_help = "a run id (clss_...), or the run token --no-wait --json prints"
    primitive_help = (
        f"which kind of run the id belongs to (default: {CLASSIFICATIONS.name}; a token "
        "names its own)"
    )
    get = command("get", "show one run", "Show one run's record with its result.")
    get.add_argument("id", metavar="RUN", help=run_help)
    wait = command(
        "wait", "wait for a run to finish", "Wait for a background run and show its record."
    )
    wait.add_argument("id", metavar="RUN", help=run_help)
    wait.add_argument(
        "--timeout", type=float, metavar="S", help="stop waiting after S seconds (default: none)"
    )
    cancel = command(
        "cancel",
        "cancel a run",
        "Cancel a background run. A run that has already ended is left as it is.",
    )
    cancel.add_argument("id", metavar="RUN", help=run_help)
    for single in (get, wait, cancel):
        single.add_argument(
            "--primitive",
            choices=sorted(PRIMITIVES),
            help=primitive_help,
        )
    listing = command("list", "list runs", "List the runs of one primitive, newest first.")
    listing.add_argument(
        "--primitive",
        choices=sorted(name for name, p in PRIMITIVES.items() if p.listable),
        default=CLASSIFICATIONS.name,
        help="which kind of run to list (default: %(default)s)",
    )
    listing.add_argument(
        "--status", metavar="STATUS", help=f"only runs in this status: {', '.join(_STATUSES)}"
    )
    listing.add_argument(
        "--limit", type=int, default=20, metavar="N", help="at most N runs (default: %(default)s)"
    )
    upload = command(
        "upload",
        "upload files of any size",
        "Upload each file, streamed from disk whatever its size, and print its file id, size "
        "and the document URL that names it. The other commands upload a file too large to "
        "send inline on their own; this gives a file id to reuse.",
    )
    upload.add_argument("files", nargs="+", metavar="FILE", help="files to upload")
    for single in (get, wait, cancel, listing, upload):
        # Accepted only to be refused with a reason (see _check_local).
        single.add_argument("--local", action="store_true", help=argparse.SUPPRESS)
    return top


def _batch_options(
    command: argparse.ArgumentParser,
    *,
    consensus: bool = True,
    model: bool = True,
    instructions: str = "extra instructions for the model",
) -> None:
    """The options every batch command (classify, extract, parse) shares."""
    if model:
        command.add_argument("--model", default="retab-small", help="model (default: %(default)s)")
    if consensus:
        command.add_argument(
            "--consensus", type=int, default=1, metavar="N", help="votes per run, 1-16 (default: 1)"
        )
    command.add_argument("--instructions", metavar="TEXT", help=instructions)
    command.add_argument(
        "--concurrency",
        type=int,
        default=16,
        metavar="N",
        help="runs in flight at once (default: %(default)s)",
    )
    command.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="give up waiting for a run after S seconds (default: no limit)",
    )
    command.add_argument(
        "--no-wait", action="store_true", help="start the runs, print their ids and exit"
    )
    command.add_argument("--checkpoint", metavar="PATH", help="journal to resume a batch with")
    command.add_argument(
        "--restart", action="store_true", help="start the --checkpoint journal afresh"
    )
    command.add_argument(
        "--keep-running", action="store_true", help="on Ctrl-C, leave in-flight runs running"
    )
    command.add_argument(
        "--local", action="store_true", help="use an in-process local Retab server (offline)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = parser().parse_args(argv)
    out = Output(json_lines=args.json)
    try:
        return anyio.run(_run, args, out)
    except UsageError as exc:
        out.error(str(exc))
        return EXIT_USAGE
    except AuthenticationError as exc:
        out.error(f"the API did not accept the key in RETAB_API_KEY ({_api_reason(exc)})")
        return EXIT_FAILED
    except PermissionDeniedError as exc:
        out.error(f"the key in RETAB_API_KEY may not do this ({_api_reason(exc)})")
        return EXIT_FAILED
    except RetabError as exc:
        out.error(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        out.error("interrupted")
        return EXIT_INTERRUPTED


def _api_reason(exc: AuthenticationError | PermissionDeniedError) -> str:
    return f"{exc.status}: {exc.error.message}" if exc.error.message else str(exc.status)


async def _run(args: argparse.Namespace, out: Output) -> int:
    _check_local(args)
    if args.command in _JOBS:
        files, job = _batch_inputs(args)  # every argument checked before anything is sent
    if args.command == "upload":
        uploads = _upload_inputs(args.files)
    async with _client(args, out) as client:
        if args.command in _JOBS:
            return await _batch(client, args, files, job, out)
        if args.command == "upload":
            return await _upload(client, uploads, out)
        if args.command == "list":
            return await _list(client, PRIMITIVES[args.primitive], args.status, args.limit, out)
        handle = _handle(client, args)
        try:
            if args.command == "get":
                out.record(await handle.refresh(), handle.primitive)
                return EXIT_OK
            if args.command == "wait":
                return await _wait(handle, _timeout(args.timeout), out)
            return await _cancel(handle, out)
        except NotFoundError:
            if not is_token(args.id) and args.primitive is None:
                out.note(
                    "no classification has this id; ids do not say which primitive they "
                    "belong to: pass --primitive (extractions, parses...), or use the run token "
                    "--no-wait --json prints"
                )
            raise


def _check_local(args: argparse.Namespace) -> None:
    if not args.local:
        return
    if args.command not in _JOBS:
        raise UsageError(
            f"--local cannot be used with {args.command}: the local server lives only as long "
            "as one command and would have no runs; run `python -m retab_async.testing serve` "
            "and set RETAB_API_BASE_URL instead"
        )
    if args.no_wait:
        raise UsageError(
            "--local cannot be used with --no-wait: the runs would vanish with the local "
            "server when the command exits"
        )


@contextlib.asynccontextmanager
async def _client(args: argparse.Namespace, out: Output) -> AsyncIterator[RetabClient]:
    poll = _poll_policy(args.poll)
    limit = _max_response_bytes(args.max_response_mb)
    if not args.local:
        if not os.environ.get("RETAB_API_KEY"):
            raise UsageError("RETAB_API_KEY is not set (or pass --local to use the local server)")
        insecure = args.allow_insecure_http or _env_flag("RETAB_ALLOW_INSECURE_HTTP")
        _check_base_url(os.environ.get("RETAB_API_BASE_URL") or DEFAULT_BASE_URL, insecure)
        async with RetabClient(
            allow_insecure_http=insecure, max_response_bytes=limit, poll=poll
        ) as client:
            yield client
        return
    from ..testing import LocalRetab

    async with LocalRetab(run_time=(0.2, 1.0), queue_time=0.05, record_bodies=False) as server:
        out.note(f"using the local Retab server at {server.base_url} (in-process, offline)")
        async with RetabClient(
            server.api_key, server.base_url, max_response_bytes=limit, poll=poll
        ) as client:
            yield client


def _poll_policy(name: str | None) -> PollPolicy:
    """The policy ``--poll`` names, else ``RETAB_POLL``'s, else the default."""
    if name is None:
        name = os.environ.get("RETAB_POLL", "").strip() or "default"
        if name not in POLL_POLICIES:
            raise UsageError(
                f"RETAB_POLL={name!r} is not a poll policy; choose one of "
                + ", ".join(POLL_POLICIES)
            )
    return POLL_POLICIES[name]()


def _max_response_bytes(megabytes: float) -> int:
    if not (math.isfinite(megabytes) and megabytes >= 1):
        raise UsageError("--max-response-mb must be a number of megabytes, at least 1")
    return int(megabytes * 2**20)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _check_base_url(url: str, insecure: bool) -> None:
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if parts.scheme == "http" and host and not insecure and not _is_loopback(host):
        raise UsageError(
            f"refusing to send RETAB_API_KEY over plain http:// to {host}; use https://, "
            "or pass --allow-insecure-http (or set RETAB_ALLOW_INSECURE_HTTP=1)"
        )


def _timeout(value: float | None) -> float | None:
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise UsageError("--timeout must be a positive number of seconds")
    return value


# -- batch commands: classify, extract, parse ----------------------------------


@dataclass(frozen=True)
class _Job:
    """What a batch command runs on each file.

    Attributes:
        resource: the client's resource of the primitive (``client.extractions``).
        arguments: what its ``map``/``start`` take after the document (categories...).
        options: their keyword options (model...).
        column: what the results show beside their status.
        on_result: called with the client and each result before it is printed (an
            edit's filled document is written to disk); an error stops the command.
        inputs: the runs to start, as ``(key, input)``, when they are not one per file
            (a schema from all files; blueprints of uploaded files).
        local_files: whether every argument must be a local document.
        instructions_option: the option ``--instructions`` sets (``intent``...).
    """

    resource: Callable[[RetabClient], Any]
    arguments: tuple[Any, ...]
    column: Column
    options: dict[str, Any] = field(default_factory=dict)
    on_result: Callable[[RetabClient, BatchResult[Any]], Awaitable[None]] | None = None
    inputs: Callable[[RetabClient, list[Path]], Awaitable[list[tuple[str, Any]]]] | None = None
    local_files: bool = True
    instructions_option: str = "instructions"


def _classify_job(args: argparse.Namespace) -> _Job:
    categories = _categories(args.categories, args.categories_file)
    return _Job(
        lambda client: client.classifications,
        (categories,),
        category_column([c.name for c in categories]),
        {"n_consensus": args.consensus},
    )


def _extract_job(args: argparse.Namespace) -> _Job:
    schema = load_json_schema(Path(args.schema))
    return _Job(
        lambda client: client.extractions, (schema,), OUTPUT_COLUMN, {"n_consensus": args.consensus}
    )


def _parse_job(args: argparse.Namespace) -> _Job:
    options = {"table_parsing_format": args.table_format}
    return _Job(lambda client: client.parses, (), PAGES_COLUMN, options)


def _edit_job(args: argparse.Namespace) -> _Job:
    if not args.instructions or not args.instructions.strip():
        raise UsageError("edit needs --instructions saying how to fill the fields")
    check_color(args.color)
    output_dir = _output_dir(args)
    save = functools.partial(_save_filled, output_dir) if output_dir is not None else None
    return _Job(
        lambda client: client.edits, (), filled_column(output_dir), {"color": args.color}, save
    )


def _partition_job(args: argparse.Namespace) -> _Job:
    if not args.key.strip():
        raise UsageError("--key must name what to partition by")
    options = {
        "instructions": "",  # the API requires the field; --instructions fills it
        "n_consensus": args.consensus,
        "allow_overlap": not args.no_overlap,
    }
    return _Job(
        lambda client: client.partitions, (args.key,), pages_column("CHUNKS", "key"), options
    )


def _split_job(args: argparse.Namespace) -> _Job:
    subdocuments = _subdocuments(args.subdocuments, args.subdocuments_file)
    column = pages_column("SUBDOCUMENTS", "name")
    return _Job(
        lambda client: client.splits, (subdocuments,), column, {"n_consensus": args.consensus}
    )


def _generate_schema_job(args: argparse.Namespace) -> _Job:
    async def one_run(client: RetabClient, files: list[Path]) -> list[tuple[str, Any]]:
        return [(", ".join(map(str, files)), [str(f) for f in files])]

    return _Job(lambda client: client.schemas, (), SCHEMA_COLUMN, inputs=one_run)


def _blueprint_job(args: argparse.Namespace) -> _Job:
    targets = [_blueprint_target(name) for name in args.files]

    async def uploaded(client: RetabClient, files: list[Path]) -> list[tuple[str, Any]]:
        inputs: list[tuple[str, Any]] = []
        for name, target in zip(args.files, targets, strict=True):
            if isinstance(target, Path):
                target = (await client.files.upload(target)).file_id
            inputs.append((name, target))
        return inputs

    return _Job(
        lambda client: client.file_blueprints,
        (),
        BLUEPRINT_COLUMN,
        inputs=uploaded,
        local_files=False,
        instructions_option="intent",
    )


def _blueprint_target(name: str) -> Path | str:
    """A local file to upload, or the id of an uploaded file. Raises :class:`UsageError`."""
    path = Path(name)
    if path.exists():
        _check_file(path)
        return path
    try:
        return check_file_id(name)
    except UsageError:
        raise UsageError(f"{name}: no such file, nor the id of an uploaded file") from None


_JOBS: dict[str, Callable[[argparse.Namespace], _Job]] = {
    "classify": _classify_job,
    "extract": _extract_job,
    "parse": _parse_job,
    "edit": _edit_job,
    "split": _split_job,
    "partition": _partition_job,
    "generate-schema": _generate_schema_job,
    "blueprint": _blueprint_job,
}


def _batch_inputs(args: argparse.Namespace) -> tuple[list[Path], _Job]:
    job = _JOBS[args.command](args)
    files = [Path(name) for name in args.files]
    for path in files:
        if job.local_files:
            _check_file(path)
    if len(set(files)) != len(files):
        raise UsageError("a file is given twice")
    if getattr(args, "consensus", 1) < 1 or getattr(args, "consensus", 1) > 16:
        raise UsageError("--consensus must be from 1 to 16")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    _timeout(args.timeout)
    options = dict(job.options)
    if getattr(args, "model", None) is not None:
        options["model"] = args.model
    if args.instructions:
        options[job.instructions_option] = args.instructions
    return files, dataclasses.replace(job, options=options)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if path.is_dir():
        raise UsageError(f"{path}: is a directory")
    if mime_type_for(path.name) is None:
        raise UsageError(f"{path}: unsupported file type {path.suffix or '(no extension)'}")
    if path.stat().st_size == 0:
        raise UsageError(f"{path}: the file is empty")


def _categories(names: str | None, path: str | None) -> list[Category]:
    if names and path:
        raise UsageError("use --categories or --categories-file, not both")
    if path:
        return normalize_categories(_categories_file(path))
    if not names:
        raise UsageError("give --categories a,b,c or --categories-file cats.json")
    items = [name.strip() for name in names.split(",")]
    for number, name in enumerate(items, start=1):
        if not name:
            raise UsageError(f"--categories: category {number} is blank")
        if name in items[: number - 1]:
            raise UsageError(f"--categories: category {name!r} is listed twice")
    return normalize_categories(items)


def _subdocuments(names: str | None, path: str | None) -> list[Subdocument]:
    if names and path:
        raise UsageError("use --subdocuments or --subdocuments-file, not both")
    if path:
        raw = _json_file(path)
        if not isinstance(raw, list):
            raise UsageError(f"{path}: expected a non-empty JSON list of subdocuments")
        try:
            return normalize_subdocuments(raw)
        except UsageError as exc:
            raise UsageError(f"{path}: {exc}") from None
    if not names:
        raise UsageError("give --subdocuments a,b,c or --subdocuments-file subdocuments.json")
    try:
        return normalize_subdocuments(name.strip() for name in names.split(","))
    except UsageError as exc:
        raise UsageError(f"--subdocuments: {exc}") from None


def _json_file(path: str) -> Any:
    try:
        return msgspec.json.decode(Path(path).read_bytes())
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None
    except msgspec.DecodeError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from None


def _categories_file(path: str) -> list[Any]:
    raw = _json_file(path)
    if not isinstance(raw, list) or not raw:
        raise UsageError(f"{path}: expected a non-empty JSON list of categories")
    for number, item in enumerate(raw, start=1):
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name.strip():
            raise UsageError(
                f'{path}: category {number} needs a name (a string, or {{"name": "..."}})'
            )
    return raw


async def _batch(
    client: RetabClient, args: argparse.Namespace, files: list[Path], job: _Job, out: Output
) -> int:
    items = await _inputs(client, job, files)
    if args.no_wait:
        return await _start_only(client, items, job, args.concurrency, out)
    keys = [key for key, _ in items]
    table = ResultTable(out, keys, job.column)
    bar = out.progress_bar(len(items))
    seen = _LastProgress(bar)
    batch: Batch[Any] = job.resource(client).map(
        keys if job.inputs is None else [BatchItem(key, value) for key, value in items],
        *job.arguments,
        concurrency=args.concurrency,
        checkpoint=args.checkpoint,
        checkpoint_mode="restart" if args.restart else "resume",
        timeout=args.timeout,
        progress=seen.update,
        cancel_on_exit=not args.keep_running,
        **job.options,
    )
    on_result = functools.partial(job.on_result, client) if job.on_result else None
    try:
        interrupted = await _until_interrupted(_collect(batch, table, on_result))
    finally:
        if bar is not None:
            bar.close()
    table.flush()
    summary = _summary(batch.progress, table.timed_out)
    if interrupted:
        in_flight = seen.last.running
        left = f"{in_flight} left running" if args.keep_running else "in-flight runs cancelled"
        out.note(f"interrupted: {summary}; {left}")
        return EXIT_INTERRUPTED
    out.note(summary)
    return EXIT_OK if batch.progress.completed == len(items) else EXIT_FAILED


async def _inputs(client: RetabClient, job: _Job, files: list[Path]) -> list[tuple[str, Any]]:
    """The runs a batch command starts, as ``(key, input)``: one per file unless the job
    says otherwise."""
    if job.inputs is not None:
        return await job.inputs(client, files)
    return [(str(path), path) for path in files]


class _LastProgress:
    """Keeps the latest progress (the batch reports copies) and drives the bar."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.last = BatchProgress()

    def update(self, progress: BatchProgress) -> None:
        self.last = progress
        if self.bar is not None:
            self.bar.update(progress)


async def _collect(
    batch: Batch[Any],
    table: ResultTable,
    on_result: Callable[[BatchResult[Any]], Awaitable[None]] | None = None,
) -> None:
    async with batch:
        async for result in batch:
            if isinstance(result.error, (AuthenticationError, PermissionDeniedError)):
                raise result.error  # a bad key fails every run: stop at once
            if on_result is not None:
                await on_result(result)
            table.add(result)


# -- edit: filled documents ------------------------------------------------------


def _output_dir(args: argparse.Namespace) -> Path | None:
    """The checked ``--output-dir`` (made if missing), or ``None``. Raises
    :class:`UsageError` for a path that is not a directory, with ``--no-wait``, or when
    two files would write the same filled document."""
    if args.output_dir is None:
        return None
    if args.no_wait:
        raise UsageError("--output-dir cannot be used with --no-wait: no run has finished")
    targets = [filled_path(Path(), name).name for name in args.files]
    twice = sorted({name for name in targets if targets.count(name) > 1})
    if twice:
        raise UsageError(f"--output-dir: several files would write {', '.join(twice)}")
    path = Path(args.output_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--output-dir {path}: {exc.strerror or exc}") from None
    return path


async def _save_filled(output_dir: Path, client: RetabClient, result: BatchResult[Any]) -> None:
    """Write a completed edit's filled PDF into ``output_dir`` (see :func:`filled_path`)."""
    if result.record is None or result.record.output is None:
        return
    target = filled_path(output_dir, result.key)
    try:
        await client.edits.save_filled_document(result.record, target)
    except OSError as exc:
        raise RetabError(f"cannot write {target}: {exc.strerror or exc}") from exc


async def _until_interrupted(work: Awaitable[None]) -> bool:
    """Run ``work``; on SIGINT/SIGTERM cancel it (its clean-up runs) and return True."""
    interrupted = False
    failure: RetabError | None = None
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
            try:
                await work
            except RetabError as exc:  # raised below, not wrapped in an exception group
                failure = exc
        tg.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return interrupted


async def _start_only(
    client: RetabClient, items: list[tuple[str, Any]], job: _Job, concurrency: int, out: Output
) -> int:
    limiter = anyio.CapacityLimiter(concurrency)
    started: dict[str, tuple[str, str, str]] = {}
    errors: dict[str, RetabError] = {}
    refused: list[RetabError] = []

    async def start(key: str, value: Any, scope: anyio.CancelScope) -> None:
        async with limiter:
            try:
                resource = job.resource(client)
                handle = await resource.start(value, *job.arguments, **job.options)
            except (AuthenticationError, PermissionDeniedError) as exc:
                refused.append(exc)  # a bad key fails every run: stop at once
                scope.cancel()
                return
            except RetabError as exc:
                errors[key] = exc
                return
        started[key] = (key, handle.id, handle.token)

    async with anyio.create_task_group() as tg:
        for key, value in items:
            tg.start_soon(start, key, value, tg.cancel_scope)
    if refused:
        raise refused[0]
    started_table(out, [started[key] for key, _ in items if key in started])
    for key, _ in items:
        if key in errors:
            out.error(f"{key}: {error_text(errors[key])}")
    return EXIT_FAILED if errors else EXIT_OK


def _summary(p: BatchProgress, timed_out: int = 0) -> str:
    failed = p.failed - timed_out  # the batch counts a run it stopped waiting for as failed
    text = f"{p.completed} completed, {failed} failed, {p.cancelled} cancelled"
    if timed_out:
        text += f", {timed_out} timed out (left running)"
    if p.total is not None and p.total > p.finished:
        text += f", {p.total - p.finished} without a result"
    if p.resumed:
        text += f" ({p.resumed} resumed from the checkpoint)"
    return text


# -- single runs -------------------------------------------------------------


def _handle(client: RetabClient, args: argparse.Namespace) -> RunHandle[Any]:
    """The run ``get``/``wait``/``cancel`` address: a token names its primitive (which
    ``--primitive``, if given, must agree with), an id belongs to ``--primitive``.
    Raises :class:`UsageError` (bad id) or :class:`TokenError` (bad token) before
    anything is sent."""
    resource: BackgroundResource[Any, Any] = getattr(client, args.primitive or CLASSIFICATIONS.name)
    if is_token(args.id):
        handle = client.resume(args.id)
        if args.primitive is not None and handle.primitive.name != args.primitive:
            raise UsageError(
                f"the token is for a run of {handle.primitive.name}, not of {args.primitive}: "
                f"leave --primitive out (a token names its primitive)"
            )
        return handle
    return resource.handle(args.id)


async def _wait(handle: RunHandle[Any], timeout: float | None, out: Output) -> int:
    try:
        record = await handle.wait(timeout)
    except WaitTimeout as exc:
        if exc.record is not None:
            out.record(exc.record, handle.primitive)
        out.error(
            f"run {handle.id} is still {exc.status} after {exc.elapsed:g}s; it keeps running "
            f"(wait again, or `retab-async cancel {_address(handle)}`)"
        )
        return EXIT_TIMEOUT
    except RunError as exc:
        if exc.record is not None:
            out.record(exc.record, handle.primitive)
        out.error(str(exc))
        return EXIT_FAILED
    out.record(record, handle.primitive)
    return EXIT_OK


def _address(handle: RunHandle[Any]) -> str:
    """How to name ``handle`` on the command line again."""
    if handle.primitive is CLASSIFICATIONS:
        return handle.id
    return f"{handle.id} --primitive {handle.primitive.name}"


async def _cancel(handle: RunHandle[Any], out: Output) -> int:
    run_id = handle.id
    before = await handle.refresh()
    if before.status in TERMINAL_STATUSES:
        out.record(before, handle.primitive)
        out.note(f"nothing was cancelled: run {run_id} had already ended ({before.status})")
        return EXIT_OK
    record = await handle.cancel()
    out.record(record, handle.primitive)
    if record.status == "cancelled":
        out.note(f"run {run_id} was cancelled")
    elif record.status in TERMINAL_STATUSES:
        out.note(f"nothing was cancelled: run {run_id} ended first ({record.status})")
    else:
        out.note(f"cancel requested; run {run_id} is {record.status}")
    return EXIT_OK


def _upload_inputs(names: Sequence[str]) -> list[Path]:
    paths = [Path(name) for name in names]
    for path in paths:
        _check_file(path)
    if len(set(paths)) != len(paths):
        raise UsageError("a file is given twice")
    return paths


async def _upload(client: RetabClient, paths: Sequence[Path], out: Output) -> int:
    """Upload one file after another (each is a stream already); one row per file."""
    rows: list[tuple[str, str, str, str]] = []
    for path in paths:
        uploaded = await client.files.upload(path)
        if out.json_lines:
            out.json({"file": str(path), **msgspec.structs.asdict(uploaded)})
        rows.append((str(path), uploaded.file_id, str(uploaded.size_bytes), uploaded.document.url))
    if not out.json_lines:
        out.table(("FILE", "ID", "BYTES", "DOCUMENT"), rows)
    return EXIT_OK


async def _list(
    client: RetabClient, primitive: Primitive[Any], status: str | None, limit: int, out: Output
) -> int:
    if status is not None and status not in _STATUSES:
        raise UsageError(f"--status must be one of: {', '.join(_STATUSES)}")
    if status is not None and not primitive.list_status_filter:
        raise UsageError(f"{primitive.name} cannot be listed by --status")
    if not 1 <= limit <= 10_000:
        raise UsageError("--limit must be from 1 to 10000")
    resource = getattr(client, primitive.name)  # each list takes its own filters
    filters = {} if status is None else {"status": status}
    records: list[Any] = []
    async for record in resource.list(limit=min(limit, 100), **filters):
        records.append(record)
        if len(records) >= limit:
            break
    out.records(records, primitive)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
