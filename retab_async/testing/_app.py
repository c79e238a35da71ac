"""The local Retab server: an ``aiohttp.web`` application for the classifications API.

Routes (contract section 2, decisions D1-D14)::

    POST   /v1/classifications               create (sync, or background: true)
    GET    /v1/classifications               list, cursor pagination
    GET    /v1/classifications/{id}          get (include_output)
    DELETE /v1/classifications/{id}          delete
    POST   /v1/classifications/{id}/cancel   cancel (idempotent)
    GET    /_local/requests, /_local/runs    what the server saw, for tests run out of process

Middlewares, outermost first: request id and error shaping; the request log;
fault injection; authentication.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

from ._config import FaultKind, ServerConfig
from ._store import IdempotencyConflict, Run, RunStore
from ._validation import QueryError, parse_create, parse_list_query

__all__ = ["RecordedRequest", "ServerState", "create_app"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_encode = msgspec.json.Encoder().encode
_decode_any = msgspec.json.Decoder()
_JSON = "application/json"
_log = logging.getLogger("retab_async.testing")


@dataclass(eq=False)
class RecordedRequest:
    """One request the server saw.

    Attributes:
        method, path: the request line; ``path`` is as sent (still percent-encoded).
        query: the query parameters, in order.
        headers: the request headers, names lower-cased.
        body: the raw body (empty when the server does not keep bodies).
        operation: ``create``, ``get``, ``list``, ``cancel``, ``delete``, or ``None``.
        status: the status answered, or ``None`` when the connection was dropped.
        fault: the fault injected into this request, if any.
        at: when it arrived (``time.time()``).
    """

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    operation: str | None
    at: float
    status: int | None = None
    fault: str | None = None

    def json(self) -> Any:
        """The body decoded as JSON."""
        return _decode_any.decode(self.body)


@dataclass(eq=False)
class ServerState:
    """Everything the server knows; tests read it to assert what happened."""

    config: ServerConfig
    store: RunStore
    requests: list[RecordedRequest] = field(default_factory=list)
    fault_rng: random.Random = field(default_factory=random.Random)
    faults_injected: int = 0

    def by_operation(self, operation: str) -> list[RecordedRequest]:
        """The recorded requests of one operation."""
        return [r for r in self.requests if r.operation == operation]


STATE_KEY = web.AppKey("retab_state", ServerState)
_RECORDED = web.RequestKey("retab_recorded", RecordedRequest)
_FAULT = web.RequestKey("retab_fault", str)


def create_app(config: ServerConfig | None = None) -> web.Application:
    """Build the server application; its :class:`ServerState` is ``app[STATE_KEY]``."""
    config = config or ServerConfig()
    state = ServerState(
        config=config, store=RunStore(config), fault_rng=random.Random(config.seed + 1)
    )
    app = web.Application(
        middlewares=[_shape_errors, _record, _inject_faults, _authenticate],
        client_max_size=config.max_body_size,
    )
    app[STATE_KEY] = state
    base = "/v1/classifications"
    app.router.add_post(base, _create, name="create")
    app.router.add_get(base, _list, name="list")
    app.router.add_get(base + "/{id}", _get, name="get")
    app.router.add_delete(base + "/{id}", _delete, name="delete")
    app.router.add_post(base + "/{id}/cancel", _cancel, name="cancel")
    app.router.add_get("/_local/requests", _local_requests)
    app.router.add_get("/_local/runs", _local_runs)
    return app


# -- responses ----------------------------------------------------------------


def _json(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=body, status=status, content_type=_JSON, headers=headers)


def _error_b(status: int, code: str, message: str, details: Any = None) -> web.Response:
    body = {"detail": {"code": code, "message": message, "details": details}}
    return _json(_encode(body), status)


def _error_d(issues: list[dict[str, Any]]) -> web.Response:
    body = {"status_code": 10422, "message": _encode(issues).decode(), "data": None}
    return _json(_encode(body), 422)


def _not_found(run_id: str) -> web.Response:
    return _error_b(404, "NOT_FOUND", f"Classification {run_id} not found")


# -- middlewares --------------------------------------------------------------


@web.middleware
async def _shape_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every response an ``x-request-id`` and every error a contract shape."""
    request_id = "req_" + secrets.token_hex(12)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = _error_b(exc.status, _code_for(exc.status), exc.reason)
    except Exception:  # a bug must show as a 500, never as a dropped connection
        _log.exception("local server error")
        response = _error_b(500, "INTERNAL_ERROR", "Internal server error")
    response.headers["x-request-id"] = request_id
    return response


def _code_for(status: int) -> str:
    return {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}.get(
        status, "HTTP_EXCEPTION"
    )


