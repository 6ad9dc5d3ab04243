from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from llmsvc.gateway.deps import State

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(state: State) -> JSONResponse:
    # Until the revocation list is loaded, a revoked token could pass here; until the
    # signing keys are, no token passes.
    # The gateway holds no database credentials: auth and sessions say whether theirs
    # answers.
    nats, auth, sessions = await asyncio.gather(
        _answers(state.js.account_info()),
        _answers(state.auth.health()),
        _answers(state.sessions.health()),
    )
    checks = {
        "nats": nats,
        "auth": auth,
        "sessions": sessions,
        "revocations": state.denylist.loaded,
        "token_keys": state.token_keys.loaded,
    }
    ready = all(checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status_code=200 if ready else 503,
    )


async def _answers(call: Awaitable[object]) -> bool:
    try:
        async with asyncio.timeout(2):
            await call
    except Exception:
        return False
    return True


@router.get("/.well-known/jwks.json")
async def jwks(state: State) -> JSONResponse:
    """The public keys access tokens are signed with (RFC 7517), for anyone who wants
    to check a token themselves."""
    return JSONResponse(state.token_keys.jwks, headers={"Cache-Control": "max-age=300"})


#: On the public listener only in development: see GatewaySettings.metrics_port.
metrics_router = APIRouter(tags=["health"])


@metrics_router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
