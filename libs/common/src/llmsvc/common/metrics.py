"""Prometheus metrics every service shares: HTTP requests (gateway, web), and where the
metrics are served.

Each service adds its own (`llm_<service>_…`, see infra/README.md); the NATS request
handlers of auth and sessions are counted by FastStream's Prometheus middleware
(`llm_received_…`, see `broker_middlewares`). Everything goes to prometheus_client's
default registry, served on `METRICS_PORT` by prometheus_client's own server, in its
thread, apart from the public listener (gateway and web also serve `/metrics` on
theirs in development).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, Counter, Histogram, start_http_server

if TYPE_CHECKING:  # the workers have no starlette
    from wsgiref.simple_server import WSGIServer

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "HTTP_REQUESTS",
    "HTTP_SECONDS",
    "HttpMetrics",
    "serve_metrics",
]

HTTP_REQUESTS = Counter(
    "llm_http_requests_total",
    "HTTP requests answered, by route template and status",
    labelnames=("method", "route", "status"),
)
HTTP_SECONDS = Histogram(
    "llm_http_request_seconds",
    "Time from a request's arrival to its response headers (for an event stream: until "
    "the stream opens, not its length)",
    labelnames=("method", "route"),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class HttpMetrics:
    """Counts every HTTP request by method, route template (`/conversation/runs/{run_id}
    /events`, never the ids themselves) and status. A path no route matched counts as
    `unmatched`, so scanners cannot grow the label set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        status = 500

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                HTTP_SECONDS.labels(method, _route(scope)).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            HTTP_REQUESTS.labels(method, _route(scope), str(status)).inc()


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    # A mounted app (the static files) is one route, whatever the file.
    return path if isinstance(path, str) else "unmatched"


def serve_metrics(host: str, port: int | None) -> WSGIServer | None:
    """Serve the default registry at `http://host:port/metrics` (None: not served)."""
    if port is None:
        return None
    server, _thread = start_http_server(port, addr=host, registry=REGISTRY)
    return server