@web.middleware
async def _record(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    state.store.advance()
    route = request.match_info.route.name
    if route is None:
        return await handler(request)
    entry = RecordedRequest(
        method=request.method,
        path=request.raw_path.split("?", 1)[0],
        query=list(request.query.items()),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=b"",
        operation=route,
        at=time.time(),
    )
    state.requests.append(entry)
    request[_RECORDED] = entry
    if request.body_exists:
        body = await request.read()
        if state.config.record_bodies:
            entry.body = body
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        entry.status = exc.status
        raise
    entry.status = response.status
    return response


@web.middleware
async def _inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    entry = request.get(_RECORDED)
    faults = state.config.faults
    if entry is None or not faults.any:
        return await handler(request)
    if faults.limit is not None and state.faults_injected >= faults.limit:
        return await handler(request)
    kind = faults.draw(state.fault_rng, entry.operation)
    state.faults_injected += kind is not None
    entry.fault = kind
    if kind is not None:
        request[_FAULT] = kind
    if kind == "rate_limit":
        return _rate_limited(faults.retry_after)
    if kind == "server_error":
        return _server_error(state.fault_rng)
    response = await handler(request)
    return await _after(request, kind, response, state)


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


@web.middleware
async def _authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.match_info.route.name is None:
        return await handler(request)
    expected = request.app[STATE_KEY].config.api_key
    auth = request.headers.get("Authorization", "")
    key = auth[7:] if auth.startswith("Bearer ") else request.headers.get("Api-Key")
    if not key or not secrets.compare_digest(key.encode(), expected.encode()):
        return _json(b'{"detail":"Not authenticated"}', 401)
    return await handler(request)


# -- handlers -----------------------------------------------------------------


async def _create(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    raw = await request.read()
    try:
        body = _decode_any.decode(raw)
    except msgspec.DecodeError as exc:
        issue = {"type": "json_invalid", "loc": ["body"], "msg": f"JSON decode error: {exc}"}
        return _error_d([issue])
    parsed = parse_create(body)
    if isinstance(parsed, list):
        return _error_d(parsed)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _valid_key(key):
        return _error_b(
            400, "INVALID_IDEMPOTENCY_KEY", "Idempotency-Key must be 1-255 printable ASCII"
        )
    body_hash = hashlib.sha256(_encode(msgspec.to_builtins(body, order="sorted"))).hexdigest()
    try:
        run, replayed = state.store.create(parsed, idempotency_key=key, body_hash=body_hash)
    except IdempotencyConflict:
        msg = "This Idempotency-Key was already used with a different request body"
        return _error_b(409, "IDEMPOTENCY_KEY_REUSED", msg)
    if not parsed.background:
        await _until_terminal(state.store, run)
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return _json(run.to_json(), 201, headers)


def _valid_key(key: str) -> bool:
    return 1 <= len(key) <= 255 and all(" " <= ch <= "~" for ch in key)


async def _until_terminal(store: RunStore, run: Run) -> None:
    while not run.terminal:
        await asyncio.sleep(max(0.0, store.finish_time(run) - time.monotonic()) + 0.001)
        store.advance()


def _lookup(request: web.Request) -> Run | web.Response:
    state = request.app[STATE_KEY]
    run_id = request.match_info["id"]
    run = state.store.get(run_id)
    if run is None:
        return _not_found(run_id)
    young = time.monotonic() - run.created_mono < state.config.faults.not_found_window
    if young and request.get(_FAULT) == "not_found":
        return _not_found(run_id)
    return run


async def _get(request: web.Request) -> web.StreamResponse:
    run = _lookup(request)
    if isinstance(run, web.Response):
        return run
    flag = request.query.get("include_output", "true").lower()
    if flag not in ("true", "false", "1", "0"):
        issue = {
            "type": "bool_parsing",
            "loc": ["query", "include_output"],
            "msg": "Input should be a valid boolean",
        }
        return _json(_encode({"detail": [issue]}), 422)
    return _json(run.to_json(include_output=flag in ("true", "1")))


async def _cancel(request: web.Request) -> web.StreamResponse:
    run = _lookup(request)
    if isinstance(run, web.Response):
        return run
    return _json(request.app[STATE_KEY].store.cancel(run).to_json())


async def _delete(request: web.Request) -> web.StreamResponse:
    run = _lookup(request)
    if isinstance(run, web.Response):
        return run
    request.app[STATE_KEY].store.delete(run)
    return web.Response(status=204)


async def _list(request: web.Request) -> web.StreamResponse:
    try:
        query = parse_list_query(request.query)
    except QueryError as exc:
        if exc.status == 400:
            return _error_b(400, "INVALID_DATE", exc.issues[0]["msg"])
        return _json(_encode({"detail": exc.issues}), 422)
    runs, before, after = request.app[STATE_KEY].store.page(query)
    page = {
        "data": [msgspec.Raw(run.to_json()) for run in runs],
        "list_metadata": {"before": before, "after": after},
    }
    return _json(_encode(page))


# -- introspection for out-of-process tests ----------------------------------


async def _local_requests(request: web.Request) -> web.StreamResponse:
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
    store = request.app[STATE_KEY].store
    items = [
        {
            "id": run.id,
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
