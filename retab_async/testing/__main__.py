"""``python -m retab_async.testing serve ...``: run the local server until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import shlex
import signal
import sys
from collections.abc import Sequence

from ._config import FaultConfig, ServerConfig
from ._local import LocalRetab


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every option's default; options whose help says it already are left alone."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _parser() -> argparse.ArgumentParser:
    defaults = ServerConfig()
    parser = argparse.ArgumentParser(prog="python -m retab_async.testing")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="run the local Retab server",
        description="Run the local Retab server until interrupted. It prints the "
        "environment lines that point the SDK and the CLI at it.",
        formatter_class=_HelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one")
    serve.add_argument(
        "--api-key", default=defaults.api_key, help="the key clients must send (RETAB_API_KEY)"
    )
    serve.add_argument(
        "--run-time", type=float, default=0.5, metavar="SECONDS", help="how long a run takes"
    )
    serve.add_argument(
        "--run-time-max",
        type=float,
        default=None,
        metavar="SECONDS",
        help="draw run times uniformly from [--run-time, --run-time-max] (default: fixed)",
    )
    serve.add_argument(
        "--queue-time",
        type=float,
        default=defaults.queue_time,
        metavar="SECONDS",
        help="how long a background run stays queued",
    )
    serve.add_argument(
        "--stream-delay",
        type=float,
        default=defaults.stream_delay,
        metavar="SECONDS",
        help="the pause between the lines of an extraction stream",
    )
    serve.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        metavar="P",
        help="probability of a fault per request, spread over every kind",
    )
    serve.add_argument(
        "--retry-after",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="Retry-After of injected 429 answers",
    )
    serve.add_argument(
        "--seed", type=int, default=defaults.seed, help="seeds run times and faults (not ids)"
    )
    serve.add_argument(
        "--record-bodies",
        action=argparse.BooleanOptionalAction,
        default=defaults.record_bodies,
        help="keep request bodies in the request log",
    )
    # Kept for scripts written when bodies were recorded by default.
    serve.add_argument(
        "--no-bodies", dest="record_bodies", action="store_false", help=argparse.SUPPRESS
    )
    serve.add_argument(
        "--log-limit",
        type=int,
        default=defaults.log_limit,
        metavar="N",
        help="keep the latest N requests in the log served at /_local/requests",
    )
    serve.add_argument(
        "--max-runs",
        type=int,
        default=defaults.max_runs,
        metavar="N",
        help="keep at most N runs, evicting the oldest finished ones (default: keep every run)",
    )
    serve.add_argument(
        "--header-timeout",
        type=float,
        default=defaults.header_timeout,
        metavar="SECONDS",
        help="close a connection whose request head has not arrived in time",
    )
    serve.add_argument(
        "--body-timeout",
        type=float,
        default=defaults.body_timeout,
        metavar="SECONDS",
        help="close a connection whose request body has not arrived in time",
    )
    return parser


def _config(args: argparse.Namespace) -> ServerConfig:
    run_time: float | tuple[float, float] = args.run_time
    if args.run_time_max is not None:
        run_time = (args.run_time, args.run_time_max)
    return ServerConfig(
        api_key=args.api_key,
        run_time=run_time,
        queue_time=args.queue_time,
        stream_delay=args.stream_delay,
        seed=args.seed,
        faults=FaultConfig.mixed(args.fault_rate, retry_after=args.retry_after),
        record_bodies=args.record_bodies,
        log_limit=args.log_limit,
        max_runs=args.max_runs,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
    )


def environment_lines(api_key: str, base_url: str) -> list[str]:
    """The shell lines that point the SDK and the CLI at a server."""
    return [
        f"export RETAB_API_KEY={shlex.quote(api_key)}",
        f"export RETAB_API_BASE_URL={shlex.quote(base_url)}",
    ]


async def _serve(config: ServerConfig, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with LocalRetab(config, host=host, port=port) as server:
        lines = environment_lines(server.api_key, server.base_url)
        print(f"listening on {server.base_url}", *lines, sep="\n", flush=True)
        if sys.stderr.isatty():
            print("paste the export lines into your shell; Ctrl-C stops", file=sys.stderr)
        await stop.wait()
    print("stopped", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        config = _config(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(config, args.host, args.port))
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
