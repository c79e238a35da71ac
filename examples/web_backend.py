"""An aiohttp.web backend that starts classifications in one request and reports them in others.

    python examples/web_backend.py            # serves on http://127.0.0.1:8080
    curl -X POST --data-binary @examples/documents/receipt-cafe.txt \
         'http://127.0.0.1:8080/jobs?filename=receipt-cafe.txt'
    curl http://127.0.0.1:8080/jobs/<token>
    curl -X DELETE http://127.0.0.1:8080/jobs/<token>

The job id handed to callers is the run's token: any instance of the backend can
resume it with ``client.resume(token)``, so nothing is kept in memory.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from aiohttp import web

from retab_async import RetabClient, RetabError, TokenError, UsageError
from retab_async.testing import LocalRetab

CLIENT = web.AppKey("client", RetabClient)
CATEGORIES = ["invoice", "receipt", "contract", "letter"]


async def start_job(request: web.Request) -> web.Response:
    filename = request.query.get("filename", "upload.txt")
    body = await request.read()
    try:
        handle = await request.app[CLIENT].classifications.start((filename, body), CATEGORIES)
    except UsageError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    return web.json_response({"job": handle.token, "status": handle.status}, status=202)


async def job_status(request: web.Request) -> web.Response:
    handle = _resume(request)
    record = await handle.refresh()
    payload = {"status": record.status, "category": record.category}
    if record.error is not None:
        payload["error"] = record.error.message
    return web.json_response(payload)


async def cancel_job(request: web.Request) -> web.Response:
    record = await _resume(request).cancel()
    return web.json_response({"status": record.status})


def _resume(request: web.Request):  # type: ignore[no-untyped-def]
    try:
        return request.app[CLIENT].resume(request.match_info["token"])
    except TokenError as exc:
        raise web.HTTPNotFound(text=str(exc)) from exc


@web.middleware
async def api_errors(request: web.Request, handler):  # type: ignore[no-untyped-def]
    try:
        return await handler(request)
    except RetabError as exc:
        raise web.HTTPBadGateway(text=f"Retab: {exc}") from exc


def make_app(api_key: str | None = None, base_url: str | None = None) -> web.Application:
    """The backend; its Retab client lives as long as the app (``cleanup_ctx``)."""
    app = web.Application(middlewares=[api_errors])

    async def retab_client(app: web.Application) -> AsyncIterator[None]:
        async with RetabClient(api_key, base_url) as client:
            app[CLIENT] = client
            yield

    app.cleanup_ctx.append(retab_client)
    app.router.add_post("/jobs", start_job)
    app.router.add_get("/jobs/{token}", job_status)
    app.router.add_delete("/jobs/{token}", cancel_job)
    return app


async def make_demo_app() -> web.Application:
    """The backend wired to a local Retab server (when RETAB_API_KEY is not set)."""
    if os.environ.get("RETAB_API_KEY"):
        return make_app()
    server = LocalRetab(run_time=(1.0, 3.0))
    await server.start()
    print(f"(using the local Retab server at {server.base_url})")
    app = make_app(server.api_key, server.base_url)

    async def stop_server(_: web.Application) -> None:
        await server.stop()

    app.on_cleanup.append(stop_server)
    return app


if __name__ == "__main__":
    web.run_app(make_demo_app(), host="127.0.0.1", port=int(os.environ.get("PORT", "8080")))
