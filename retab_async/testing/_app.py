"""The local Retab server: an ``aiohttp.web`` application for the classifications API.

Routes (contract section 2, decisions D1-D14)::

    POST   /v1/classifications               create (sync, or background: true)
    GET    /v1/classifications               list, cursor pagination
    GET    /v1/classifications/{id}          get (include_output)
    DELETE /v1/classifications/{id}          delete
    POST   /v1/classifications/{id}/cancel   cancel (idempotent)
    GET    /_local/requests, /_local/runs    what the server saw, for tests run out of process

and the files routes (``_files.py``): the upload flow, list, get, download link.

Each route is wrapped, outermost first, in: request id and error shaping; the
request log; fault injection; authentication.

Client input never gets a 5xx (injected faults aside): bodies nested deeper than
``max_json_depth`` get ``422``, an auth header that is not valid UTF-8 gets
``401``, and a body that does not arrive within ``body_timeout`` closes the
connection.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import re
import secrets
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from aiohttp import hdrs, web
from multidict import istr

from .._clock import SYSTEM_CLOCK, Clock
from ._config import FaultKind, ServerConfig
from ._file_routes import FileRoutes
from ._files import FileStore, current_files
from ._primitive import ServerPrimitive
from ._primitives import PRIMITIVES
from ._responses import encode as _encode
from ._responses import error_b as _error_b
from ._responses import json_response as _json
from ._routes import FAULT, REQUEST_ID, Handler, RunRoutes
from ._store import RunStore

__all__ = ["RecordedRequest", "ServerState", "create_app"]

# The request log keeps plain tuples of strings and numbers: the garbage collector
# stops tracking those, so a log of a million requests costs it nothing.
# (method, raw path with query, raw headers, body, operation, at, status, fault)
_LogEntry = tuple[
    str, str, tuple[tuple[bytes, bytes], ...], bytes, str | None, float, int | None, str | None
]
_decode_any = msgspec.json.Decoder()
_API_KEY = istr("Api-Key")
_log = logging.getLogger("retab_async.testing")
# Signed URLs: authenticated by their signature, not the API key (a storage URL).
_SIGNED = frozenset({"upload_content", "download"})
# Bodies read by the route as they arrive (to disk), not whole by the pipeline.
_STREAMED = frozenset({"upload_content"})


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the server saw.

    Attributes:
        method, path: the request line; ``path`` is as sent (still percent-encoded).
        query: the query parameters, in order.
        headers: the request headers, names lower-cased.
        body: the raw body (empty when the server does not keep bodies).
        operation: ``create``, ``get``, ``list``, ``cancel``, ``delete``, or ``None``.
        at: when it arrived (``time.time()``).
        status: the status answered, or ``None`` when the connection was dropped.
        fault: the fault injected into this request, if any.
    """

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    operation: str | None
    at: float
    status: int | None
    fault: str | None

    @classmethod
    def from_log(cls, entry: _LogEntry) -> RecordedRequest:
        """Build one from the server's compact log entry."""
        method, raw_path, headers, body, operation, at, status, fault = entry
        path, _, query = raw_path.partition("?")
        return cls(
            method=method,
            path=path,
            query=parse_qsl(query, keep_blank_values=True),
            headers={
                name.decode("latin-1").lower(): value.decode("latin-1") for name, value in headers
            },
            body=body,
            operation=operation,
            at=at,
            status=status,
            fault=fault,
        )

    def json(self) -> Any:
        """The body decoded as JSON."""
        return _decode_any.decode(self.body)


@dataclass(eq=False)
class ServerState:
    """Everything the server knows; tests read it to assert what happened."""

    config: ServerConfig
    store: RunStore
    files: FileStore
    log: deque[_LogEntry] = field(default_factory=deque)
    logged: int = 0
    fault_rng: random.Random = field(default_factory=random.Random)
    faults_injected: int = 0
    #: Connections whose first request head has not arrived yet, with the timer
    #: that closes them (see ``LocalRetab.start``).
    head_timers: dict[web.RequestHandler, asyncio.TimerHandle] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=itertools.count)
    _id_prefix: str = field(default_factory=lambda: secrets.token_hex(6))

    @property
    def expected_key(self) -> bytes:
        """The API key the server accepts, as bytes."""
        return self.config.api_key.encode()

    def next_request_id(self) -> str:
        """A new ``x-request-id``: unique per response, cheap to make."""
        return f"req_{self._id_prefix}{next(self._ids):012x}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every API request kept in the log (the latest ``log_limit``), in order of arrival."""
        # tuple() copies in one step, so a server on another thread cannot change
        # the log while it is read.
        return [RecordedRequest.from_log(entry) for entry in tuple(self.log)]

    def by_operation(self, operation: str) -> list[RecordedRequest]:
        """The recorded requests of one operation."""
        return [r for r in self.requests if r.operation == operation]


