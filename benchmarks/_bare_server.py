"""A bare aiohttp.web server that answers every GET with pre-encoded bytes (a baseline)."""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web

BODY = Path(sys.argv[1]).read_bytes() if len(sys.argv) > 1 else b"{}"


async def handler(request: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="application/json")


async def on_startup(app: web.Application) -> None:
    print("listening on http://127.0.0.1:" + sys.argv[2], flush=True)


if __name__ == "__main__":
    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    app.on_startup.append(on_startup)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[2]), print=None, access_log=None)
