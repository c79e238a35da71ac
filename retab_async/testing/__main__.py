"""``python -m retab_async.testing serve ...``: run the local server until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from ._config import FaultConfig, ServerConfig
from ._local import LocalRetab


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m retab_async.testing")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the local Retab server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--api-key", default=ServerConfig.api_key)
    serve.add_argument("--run-time", type=float, default=0.5, metavar="SECONDS")
    serve.add_argument(
        "--run-time-max",
        type=float,
        default=None,
        metavar="SECONDS",
        help="draw run times uniformly from [--run-time, --run-time-max]",
    )
    serve.add_argument("--queue-time", type=float, default=0.0, metavar="SECONDS")
    serve.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        metavar="P",
        help="probability of a fault per request, spread over every kind",
    )
    serve.add_argument("--retry-after", type=float, default=1.0, metavar="SECONDS")
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument("--no-bodies", action="store_true", help="do not keep request bodies")
    serve.add_argument(
        "--log-limit",
        type=int,
        default=10_000,
        metavar="N",
        help="keep the latest N requests in the log served at /_local/requests (default 10000)",
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
        seed=args.seed,
        faults=FaultConfig.mixed(args.fault_rate, retry_after=args.retry_after),
        record_bodies=not args.no_bodies,
        log_limit=args.log_limit,
    )


async def _serve(config: ServerConfig, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with LocalRetab(config, host=host, port=port) as server:
        print(f"listening on {server.base_url}", flush=True)
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
