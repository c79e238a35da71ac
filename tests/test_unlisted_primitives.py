"""A primitive without a list, a delete or ``usage``, on a path of its own: its
differences are fields of its descriptions (client and server), and the machinery
serves and watches it without knowing its name."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import anyio
import msgspec
import pytest
from aiohttp.test_utils import TestServer

from retab_async import PollPolicy, PrimitiveError, RetabClient, RetryPolicy, RunFailed
from retab_async._resources.base import BackgroundResource, RunResource
from retab_async._runs.primitive import Primitive
from retab_async.testing import ServerConfig, create_app
from retab_async.testing._app import STATE_KEY, ServerState
from retab_async.testing._primitive import Issue, Outcome, Refusal, ServerPrimitive
from retab_async.testing._validation import _check_document, _issue

KEY = "sk_unlisted"


@dataclass(frozen=True)
class TallyCreate:
    filename: str
    url: str
    mime_type: str
    content: bytes | None
    model: str
    background: bool


def _parse(body: Any) -> TallyCreate | list[Issue]:
    issues: list[Issue] = []
    if not isinstance(body, dict):
        return [_issue("model_attributes_type", [], "Input should be a valid dictionary", body)]
    document = _check_document(body.get("document"), issues)
    if document is None or issues:
        return issues
    return TallyCreate(*document, model="", background=body.get("background") is True)


def _refuse(request: TallyCreate) -> Refusal | None:
    if request.filename == "missing.txt":
        return Refusal(404, "NOT_FOUND", "File missing.txt not found")
    return None


SERVER_TALLIES: ServerPrimitive[TallyCreate] = ServerPrimitive(
    name="tallies",
    noun="Tally",
    id_prefix="tly_",
    parse_create=_parse,
    compute=lambda req: Outcome(output={"type": "object", "size": len(req.content or b"")}),
    record=lambda req: {"strict": True},
    placeholder={},
    empty_output={},
    check_create=_refuse,
    has_consensus=False,
    has_list=False,
    has_delete=False,
    collection="tallies/runs",
    result_field="json_schema",
    has_file=False,
    has_model=False,
    has_usage=False,
    object_name="tally",
    has_timestamps=True,
)


class Tally(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    status: str = "pending"
    error: PrimitiveError | None = None
    json_schema: dict[str, Any] | None = None


TALLIES: Primitive[Tally] = Primitive(
    "tallies",
    Tally,
    result_field="json_schema",
    collection="tallies/runs",
    listable=False,
    deletable=False,
)


class _Options(msgspec.Struct, frozen=True):
    pass


class Tallies(BackgroundResource[Tally, _Options]):
    primitive = TALLIES

    async def _body(self, document: str, options: _Options, *, background: bool) -> bytes:
        url = "data:text/plain;base64," + base64.b64encode(document.encode()).decode()
        body = {"document": {"filename": "t.txt", "url": url}, "background": background}
        return msgspec.json.encode(body)


def _doc(text: bytes, filename: str = "a.txt") -> dict[str, str]:
    return {
        "filename": filename,
        "url": "data:text/plain;base64," + base64.b64encode(text).decode(),
    }


@pytest.fixture
async def server(request: pytest.FixtureRequest) -> AsyncIterator[TestServer]:
    queue_time = getattr(request, "param", 0.0)
    config = ServerConfig(api_key=KEY, run_time=0.02, queue_time=queue_time)
    async with TestServer(create_app(config, primitives=(SERVER_TALLIES,))) as server:
        yield server


def _state(server: TestServer) -> ServerState:
    return server.app[STATE_KEY]


async def _call(server: TestServer, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, server.make_url(path), headers=headers, **kwargs) as r,
    ):
        raw = await r.read()
        return r.status, msgspec.json.decode(raw) if raw.startswith(b"{") else raw


async def test_server_record_has_the_fields_its_description_names(server: TestServer) -> None:
    status, body = await _call(server, "POST", "/v1/tallies/runs", json={"document": _doc(b"abc")})
    assert status == 201
    assert list(body) == [
        "object",
        "id",
        "strict",
        "json_schema",
        "status",
        "error",
        "created_at",
        "started_at",
        "completed_at",
    ]
    assert body["object"] == "tally" and body["json_schema"] == {"type": "object", "size": 3}
    assert body["status"] == "completed" and body["started_at"] and body["completed_at"]
    status, light = await _call(
        server, "GET", f"/v1/tallies/runs/{body['id']}?include_output=false"
    )
    assert status == 200 and light["json_schema"] == {}


@pytest.mark.parametrize("server", [60.0], indirect=True)  # runs stay queued
async def test_server_serves_no_list_and_no_delete(server: TestServer) -> None:
    status, body = await _call(
        server, "POST", "/v1/tallies/runs", json={"document": _doc(b"abc"), "background": True}
    )
    assert status == 201 and body["status"] == "queued"
    assert body["started_at"] is None and body["completed_at"] is None
    assert body["json_schema"] == {}
    assert (await _call(server, "GET", "/v1/tallies/runs"))[0] == 405
    assert (await _call(server, "DELETE", f"/v1/tallies/runs/{body['id']}"))[0] == 405
    assert (await _call(server, "GET", "/v1/tallies"))[0] == 404
    status, cancelled = await _call(server, "POST", f"/v1/tallies/runs/{body['id']}/cancel")
    assert status == 200 and cancelled["status"] == "cancelled"
    assert cancelled["completed_at"] is not None
    assert [r.operation for r in _state(server).requests] == ["create", "cancel"]


async def test_a_refusal_answers_its_own_status_in_shape_b(server: TestServer) -> None:
    status, body = await _call(
        server, "POST", "/v1/tallies/runs", json={"document": _doc(b"abc", "missing.txt")}
    )
    assert status == 404
    assert body["detail"]["code"] == "NOT_FOUND"
    assert body["detail"]["message"] == "File missing.txt not found"


def _client(server: TestServer, **options: Any) -> RetabClient:
    options.setdefault("retry", RetryPolicy.for_tests())
    options.setdefault("timeout", 5.0)
    return RetabClient(KEY, str(server.make_url("")).rstrip("/"), **options)


async def test_runs_without_a_list_are_watched_by_gets_only(server: TestServer) -> None:
    # Even when told to poll by list rounds, the poller has no list to read here.
    policy = PollPolicy(strategy="list", min_interval=0.005, max_interval=0.02, list_min_runs=2)
    async with _client(server, poll=policy) as client:
        tallies = Tallies(client._pipeline, client.poller)
        handles = [
            await tallies._start("x" * n, _Options(), idempotency_key=None) for n in range(1, 13)
        ]
        assert all(h.primitive is TALLIES for h in handles)
        results: dict[str, Tally] = {}

        async def wait(handle: Any) -> None:
            results[handle.id] = await handle.wait(timeout=10)

        async with anyio.create_task_group() as tg:
            for handle in handles:
                tg.start_soon(wait, handle)
        stats = client.poller.stats
    state = _state(server)
    assert state.by_operation("list") == [] and stats.list_rounds == 0 and stats.list_pages == 0
    assert stats.strategy.get("tallies", "get") == "get"
    gets = state.by_operation("get")
    assert gets and all(r.path.startswith("/v1/tallies/runs/tly_") for r in gets)
    sizes = sorted(record.json_schema["size"] for record in results.values())  # type: ignore[index]
    assert sizes == list(range(1, 13))


async def test_a_failed_run_of_an_unlisted_primitive_raises_run_failed(server: TestServer) -> None:
    async with _client(server, poll=PollPolicy(min_interval=0.005, max_interval=0.02)) as client:
        tallies = Tallies(client._pipeline, client.poller)
        handle = await tallies._start("[[retab:fail]]", _Options(), idempotency_key=None)
        with pytest.raises(RunFailed) as caught:
            await handle.wait(timeout=10)
        assert caught.value.error is not None
        cancelled = await tallies.cancel(handle.id)  # terminal: returned unchanged
        assert cancelled.status == "failed"
        assert (await tallies.get(handle.id)).json_schema == {}  # the server's empty output


def test_a_background_resource_has_no_list_and_no_delete() -> None:
    for name in ("list", "list_page", "delete", "_paginate", "_query"):
        assert not hasattr(Tallies, name), name
        assert hasattr(RunResource, name) or name in ("list", "list_page"), name
    assert issubclass(RunResource, BackgroundResource)


def test_the_description_says_how_a_primitive_differs() -> None:
    assert TALLIES.path == "/v1/tallies/runs"
    assert TALLIES.record_path("tly_1") == "/v1/tallies/runs/tly_1"
    assert TALLIES.cancel_path("tly_1") == "/v1/tallies/runs/tly_1/cancel"
    assert not TALLIES.list_rounds
    record = Tally(id="tly_1", status="completed", json_schema={})
    assert TALLIES.has_result(record)
    assert not TALLIES.has_result(Tally(id="tly_1", status="completed"))
    assert SERVER_TALLIES.path == "/v1/tallies/runs"