STATE_KEY = web.AppKey("retab_state", ServerState)


def create_app(
    config: ServerConfig | None = None,
    *,
    clock: Clock | None = None,
    primitives: Sequence[ServerPrimitive[Any]] = PRIMITIVES,
) -> web.Application:
    """Build the server application; its :class:`ServerState` is ``app[STATE_KEY]``.

    ``clock`` moves its runs on and decides when idempotency records expire (the
    system clock by default; a ``ManualClock`` in tests). ``primitives`` are the
    kinds of run it serves (all of them by default).
    """
    config = config or ServerConfig()
    state = ServerState(
        config=config,
        store=RunStore(config, clock or SYSTEM_CLOCK),
        files=FileStore(config, clock or SYSTEM_CLOCK),
        fault_rng=random.Random(config.seed + 1),
        log=deque(maxlen=config.log_limit),
    )
    app = web.Application(client_max_size=config.max_body_size)
    app[STATE_KEY] = state
    paths = []
    for primitive in primitives:
        for method, path, handler, operation in RunRoutes(state.store, primitive).routes():
            app.router.add_route(method, path, _endpoint(state, handler, operation))
            paths.append(path)
    for method, path, handler, operation in FileRoutes(state.files).routes():
        app.router.add_route(method, path, _endpoint(state, handler, operation))
        paths.append(path)
    app.on_cleanup.append(_remove_files)
    app.router.add_get("/_local/requests", _local_requests)
    app.router.add_get("/_local/runs", _local_runs)
    # Last, so that unknown paths and methods get our error shape and request id too.
    app.router.add_route("*", "/{tail:.*}", _endpoint(state, _no_route_for(paths), None))
    return app


async def _remove_files(app: web.Application) -> None:
    app[STATE_KEY].files.close()


# -- the request pipeline ------------------------------------------------------
#
# Each route's handler is wrapped at registration rather than by a middleware:
# aiohttp's middleware machinery costs about a third of a small request.


def _endpoint(state: ServerState, handler: Handler, operation: str | None) -> Handler:
    """``handler`` with, in order: request id and error shapes, the request log,
    faults, and authentication."""

    async def endpoint(request: web.Request) -> web.StreamResponse:
        if state.head_timers:
            head_arrived(state, request.protocol)
        request_id = request[REQUEST_ID] = state.next_request_id()
        current_files(state.files)
        try:
            response = await _serve(request, handler, state, operation)
        except web.HTTPException as exc:
            response = _error_b(exc.status, _code_for(exc.status), exc.reason)
        except Exception:  # a bug must show as a 500, never as a dropped connection
            _log.exception("local server error")
            response = _error_b(500, "INTERNAL_ERROR", "Internal server error")
        response.headers["x-request-id"] = request_id
        return response

    return endpoint


def head_arrived(state: ServerState, connection: web.RequestHandler) -> None:
    """Stop the timer that would close ``connection`` for a late first request head."""
    timer = state.head_timers.pop(connection, None)
    if timer is not None:
        timer.cancel()


def close_if_no_head(state: ServerState, connection: web.RequestHandler) -> None:
    """Close ``connection`` when its first request head is overdue (timer callback)."""
    if state.head_timers.pop(connection, None) is not None and connection.transport is not None:
        _log.info("closing a connection whose request head did not arrive in time")
        connection.transport.close()


