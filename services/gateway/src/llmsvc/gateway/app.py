from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from llmsvc.common import tracing
from llmsvc.common.clients import AgentClient, AuthClient, SessionsClient
from llmsvc.common.metrics import HttpMetrics
from llmsvc.common.nats_client import connect_nats
from llmsvc.common.run_cancels import RunCancels
from llmsvc.common.run_lock import RunLocks
from llmsvc.common.streams import agent_events_stream, agent_jobs_stream, ensure_stream
from llmsvc.common.token_denylist import TokenDenylist
from llmsvc.common.user_quotas import UserQuotas
from llmsvc.gateway.api_keys import ApiKeyResolver
from llmsvc.gateway.body_limit import BodyLimit
from llmsvc.gateway.client_address import parse_networks
from llmsvc.gateway.errors import install_error_handlers
from llmsvc.gateway.routes import auth, conversation, health, models, openai_compat, sessions
from llmsvc.gateway.session_cache import SessionCache
from llmsvc.gateway.settings import GatewaySettings
from llmsvc.gateway.state import GatewayState
from llmsvc.gateway.token_keys import TokenKeys


def create_app(settings: GatewaySettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nc = await connect_nats(
            settings.nats_url, name="gateway", identity=settings.nats_identity("gateway")
        )
        js = nc.jetstream()
        await ensure_stream(js, agent_jobs_stream())
        await ensure_stream(js, agent_events_stream(settings.run_events_ttl_s))
        locks = await RunLocks.open(js, ttl_s=settings.run_lock_ttl_s)
        cancels = await RunCancels.open(js, ttl_s=int(settings.run_events_ttl_s))
        denylist = await TokenDenylist.open(js)
        quotas = await UserQuotas.open(js, settings.quota_limits, namespace=settings.mongo_db)
        await denylist.start()
        auth = AuthClient(nc, timeout_s=settings.rpc_timeout_s)
        token_keys = TokenKeys(
            auth, audience=settings.token_audience, leeway_s=settings.jwt_leeway_s
        )
        await token_keys.start()
        session_cache = SessionCache(nc)
        await session_cache.start()
        app.state.gateway = GatewayState(
            settings=settings,
            nc=nc,
            js=js,
            locks=locks,
            cancels=cancels,
            denylist=denylist,
            token_keys=token_keys,
            quotas=quotas,
            api_keys=ApiKeyResolver(auth, denylist, cache_s=settings.api_key_cache_s),
            auth=auth,
            sessions=SessionsClient(nc, timeout_s=settings.rpc_timeout_s),
            agent=AgentClient(nc, timeout_s=settings.rpc_timeout_s),
            session_cache=session_cache,
            models=settings.catalog(),
            trusted_proxies=parse_networks(settings.trusted_proxies),
        )
        try:
            yield
        finally:
            await session_cache.stop()
            await token_keys.stop()
            await denylist.stop()
            await nc.drain()

    docs = settings.docs_enabled
    app = FastAPI(
        title="LLM Service gateway",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
        description=(
            "Persistent, streaming LLM conversations. Authenticate with "
            "`Authorization: Bearer <access token>` from `/auth/login`. Every error is "
            '`{"error": {"code": "snake_case", "message": "..."}}` with the HTTP status '
            "(validation errors: 422 with `fields`). `POST /conversation` streams the reply "
            "as Server-Sent Events: `metadata`, `token`s (`reset`: discard the partial "
            "text), then one of `done`, `error`, `cancelled`; each event's `id` is its "
            "sequence number; `tool_call` and `tool_result` show the agent's tool steps. "
            "Reconnect to `GET /conversation/runs/{run_id}/events` "
            "with `Last-Event-ID` to resume."
        ),
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(HttpMetrics)
    routers = [
        health.router,
        auth.router,
        models.router,
        sessions.router,
        conversation.router,
        openai_compat.router,
    ]
    metrics_port = settings.separate_metrics_port
    if metrics_port is None:
        routers.append(health.metrics_router)
    for router in routers:
        app.include_router(router)
    if tracing.enabled():
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        # Not a span per ASGI message: an event stream sends one per token.
        FastAPIInstrumentor.instrument_app(app, exclude_spans=["send", "receive"])
    return app
