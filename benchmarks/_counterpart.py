"""A counterpart Retab server for client benchmarks, built never to be the bottleneck.

A raw asyncio protocol speaking just enough HTTP/1.1 (keep-alive, Content-Length
bodies, pipelining), on uvloop when it is installed, answering from pre-encoded
record templates (``_records``): a response costs a dict lookup, a status from
the clock, and one ``bytes.join``. Start it in its own process, pinned to its own
core (``_common.Counterpart`` does both); it prints ``listening on URL`` first.

Routes (the API key is ``sk_bench``):

``POST /v1/classifications``
    a background create: a run with a duration drawn from ``--durations``;
    answers ``201`` with the ``queued`` record. The body is counted, not parsed.
``GET /v1/classifications/{id}[?include_output=false]``
    the record now: ``queued`` for the first ``--queued`` fraction of its
    duration, then ``in_progress``, then ``completed`` (full or light).
``GET /v1/classifications?status=&limit=&order=&after=``
    a list page (full rows), with the contract's cursors: ``after`` is an item id
    and is set exactly when another page follows.
``POST /v1/classifications/{id}/cancel``
    ``cancelled`` unless already terminal.

Bench-only routes, not counted: ``GET /_bench/reset`` starts a measurement;
``GET /_bench/stats`` reports, since then, requests and bytes (request and
response, headers included) per kind (``create``, ``get_light``, ``get_full``,
``cancel``, ``list_<status>``) and per ``User-Agent`` tag (``bench-*``),
and this process's CPU seconds and wall seconds; ``GET /_bench/runs`` lists
every run's id, creation and scheduled end (wall clock) and the requests it drew.

    python benchmarks/_counterpart.py [--port P] [--durations MIN MAX] [--seed N]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import heapq
import json
import random
import resource
import time
from typing import Any

from _records import ID_MARKER, record

_STATUSES = ("queued", "in_progress", "completed", "cancelled")
_ACTIVE = ("queued", "in_progress")
_KEY = b"authorization: bearer sk_bench"


def _templates() -> dict[tuple[str, bool, str], list[bytes]]:
    """Every record variant, encoded once and split where the run id goes."""
    from _records import CATEGORY_NAMES

    out: dict[tuple[str, bool, str], list[bytes]] = {}
    for status in _STATUSES:
        for full in (True, False):
            for category in CATEGORY_NAMES:
                body = json.dumps(
                    record(ID_MARKER, status, include_output=full, category=category),
                    separators=(",", ":"),
                ).encode()
                marker = ID_MARKER.encode()
                # The file id repeats the id's hex part; split on that, then rejoin.
                out[status, full, category] = body.split(marker[5:])
    return out


class Run:
    __slots__ = (
        "cancelled",
        "category",
        "created_wall",
        "duration",
        "ends",
        "hex",
        "id",
        "queued_until",
        "requests",
        "seq",
        "start",
        "status",
    )

    def __init__(self, seq: int, run_id: str, category: str, duration: float, queued: float):
        now = time.monotonic()
        self.seq = seq
        self.id = run_id
        self.hex = run_id[5:].encode()
        self.category = category
        self.duration = duration
        self.start = now
        self.queued_until = now + duration * queued
        self.ends = now + duration
        self.created_wall = time.time()
        self.status = "queued"
        self.cancelled = False
        self.requests = 1


class Stats:
    """Counters since the last reset."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.by_tag: dict[str, dict[str, list[int]]] = {}
        self.cpu0 = _cpu()
        self.wall0 = time.monotonic()

    def count(self, tag: str, kind: str, received: int, sent: int) -> None:
        kinds = self.by_tag.get(tag)
        if kinds is None:
            kinds = self.by_tag[tag] = {}
        row = kinds.get(kind)
        if row is None:
            row = kinds[kind] = [0, 0, 0]
        row[0] += 1
        row[1] += received
        row[2] += sent

    def report(self) -> dict[str, Any]:
        tags = {
            tag: {
                kind: {"requests": r, "bytes_in": i, "bytes_out": o}
                for kind, (r, i, o) in kinds.items()
            }
            for tag, kinds in self.by_tag.items()
        }
        return {"cpu_s": _cpu() - self.cpu0, "wall_s": time.monotonic() - self.wall0, "tags": tags}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Server:
    """The state: runs, their status index, counters."""

    def __init__(self, durations: tuple[float, float], queued: float, seed: int) -> None:
        self.durations = durations
        self.queued = queued
        self.rng = random.Random(seed)
        self.templates = _templates()
        self.runs: dict[str, Run] = {}
        self.by_seq: list[Run] = []
        self.index: dict[str, list[int]] = {status: [] for status in _STATUSES}
        self.events: list[tuple[float, int, str]] = []
        self.stats = Stats()
        self.request_ids = 0

    # -- lifecycle ------------------------------------------------------------

    def create(self) -> Run:
        from _records import expected_category

        seq = len(self.by_seq)
        run_id = f"clss_{self.rng.getrandbits(64):016x}"
        low, high = self.durations
        duration = self.rng.uniform(low, high)
        run = Run(seq, run_id, expected_category(run_id), duration, self.queued)
        self.runs[run_id] = run
        self.by_seq.append(run)
        self.index["queued"].append(seq)
        heapq.heappush(self.events, (run.queued_until, seq, "in_progress"))
        heapq.heappush(self.events, (run.ends, seq, "completed"))
        return run

    def advance(self) -> None:
        """Apply the status changes that are due."""
        events = self.events
        now = time.monotonic()
        while events and events[0][0] <= now:
            _, seq, status = heapq.heappop(events)
            run = self.by_seq[seq]
            if run.cancelled or run.status == "completed":
                continue
            self._move(run, status)

    def _move(self, run: Run, status: str) -> None:
        seqs = self.index[run.status]
        del seqs[bisect.bisect_left(seqs, run.seq)]
        run.status = status
        bisect.insort(self.index[status], run.seq)

    def cancel(self, run: Run) -> None:
        if run.status in _ACTIVE:
            run.cancelled = True
            self._move(run, "cancelled")

    def body(self, run: Run, full: bool) -> bytes:
        return run.hex.join(self.templates[run.status, full, run.category])

    # -- list -----------------------------------------------------------------

    def page(self, params: dict[str, str]) -> tuple[int, bytes]:
        status = params.get("status")
        try:
            limit = int(params.get("limit", "10"))
        except ValueError:
            limit = 0
        order = params.get("order", "desc")
        if not 1 <= limit <= 100 or order not in ("asc", "desc") or "before" in params:
            return 422, b'{"detail":[{"loc":["query"],"msg":"unsupported by the counterpart"}]}'
        if status is None:
            seqs: list[int] = [run.seq for run in self.by_seq]
        elif status in self.index:
            seqs = self.index[status]
        else:
            seqs = []
        cursor = self.runs.get(params.get("after", ""))
        if order == "asc":
            start = 0 if cursor is None else bisect.bisect_right(seqs, cursor.seq)
            chosen = seqs[start : start + limit + 1]
        else:
            end = len(seqs) if cursor is None else bisect.bisect_left(seqs, cursor.seq)
            chosen = seqs[max(0, end - limit - 1) : end][::-1]
        more = len(chosen) > limit
        rows = [self.by_seq[seq] for seq in chosen[:limit]]
        before = rows[0].id if rows and cursor is not None else None
        after = rows[-1].id if rows and more else None
        data = b",".join(self.body(run, True) for run in rows)
        meta = json.dumps({"before": before, "after": after}, separators=(",", ":")).encode()
        return 200, b'{"data":[' + data + b'],"list_metadata":' + meta + b"}"