def _no_route_for(paths: list[str]) -> Handler:
    """The answer to a request no route took: ``405`` on a known path, else ``404``."""
    known = re.compile("|".join(f"(?:{re.sub(r'{[^}]+}', '[^/]+', p)})" for p in paths))

    async def no_route(request: web.Request) -> web.StreamResponse:
        if known.fullmatch(request.path):
            return _error_b(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed here")
        return _error_b(404, "NOT_FOUND", "Not Found")

    return no_route


def _code_for(status: int) -> str:
    return {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}.get(
        status, "HTTP_EXCEPTION"
    )


async def _serve(
    request: web.Request, handler: Handler, state: ServerState, operation: str | None
) -> web.StreamResponse:
    state.store.advance()
    if operation is None:
        return await handler(request)
    log = state.log
    number = state.logged
    state.logged += 1
    entry: _LogEntry = (
        request.method,
        request.raw_path,
        request.raw_headers,
        b"",
        operation,
        time.time(),
        None,
        None,
    )
    log.append(entry)
    status: int | None = None
    fault: list[str] = []
    try:
        if request.body_exists and operation not in _STREAMED:
            body = await _read_body(request, state.config.body_timeout)
            if state.config.record_bodies:
                entry = (*entry[:3], body, *entry[4:])
                _update(state, number, entry)
        faults = state.config.faults
        if faults.active and (faults.limit is None or state.faults_injected < faults.limit):
            response = await _faulty(request, handler, state, operation, fault)
        elif operation in _SIGNED or _authorized(request, state):
            response = await handler(request)
        else:
            response = _unauthorized()
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        if status is not None or fault:
            _update(state, number, (*entry[:6], status, fault[0] if fault else None))


async def _read_body(request: web.Request, timeout: float) -> bytes:
    """The whole body; a body that has not arrived within ``timeout`` closes the connection."""
    if request.content.is_eof():  # it came with the head, as small bodies do: no timer
        return await request.read()
    transport = request.transport
    if transport is None:
        raise asyncio.CancelledError
    timer = asyncio.get_running_loop().call_later(timeout, _drop_slow_sender, transport)
    try:
        return await request.read()
    except ConnectionError:
        raise asyncio.CancelledError from None  # the connection is gone; nobody to answer
    finally:
        timer.cancel()


def _drop_slow_sender(transport: asyncio.BaseTransport) -> None:
    _log.info("closing a connection whose request body did not arrive in time")
    transport.close()


def _update(state: ServerState, number: int, entry: _LogEntry) -> None:
    """Replace log entry ``number`` (counted since start), unless it was dropped already."""
    offset = number - (state.logged - len(state.log))
    if offset >= 0:
        state.log[offset] = entry


async def _faulty(
    request: web.Request, handler: Handler, state: ServerState, operation: str, fault: list[str]
) -> web.StreamResponse:
    faults = state.config.faults
    kind = faults.draw(state.fault_rng, operation)
    if kind is not None:
        state.faults_injected += 1
        fault.append(kind)
        request[FAULT] = kind
    if kind == "rate_limit":
        return _rate_limited(faults.retry_after)
    if kind == "server_error":
        return _server_error(state.fault_rng)
    if operation not in _SIGNED and not _authorized(request, state):
        return _unauthorized()
    response = await handler(request)
    return await _after(request, kind, response, state)


def _authorized(request: web.Request, state: ServerState) -> bool:
    headers = request.headers
    auth = headers.get(hdrs.AUTHORIZATION, "")
    key = auth[7:] if auth.startswith("Bearer ") else headers.get(_API_KEY)
    if not key:
        return False
    # Header bytes that are not UTF-8 arrive as surrogate escapes: encode them
    # back, so that such a key is simply wrong (401), not an error.
    return secrets.compare_digest(key.encode("utf-8", "surrogateescape"), state.expected_key)


def _unauthorized() -> web.Response:
    return _json(b'{"detail":"Not authenticated"}', 401)


def _rate_limited(retry_after: float) -> web.Response:
    value = str(int(retry_after)) if retry_after == int(retry_after) else f"{retry_after:g}"
    response = _error_b(429, "RATE_LIMITED", "Too many requests")
    response.headers["Retry-After"] = value
    return response


def _server_error(rng: random.Random) -> web.Response:
    status = rng.choice((500, 502, 503))
    if rng.random() < 0.5:
        return _error_b(status, "INTERNAL_ERROR", "Upstream failure")
    text = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}[status]
    return web.Response(status=status, text=f"<html><body><h1>{status} {text}</h1></body></html>")


async def _after(
    request: web.Request, kind: FaultKind | None, response: web.StreamResponse, state: ServerState
) -> web.StreamResponse:
    if kind == "disconnect":
        if request.transport is not None:
            request.transport.close()
        raise asyncio.CancelledError  # the work is done; the answer is lost
    if kind == "slow":
        await asyncio.sleep(state.config.faults.slow_seconds)
    if kind == "truncated" and isinstance(response, web.Response) and response.body:
        body = bytes(response.body)  # type: ignore[arg-type]
        response.body = body[: max(1, len(body) // 2)]
    return response


# -- introspection for out-of-process tests ----------------------------------


async def _local_requests(request: web.Request) -> web.StreamResponse:
    head_arrived(request.app[STATE_KEY], request.protocol)
    items = [
        {
            "method": r.method,
            "path": r.path,
            "query": r.query,
            "operation": r.operation,
            "status": r.status,
            "fault": r.fault,
            "idempotency_key": r.headers.get("idempotency-key"),
            "at": r.at,
        }
        for r in request.app[STATE_KEY].requests
    ]
    return _json(_encode(items))


async def _local_runs(request: web.Request) -> web.StreamResponse:
    head_arrived(request.app[STATE_KEY], request.protocol)
    store = request.app[STATE_KEY].store
    items = [
        {
            "id": run.id,
            "primitive": run.primitive.name,
            "status": run.status,
            "filename": run.file["filename"],
            "idempotency_key": run.idempotency_key,
            "created_at": run.created_wall,
            "terminal_at": run.terminal_wall,
            "finishes_at": run.created_wall + store.config.queue_time + run.run_time,
        }
        for run in store
    ]
    return _json(_encode({"created": store.created, "runs": items}))
