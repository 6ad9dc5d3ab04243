from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from llmsvc.common.contracts.auth import API_KEY_PREFIX
from llmsvc.common.errors import Forbidden, Unauthorized
from llmsvc.gateway.client_address import client_address
from llmsvc.gateway.state import GatewayState

_bearer = HTTPBearer(
    auto_error=False,
    description="An access token from /auth/login, or an API key (`llms_...`) for the API",
)


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


@dataclass(frozen=True)
class Caller:
    """Who is asking: a signed-in user (an access token) or a program (an API key)."""

    #: The user's id.
    sub: str
    #: The access token's id, or the API key's.
    jti: str
    #: When the access token expires (0 for an API key).
    exp: int = 0
    #: The login (refresh family) the access token belongs to.
    sid: str = ""
    via_api_key: bool = False


async def get_caller(
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token", code="not_authenticated")
    token = credentials.credentials
    if token.startswith(API_KEY_PREFIX):
        owner = await state.api_keys.owner(token)
        caller = Caller(sub=owner.user_id, jti=owner.key_id, via_api_key=True)
    else:
        claims = await state.token_keys.verify(token)
        if state.denylist.rejects(claims):
            raise Unauthorized("access token revoked", code="token_revoked")
        caller = Caller(sub=claims.sub, jti=claims.jti, exp=claims.exp, sid=claims.sid)
    # Every line logged for this request (its own task) names the user.
    structlog.contextvars.bind_contextvars(user_id=caller.sub)
    return caller


Authenticated = Annotated[Caller, Depends(get_caller)]


async def get_signed_in(caller: Authenticated) -> Caller:
    """Account management (password, logins, API keys) needs the user, not a key: a
    leaked key cannot make more keys or lock the owner out."""
    if caller.via_api_key:
        raise Forbidden("sign in to manage the account; API keys cannot", code="api_key_forbidden")
    return caller


SignedIn = Annotated[Caller, Depends(get_signed_in)]
