from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from llmsvc.common.contracts.auth import (
    ApiKeyBody,
    ApiKeyCreateRequest,
    ApiKeyDeleteRequest,
    ApiKeyList,
    ApiKeyListRequest,
    ChangePasswordBody,
    ChangePasswordRequest,
    LoginAttempt,
    LoginRequest,
    LogoutAllRequest,
    LogoutRequest,
    NewApiKey,
    RefreshAttempt,
    RefreshRequest,
    RegisterAttempt,
    RegisterRequest,
    TokenPair,
    User,
    UserGetRequest,
)
from llmsvc.gateway.deps import Authenticated, ClientAddress, SignedIn, State
from llmsvc.gateway.schemas import IdPath, LogoutBody

router = APIRouter(prefix="/auth", tags=["auth"])

KeyIdPath = IdPath


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=User)
async def register(body: RegisterRequest, state: State, address: ClientAddress) -> User:
    attempt = RegisterAttempt(**body.model_dump(), client_address=address)
    return await state.auth.register(attempt)


#: Tokens must not be kept by caches or proxies (ASVS 14.3).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@router.post("/login", response_model=TokenPair)
async def login(
    body: LoginRequest, state: State, response: Response, address: ClientAddress
) -> TokenPair:
    response.headers.update(NO_STORE)
    attempt = LoginAttempt(**body.model_dump(), client_address=address)
    return await state.auth.login(attempt)


@router.post("/refresh", response_model=TokenPair)
async def refresh(
    body: RefreshRequest, state: State, response: Response, address: ClientAddress
) -> TokenPair:
    response.headers.update(NO_STORE)
    attempt = RefreshAttempt(**body.model_dump(), client_address=address)
    return await state.auth.refresh(attempt)


@router.post("/logout")
async def logout(caller: SignedIn, state: State, body: LogoutBody | None = None) -> Any:
    # The access token dies first, on every gateway, whatever happens next.
    await state.denylist.revoke(caller.jti, caller.exp)
    payload = LogoutRequest(
        user_id=caller.sub,
        refresh_token=body.refresh_token if body else None,
        access_jti=caller.jti,
    )
    return await state.auth.logout(payload)


@router.post("/password")
async def change_password(body: ChangePasswordBody, caller: SignedIn, state: State) -> Any:
    """Change the password (the new one passes the same policy as at registration).
    Every other login ends at once, on every gateway; this one stays."""
    payload = ChangePasswordRequest(**body.model_dump(), user_id=caller.sub, family_id=caller.sid)
    return await state.auth.change_password(payload)


@router.post("/logout-all")
async def logout_all(caller: SignedIn, state: State) -> Any:
    """End every login of the caller, this one included: refresh tokens, and access
    tokens on every gateway."""
    await state.denylist.revoke(caller.jti, caller.exp)
    return await state.auth.logout_all(LogoutAllRequest(user_id=caller.sub))


@router.get("/me", response_model=User)
async def me(caller: Authenticated, state: State) -> User:
    return await state.auth.user(UserGetRequest(user_id=caller.sub))


@router.post("/api-keys", status_code=status.HTTP_201_CREATED, response_model=NewApiKey)
async def create_api_key(
    body: ApiKeyBody, caller: SignedIn, state: State, response: Response
) -> NewApiKey:
    """A new API key for programs: `Authorization: Bearer <key>` on the API, with the
    owner's limits. The `key` is in this reply only; store it now."""
    response.headers.update(NO_STORE)
    return await state.auth.create_api_key(
        ApiKeyCreateRequest(**body.model_dump(), user_id=caller.sub)
    )


@router.get("/api-keys", response_model=ApiKeyList)
async def list_api_keys(caller: SignedIn, state: State) -> ApiKeyList:
    """The caller's API keys, newest first (name, prefix, created, last used; never the
    key itself)."""
    return await state.auth.api_keys(ApiKeyListRequest(user_id=caller.sub))


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_api_key(key_id: KeyIdPath, caller: SignedIn, state: State) -> Response:
    """Revoke a key: every gateway refuses it within a second."""
    await state.auth.revoke_api_key(ApiKeyDeleteRequest(user_id=caller.sub, key_id=key_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
