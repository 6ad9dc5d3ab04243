"""App factory: settings in, a FastAPI app out; the gateway client lives in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from llmsvc.common import tracing
from llmsvc.common.metrics import HttpMetrics
from llmsvc.web.auth_flow import TokenRefresher
from llmsvc.web.context import State, WebContext
from llmsvc.web.error_handlers import install_error_handlers
from llmsvc.web.gateway_client import GatewayClient
from llmsvc.web.routes import account, api, auth, pages
from llmsvc.web.security_headers import SecurityHeadersMiddleware
from llmsvc.web.session_cookie import SessionCookies
from llmsvc.web.settings import WebSettings

__all__ = ["STATIC_DIR", "TEMPLATES_DIR", "create_app"]

PACKAGE_DIR = Path(__file__).parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
MAX_BODY_BYTES = 1024 * 1024


def _http_client(
    settings: WebSettings, transport: httpx.AsyncBaseTransport | None
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=settings.gateway_url,
        transport=transport,
        timeout=httpx.Timeout(settings.gateway_timeout_s, connect=5.0),
        # Below uvicorn's 5 s keep-alive: reusing a connection the gateway is about to
        # close breaks the next request with a ReadError.
        limits=httpx.Limits(
            max_connections=settings.gateway_max_connections,
            max_keepalive_connections=100,
            keepalive_expiry=4.0,
        ),
        # The gateway is a configured internal address, never reached through an
        # environment proxy.
        trust_env=False,
    )


async def _metrics(_request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def create_app(
    settings: WebSettings | None = None,
    *,
    gateway_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the web app. `gateway_transport` replaces the network (tests)."""
    settings = settings or WebSettings()
    templates = Jinja2Templates(directory=TEMPLATES_DIR)
    cookies = SessionCookies(
        secret=settings.session_secret,
        secure=settings.cookie_secure,
        max_age_s=settings.session_max_age_s,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        async with _http_client(settings, gateway_transport) as http:
            if tracing.enabled():  # the gateway continues the trace
                from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

                HTTPXClientInstrumentor.instrument_client(http)
            gateway = GatewayClient(http)
            yield {
                "web": WebContext(
                    settings=settings,
                    gateway=gateway,
                    cookies=cookies,
                    templates=templates,
                    refresher=TokenRefresher(gateway),
                )
            }

    app = FastAPI(
        title="llmsvc web",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # Forms and chat messages are small; anything larger is refused before parsing.
        max_body_size=MAX_BODY_BYTES,
    )
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.environment == "production")
    app.add_middleware(HttpMetrics)
    if settings.separate_metrics_port is None:
        # Development only: in production /metrics is on METRICS_PORT, never public.
        app.add_route("/metrics", _metrics, include_in_schema=False)
    app.mount("/web/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(pages.router)
    app.include_router(auth.router)
    app.include_router(api.router)
    app.include_router(account.router)
    install_error_handlers(app)
    if tracing.enabled():
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        # Not a span per ASGI message: a chat stream sends one per token.
        FastAPIInstrumentor.instrument_app(app, exclude_spans=["send", "receive"])
    return app
