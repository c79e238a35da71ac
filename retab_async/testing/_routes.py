"""The routes every primitive has, written once: create, get, list, cancel, delete.

:class:`RunRoutes` binds them to one :class:`~._primitive.ServerPrimitive` and
the store; a primitive's own routes (``extra_routes``) get the same object, so
that they start, find and wait for runs with the steps the generic routes use.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, NamedTuple

import msgspec
from aiohttp import web

from ._primitive import CreateRequest, ExtraHandler, Refusal, ServerPrimitive
from ._responses import encode, error_b, error_d, json_response
from ._store import IdempotencyConflict, Run, RunStore
from ._validation import QueryError, parse_list_query

__all__ = ["FAULT", "REQUEST_ID", "Handler", "Parsed", "RunRoutes"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FAULT = web.RequestKey("retab_fault", str)
"""The fault injected into a request, set by the request pipeline."""

REQUEST_ID = web.RequestKey("retab_request_id", str)
"""The request's ``x-request-id``, set by the request pipeline before any handler runs."""

_decode_any = msgspec.json.Decoder()


class Parsed(NamedTuple):
    """A create body that passed validation: the request, and the body as decoded."""

    request: CreateRequest
    body: Any


class RunRoutes:
    """The generic routes of one primitive over the server's store."""

    def __init__(self, store: RunStore, primitive: ServerPrimitive[Any]) -> None:
        self.store = store
        self.primitive = primitive

    def routes(self) -> list[tuple[str, str, Handler, str]]:
        """``(method, path, handler, operation)`` of every route of the primitive."""
        prim = self.primitive
        base, item = prim.path, prim.path + "/{id}"
        routes: list[tuple[str, str, Handler, str]] = [
            ("POST", base, self.create, "create"),
            ("GET", item, self.get, "get"),
            ("POST", item + "/cancel", self.cancel, "cancel"),
        ]
        if prim.has_list:
            routes.append(("GET", base, self.list, "list"))
        if prim.has_delete:
            routes.append(("DELETE", item, self.delete, "delete"))
        for extra in prim.extra_routes:
            routes.append(
                (extra.method, base + extra.path, self._bind(extra.handler), extra.operation)
            )
        return routes

    def _bind(self, handler: ExtraHandler) -> Handler:
        async def bound(request: web.Request) -> web.StreamResponse:
            return await handler(request, self)

        return bound

    # -- steps, also for a primitive's own routes ---------------------------------

    async def start(self, request: web.Request) -> tuple[Run, bool] | web.Response:
        """Validate a create body and start its run (or replay it, by ``Idempotency-Key``).

        Returns ``(run, replayed)``, or the error response: ``422`` shape D for a bad
        body, ``400`` for a refused one or a malformed key, ``409`` for a reused key.
        """
        parsed = await self.parse(request)
        if isinstance(parsed, web.Response):
            return parsed
        return self.start_parsed(request, parsed)

    async def parse(self, request: web.Request) -> Parsed | web.Response:
        """The validated create request, or the error response (``422``; ``400``, or the
        status of its :class:`Refusal`, when the primitive's ``check_create`` refuses it)."""
        raw = await request.read()
        limit = self.store.config.max_json_depth
        try:
            body = _decode_any.decode(raw)
        except msgspec.DecodeError as exc:
            issue = {"type": "json_invalid", "loc": ["body"], "msg": f"JSON decode error: {exc}"}
            return error_d([issue])
        except RecursionError:  # deeper than the decoder goes: deeper than any limit
            return _too_deep(limit)
        if _deeper_than(body, limit):
            return _too_deep(limit)
        parsed = self.primitive.parse_create(body)
        if isinstance(parsed, list):
            return error_d(parsed)
        refused = self.primitive.check_create(parsed)
        if isinstance(refused, Refusal):
            return error_b(refused.status, refused.code, refused.message)
        if refused is not None:
            return error_b(400, "INVALID_REQUEST", refused)
        return Parsed(parsed, body)

    def start_parsed(self, request: web.Request, parsed: Parsed) -> tuple[Run, bool] | web.Response:
        """Start the run of a request :meth:`parse` accepted (see :meth:`start`)."""
        key = request.headers.get("Idempotency-Key")
        if key is not None and not _valid_key(key):
            return error_b(
                400, "INVALID_IDEMPOTENCY_KEY", "Idempotency-Key must be 1-255 printable ASCII"
            )
        # The route is part of what a key stands for: the same key and body sent to
        # another route is a different request.
        canonical = encode([request.path, msgspec.to_builtins(parsed.body, order="sorted")])
        body_hash = hashlib.sha256(canonical).hexdigest()
        try:
            return self.store.create(
                self.primitive, parsed.request, idempotency_key=key, body_hash=body_hash
            )
        except IdempotencyConflict:
            msg = "This Idempotency-Key was already used with a different request body"
            return error_b(409, "IDEMPOTENCY_KEY_REUSED", msg)

    async def until_terminal(self, run: Run) -> None:
        """Wait, on the store's clock, until ``run`` is terminal."""
        store = self.store
        store.advance()
        while not run.terminal:
            await store.clock.sleep(max(0.0, store.finish_time(run) - store.clock.now()) + 0.001)
            store.advance()

    def lookup(self, request: web.Request) -> Run | web.Response:
        """The run named by the path's ``{id}``, or a ``404`` (also the read-after-write
        lag of D10, when that fault was drawn for this request)."""
        run_id = request.match_info["id"]
        run = self.store.get(self.primitive, run_id)
        if run is None:
            return self.not_found(run_id)
        faults = self.store.config.faults
        young = faults.not_found and self.store.clock.now() - run.created_mono < (
            faults.not_found_window
        )
        if young and request.get(FAULT) == "not_found":
            return self.not_found(run_id)
        return run

    async def stream(
        self, request: web.Request, lines: Iterable[bytes], *, content_type: str
    ) -> web.StreamResponse:
        """Answer ``200`` with ``lines`` as they come, ``stream_delay`` seconds of the
        store's clock apart. A client that goes away ends the answer quietly.

        The ``truncated`` and ``disconnect`` faults act within the stream: it ends
        cleanly halfway through a line, or the connection drops after half the lines.
        """
        sent = list(lines)
        fault = request.get(FAULT)
        if fault == "truncated":
            whole = b"".join(sent)
            sent = [whole[: max(1, len(whole) // 2)]]
        elif fault == "disconnect":
            sent = sent[: len(sent) // 2]
        response = web.StreamResponse(headers={"x-request-id": request.get(REQUEST_ID, "")})
        response.content_type = content_type
        delay = self.store.config.stream_delay
        try:
            await response.prepare(request)
            for index, line in enumerate(sent):
                if index and delay:
                    await self.store.clock.sleep(delay)
                await response.write(line)
            if fault == "disconnect":
                if request.transport is not None:
                    request.transport.close()
                raise asyncio.CancelledError  # the answer is lost midway
            await response.write_eof()
        except ConnectionError:
            raise asyncio.CancelledError from None  # nobody is left to answer
        return response

    def not_found(self, run_id: str) -> web.Response:
        """The ``404`` for an unknown id, shape B."""
        return error_b(404, "NOT_FOUND", f"{self.primitive.noun} {run_id} not found")

    # -- the generic routes ---------------------------------------------------------

    async def create(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1/<name>``: ``201`` with the record, finished unless ``background``."""
        parsed = await self.parse(request)
        if isinstance(parsed, web.Response):
            return parsed
        started = self.start_parsed(request, parsed)
        if isinstance(started, web.Response):
            return started
        run, replayed = started
        if not parsed.request.background:
            await self.until_terminal(run)
        headers = {"Idempotent-Replayed": "true"} if replayed else None
        return json_response(run.to_json(), 201, headers)

    async def get(self, request: web.Request) -> web.StreamResponse:
        """``GET /v1/<name>/{id}``, with ``include_output``."""
        run = self.lookup(request)
        if isinstance(run, web.Response):
            return run
        query = request.query_string
        if query in ("", "include_output=true"):  # the common cases, without parsing
            return json_response(run.to_json())
        flag = request.query.get("include_output", "true").lower()
        if flag not in ("true", "false", "1", "0"):
            issue = {
                "type": "bool_parsing",
                "loc": ["query", "include_output"],
                "msg": "Input should be a valid boolean",
            }
            return json_response(encode({"detail": [issue]}), 422)
        return json_response(run.to_json(include_output=flag in ("true", "1")))

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1/<name>/{id}/cancel``: idempotent (D4)."""
        run = self.lookup(request)
        if isinstance(run, web.Response):
            return run
        return json_response(self.store.cancel(run).to_json())

    async def delete(self, request: web.Request) -> web.StreamResponse:
        """``DELETE /v1/<name>/{id}``: ``204`` (D5)."""
        run = self.lookup(request)
        if isinstance(run, web.Response):
            return run
        self.store.delete(run)
        return web.Response(status=204)

    async def list(self, request: web.Request) -> web.StreamResponse:
        """``GET /v1/<name>``: one page and its cursors (D12)."""
        prim = self.primitive
        try:
            query = parse_list_query(
                request.query,
                status_filter=prim.has_status_filter,
                own_filters=prim.list_filters,
            )
        except QueryError as exc:
            if exc.status == 400:
                return error_b(400, "INVALID_DATE", exc.issues[0]["msg"])
            return json_response(encode({"detail": exc.issues}), 422)
        runs, before, after = self.store.page(prim, query)
        page = {
            "data": [msgspec.Raw(run.to_json()) for run in runs],
            "list_metadata": {"before": before, "after": after},
        }
        return json_response(encode(page))


def _too_deep(limit: int) -> web.Response:
    msg = f"JSON is nested deeper than {limit} levels"
    return error_d([{"type": "json_invalid", "loc": ["body"], "msg": msg}])


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether decoded JSON nests more than ``limit`` arrays or objects deep."""
    level: Sequence[Any] = [value]
    for _ in range(limit + 1):
        inner: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                inner.extend(item.values())
            elif isinstance(item, list):
                inner.extend(item)
        if not inner:
            return False
        level = inner
    return True


def _valid_key(key: str) -> bool:
    return 1 <= len(key) <= 255 and all(" " <= ch <= "~" for ch in key)
