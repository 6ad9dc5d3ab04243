from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from llmsvc.common.errors import Unauthorized
from llmsvc.common.tokens import AccessClaims
from llmsvc.gateway.client_address import client_address
from llmsvc.gateway.state import GatewayState

_bearer = HTTPBearer(auto_error=False, description="Access token from /auth/login")


# Dependencies are `async def`: FastAPI runs a plain `def` one in a thread pool, a
# thread hop per request on the way to every reply's first byte.


async def get_state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


State = Annotated[GatewayState, Depends(get_state)]


async def get_client_address(request: Request, state: State) -> str | None:
    return client_address(
        request.client.host if request.client else None,
        request.headers.get("x-forwarded-for"),
        state.trusted_proxies,
    )


ClientAddress = Annotated[str | None, Depends(get_client_address)]


async def get_claims(
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AccessClaims:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token", code="not_authenticated")
    claims = await state.token_keys.verify(credentials.credentials)
    if state.denylist.rejects(claims):
        raise Unauthorized("access token revoked", code="token_revoked")
    return claims


Claims = Annotated[AccessClaims, Depends(get_claims)]
