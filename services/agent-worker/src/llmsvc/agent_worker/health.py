"""The worker's health endpoints (aiohttp, already the model client's transport), for
orchestrators and operators: `/healthz` (the process runs), `/readyz` (NATS and Mongo
reachable, with the tools on offer and how each MCP server stands) and `/metrics`
(Prometheus)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

ReadinessCheck = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]

_READY: web.AppKey[ReadinessCheck] = web.AppKey("ready", ReadinessCheck)  # type: ignore[arg-type]


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    ready, details = await request.app[_READY]()
    body = {"status": "ready" if ready else "not_ready", **details}
    return web.json_response(body, status=200 if ready else 503)


async def _metrics(_request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def start_health_server(host: str, port: int, ready: ReadinessCheck) -> web.AppRunner:
    app = web.Application()
    app[_READY] = ready
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def reachable(check: Awaitable[object], timeout_s: float = 2.0) -> bool:
    try:
        async with asyncio.timeout(timeout_s):
            await check
    except Exception:
        return False
    return True
