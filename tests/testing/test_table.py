"""The server is built from its table of primitives: a new description gets every
generic route, and the fields of the description decide what differs."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from retab_async.testing import ServerConfig, create_app
from retab_async.testing._primitive import ExtraRoute, Issue, Outcome, ServerPrimitive
from retab_async.testing._primitives import PRIMITIVES
from retab_async.testing._routes import RunRoutes
from retab_async.testing._validation import _check_document, _issue

KEY = "sk_table"


@dataclass(frozen=True)
class CountCreate:
    filename: str
    url: str
    mime_type: str
    content: bytes | None
    model: str
    background: bool


def _parse(body: Any) -> CountCreate | list[Issue]:
    issues: list[Issue] = []
    if not isinstance(body, dict):
        return [_issue("model_attributes_type", [], "Input should be a valid dictionary", body)]
    document = _check_document(body.get("document"), issues)
    if document is None or issues:
        return issues
    return CountCreate(*document, model="counter", background=body.get("background") is True)


async def _echo_route(request: web.Request, routes: RunRoutes) -> web.StreamResponse:
    run = routes.lookup(request)
    if isinstance(run, web.Response):
        return run
    return web.json_response({"id": run.id, "words": run.outcome.kept})


COUNTS: ServerPrimitive[CountCreate] = ServerPrimitive(
    name="counts",
    noun="Count",
    id_prefix="cnt_",
    parse_create=_parse,
    compute=lambda req: Outcome(output={"bytes": len(req.content or b"")}, kept=2, credits=0.5),
    record=lambda req: {"unit": "bytes"},
    placeholder={"bytes": 0},
    empty_output={"bytes": 0},
    check_create=lambda req: "no PDFs here" if req.filename.endswith(".pdf") else None,
    has_consensus=False,
    has_list=False,
    has_delete=False,
    extra_routes=(
        ExtraRoute(method="GET", path="/{id}/words", operation="words", handler=_echo_route),
    ),
)


def _doc(text: bytes, filename: str = "a.txt") -> dict[str, str]:
    return {
        "filename": filename,
        "url": "data:text/plain;base64," + base64.b64encode(text).decode(),
    }


@pytest.fixture
async def call() -> AsyncIterator[Any]:
    app = create_app(ServerConfig(api_key=KEY, run_time=0.0), primitives=(COUNTS,))
    async with TestServer(app) as server, aiohttp.ClientSession() as session:

        async def call(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
            headers = {"Authorization": f"Bearer {KEY}"}
            async with session.request(
                method, server.make_url(path), headers=headers, **kwargs
            ) as r:
                return r.status, await r.json(content_type=None) if await r.read() else None

        yield call


async def test_a_new_description_gets_create_get_cancel_and_its_own_route(call: Any) -> None:
    status, created = await call("POST", "/v1/counts", json={"document": _doc(b"hello")})
    assert status == 201
    assert created["id"].startswith("cnt_")
    assert created["unit"] == "bytes" and created["output"] == {"bytes": 5}
    assert created["usage"] == {"credits": 0.5} and "consensus" not in created
    status, light = await call("GET", f"/v1/counts/{created['id']}?include_output=false")
    assert status == 200 and light["output"] == {"bytes": 0}
    assert await call("POST", f"/v1/counts/{created['id']}/cancel") == (200, created)
    status, words = await call("GET", f"/v1/counts/{created['id']}/words")
    assert (status, words) == (200, {"id": created["id"], "words": 2})
    status, held = await call("GET", "/_local/runs")
    assert [(run["id"], run["primitive"]) for run in held["runs"]] == [(created["id"], "counts")]
    status, seen = await call("GET", "/_local/requests")
    assert [r["operation"] for r in seen] == ["create", "get", "cancel", "words"]


async def test_the_description_decides_what_differs(call: Any) -> None:
    status, body = await call("POST", "/v1/counts", json={"document": _doc(b"x", "a.pdf")})
    assert status == 400 and body["detail"]["message"] == "no PDFs here"
    status, body = await call("POST", "/v1/counts", json={"document": _doc(b"[[retab:fail]]")})
    assert status == 201 and body["status"] == "failed"
    assert body["error"]["details"]["stage"] == "count" and body["output"] == {"bytes": 0}
    assert (await call("GET", "/v1/counts"))[0] == 405  # no list
    assert (await call("DELETE", f"/v1/counts/{body['id']}"))[0] == 405  # no delete
    status, body = await call("GET", "/v1/counts/clss_nope")
    assert status == 404 and body["detail"]["message"] == "Count clss_nope not found"
    assert (await call("GET", "/v1/classifications"))[0] == 404  # not in this table


def test_the_table_names_each_primitive_once() -> None:
    names = [primitive.name for primitive in PRIMITIVES]
    assert len(names) == len(set(names)) and "classifications" in names
    prefixes = [primitive.id_prefix for primitive in PRIMITIVES]
    assert len(prefixes) == len(set(prefixes))