_REASONS = {
    200: b"OK",
    201: b"Created",
    401: b"Unauthorized",
    404: b"Not Found",
    422: b"Unprocessable Entity",
}


def _chunked_end(buffer: bytes, at: int) -> int:
    """Where a chunked body that starts at ``at`` ends, or -1 if it is not all here."""
    while True:
        eol = buffer.find(b"\r\n", at)
        if eol < 0:
            return -1
        size = int(buffer[at:eol].split(b";")[0], 16)
        at = eol + 2 + size + 2
        if at > len(buffer):
            return -1
        if size == 0:
            return at  # no trailers: the client libraries here send none


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end].lower()
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
            total = end + 4 + length
            if b"\r\ntransfer-encoding: chunked" in head:
                total = _chunked_end(buffer, end + 4)
                if total < 0:
                    break
            elif len(buffer) < total:
                break
            line = buffer[: buffer.find(b"\r\n")]
            buffer = buffer[total:]
            self.handle(line, head, total)
            if b"\r\nconnection: close" in head:
                assert self.transport is not None
                self.transport.close()
                buffer = b""
                break
        self.buffer = buffer

    def handle(self, line: bytes, head: bytes, received: int) -> None:
        method, target, _ = line.split(b" ", 2)
        path, _, query = target.decode().partition("?")
        server = self.server
        if path.startswith("/_bench/"):
            status, body = self.bench(path)
            self.reply(status, body)
            return
        tag = "-"
        at = head.find(b"\r\nuser-agent: bench-")
        if at >= 0:
            stop = head.find(b"\r\n", at + 2)
            tag = head[at + 14 : stop if stop >= 0 else len(head)].decode()
        if _KEY not in head:
            kind, status, body = "other", 401, b'{"detail":"Not authenticated"}'
        else:
            server.advance()
            kind, status, body = self.route(method, path, query)
        sent = self.reply(status, body)
        server.stats.count(tag, kind, received, sent)

    def route(self, method: bytes, path: str, query: str) -> tuple[str, int, bytes]:
        server = self.server
        parts = path.split("/")  # ['', 'v1', 'classifications', id, 'cancel']
        if len(parts) < 3 or parts[1] != "v1" or parts[2] != "classifications":
            return "other", 404, b'{"detail":"Not Found"}'
        if len(parts) == 3:
            if method == b"POST":
                run = server.create()
                return "create", 201, server.body(run, True)
            params = dict(p.partition("=")[::2] for p in query.split("&") if p)
            status, body = server.page(params)
            return f"list_{params.get('status', 'any')}", status, body
        run = server.runs.get(parts[3])
        if run is None:
            return "other", 404, b'{"detail":{"code":"NOT_FOUND","message":"no such run"}}'
        run.requests += 1
        if len(parts) == 5 and parts[4] == "cancel" and method == b"POST":
            server.cancel(run)
            return "cancel", 200, server.body(run, True)
        full = "include_output=false" not in query
        return ("get_full" if full else "get_light"), 200, server.body(run, full)

    def bench(self, path: str) -> tuple[int, bytes]:
        server = self.server
        if path == "/_bench/reset":
            server.stats.reset()
            return 200, b"{}"
        if path == "/_bench/stats":
            return 200, json.dumps(server.stats.report()).encode()
        if path == "/_bench/runs":
            runs = [
                {
                    "id": run.id,
                    "created": run.created_wall,
                    "finishes": run.created_wall + run.duration,
                    "requests": run.requests,
                }
                for run in server.by_seq
            ]
            return 200, json.dumps(runs).encode()
        return 404, b"{}"

    def reply(self, status: int, body: bytes) -> int:
        server = self.server
        server.request_ids += 1
        head = (
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"x-request-id: req_%012x\r\n\r\n"
            % (status, _REASONS[status], len(body), server.request_ids)
        )
        assert self.transport is not None
        self.transport.write(head + body)
        return len(head) + len(body)


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--durations", type=float, nargs=2, default=(0.0, 0.0), metavar=("MIN", "MAX")
    )
    parser.add_argument("--queued", type=float, default=0.1, help="fraction of a run spent queued")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


async def _serve(args: argparse.Namespace, loop_name: str) -> None:
    server = Server(tuple(args.durations), args.queued, args.seed)
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(
        lambda: Connection(server), "127.0.0.1", args.port, backlog=4096
    )
    port = listener.sockets[0].getsockname()[1]
    print(f"listening on http://127.0.0.1:{port} ({loop_name})", flush=True)
    async with listener:
        await listener.serve_forever()


def main() -> None:
    args = _parse()
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(args, "asyncio loop"))
        return
    uvloop.run(_serve(args, "uvloop"))


if __name__ == "__main__":
    main()
