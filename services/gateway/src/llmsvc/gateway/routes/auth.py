from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from llmsvc.common import subjects
from llmsvc.common.contracts.auth import (
    ChangePasswordBody,
    ChangePasswordRequest,
    LoginAttempt,
    LoginRequest,
    LogoutAllRequest,
    LogoutRequest,
    RefreshAttempt,
    RefreshRequest,
    RegisterAttempt,
    RegisterRequest,
    TokenPair,
    User,
    UserGetRequest,
)
from llmsvc.common.nats_client import request, request_model
from llmsvc.gateway.deps import Claims, ClientAddress, State
from llmsvc.gateway.schemas import LogoutBody

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=User)
async def register(body: RegisterRequest, state: State, address: ClientAddress) -> User:
    attempt = RegisterAttempt(**body.model_dump(), client_address=address)
    return await request_model(
        state.nc, subjects.AUTH_REGISTER, attempt, User, timeout_s=state.settings.rpc_timeout_s
    )


#: Tokens must not be kept by caches or proxies (ASVS 14.3).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@router.post("/login", response_model=TokenPair)
async def login(
    body: LoginRequest, state: State, response: Response, address: ClientAddress
) -> TokenPair:
    response.headers.update(NO_STORE)
    attempt = LoginAttempt(**body.model_dump(), client_address=address)
    return await request_model(
        state.nc, subjects.AUTH_LOGIN, attempt, TokenPair, timeout_s=state.settings.rpc_timeout_s
    )


@router.post("/refresh", response_model=TokenPair)
async def refresh(
    body: RefreshRequest, state: State, response: Response, address: ClientAddress
) -> TokenPair:
    response.headers.update(NO_STORE)
    attempt = RefreshAttempt(**body.model_dump(), client_address=address)
    return await request_model(
        state.nc, subjects.AUTH_REFRESH, attempt, TokenPair, timeout_s=state.settings.rpc_timeout_s
    )


@router.post("/logout")
async def logout(claims: Claims, state: State, body: LogoutBody | None = None) -> Any:
    # The access token dies first, on every gateway, whatever happens next.
    await state.denylist.revoke(claims.jti, claims.exp)
    payload = LogoutRequest(
        user_id=claims.sub,
        refresh_token=body.refresh_token if body else None,
        access_jti=claims.jti,
    )
    return await request(
        state.nc, subjects.AUTH_LOGOUT, payload, timeout_s=state.settings.rpc_timeout_s
    )


@router.post("/password")
async def change_password(body: ChangePasswordBody, claims: Claims, state: State) -> Any:
    """Change the password (the new one passes the same policy as at registration).
    Every other login ends at once, on every gateway; this one stays."""
    payload = ChangePasswordRequest(**body.model_dump(), user_id=claims.sub, family_id=claims.sid)
    return await request(
        state.nc, subjects.AUTH_PASSWORD, payload, timeout_s=state.settings.rpc_timeout_s
    )


@router.post("/logout-all")
async def logout_all(claims: Claims, state: State) -> Any:
    """End every login of the caller, this one included: refresh tokens, and access
    tokens on every gateway."""
    await state.denylist.revoke(claims.jti, claims.exp)
    return await request(
        state.nc,
        subjects.AUTH_LOGOUT_ALL,
        LogoutAllRequest(user_id=claims.sub),
        timeout_s=state.settings.rpc_timeout_s,
    )


@router.get("/me", response_model=User)
async def me(claims: Claims, state: State) -> User:
    return await request_model(
        state.nc,
        subjects.AUTH_USER_GET,
        UserGetRequest(user_id=claims.sub),
        User,
        timeout_s=state.settings.rpc_timeout_s,
    )
