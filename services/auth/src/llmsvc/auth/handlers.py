"""NATS subjects of the auth service. Thin: validate, call the service, wrap the reply.

Each handler receives the payload as raw bytes (see `raw_body`), so validation is ours
and bad input is answered with a 422 envelope rather than dropped by the framework.
The returned envelope dict is sent back as the JSON reply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from faststream.nats import NatsBroker, NatsMessage
from pydantic import BaseModel

from llmsvc.auth.service import AuthService
from llmsvc.common import subjects
from llmsvc.common.contracts.auth import (
    ApiKeyCreateRequest,
    ApiKeyDeleteRequest,
    ApiKeyListRequest,
    ApiKeyVerifyRequest,
    ChangePasswordRequest,
    JwksRequest,
    LoginAttempt,
    LogoutAllRequest,
    LogoutRequest,
    RefreshAttempt,
    RegisterAttempt,
    UserGetRequest,
)
from llmsvc.common.contracts.base import HealthRequest
from llmsvc.common.contracts.documented import documented_as
from llmsvc.common.nats_client import handle_request

__all__ = ["raw_body", "register_handlers"]

Reply = dict[str, Any]
Result = BaseModel | dict[str, Any] | None
M = TypeVar("M", bound=BaseModel)
Handler = Callable[[bytes], Awaitable[Reply]]


async def raw_body(msg: NatsMessage) -> bytes:
    """A decoder that hands the payload over untouched (no JSON parsing by FastStream)."""
    return msg.body


def register_handlers(
    broker: NatsBroker, service: Callable[[], AuthService], *, max_workers: int
) -> None:
    """Subscribe every auth subject in the shared queue group, so replicas split the load.

    `service` is looked up per message: it is built by the app's lifespan, after the
    subscriptions are declared.
    """

    async def reply(
        body: bytes, contract: type[M], operation: Callable[[AuthService, M], Awaitable[Result]]
    ) -> Reply:
        # The service is looked up inside handle_request, so that even "not ready"
        # is answered with an envelope.
        return await handle_request(body, contract, lambda req: operation(service(), req))

    def subscriber(subject: str, description: str) -> Callable[[Handler], object]:
        # `description` is the AsyncAPI document's (docs/asyncapi.json), which also gives
        # each handler's payload from its `documented_as` contract.
        return broker.subscriber(
            subject,
            queue=subjects.AUTH_QUEUE,
            decoder=raw_body,
            max_workers=max_workers,
            description=description,
        )

    @subscriber(
        subjects.AUTH_REGISTER,
        "Create an account. Reply: the `User`; errors 409 `email_taken`, 422 `weak_password`, "
        "429 `rate_limited`.",
    )
    async def register(body: Annotated[bytes, documented_as(RegisterAttempt)]) -> Reply:
        return await reply(body, RegisterAttempt, AuthService.register)

    @subscriber(
        subjects.AUTH_LOGIN,
        "Check a password and start a login. Reply: a `TokenPair`; errors 401 "
        "`invalid_credentials`, 429 `rate_limited`.",
    )
    async def login(body: Annotated[bytes, documented_as(LoginAttempt)]) -> Reply:
        return await reply(body, LoginAttempt, AuthService.login)

    @subscriber(
        subjects.AUTH_REFRESH,
        "Exchange a refresh token for a new pair (rotation with reuse detection). Reply: a "
        "`TokenPair`; errors 401 `invalid_refresh_token`, `refresh_token_expired`, "
        "`refresh_token_reused`, 429 `rate_limited`.",
    )
    async def refresh(body: Annotated[bytes, documented_as(RefreshAttempt)]) -> Reply:
        return await reply(body, RefreshAttempt, AuthService.refresh)

    @subscriber(
        subjects.AUTH_LOGOUT,
        'End one login: revoke its refresh token. Reply: `{"revoked": true}`.',
    )
    async def logout(body: Annotated[bytes, documented_as(LogoutRequest)]) -> Reply:
        return await reply(body, LogoutRequest, AuthService.logout)

    @subscriber(
        subjects.AUTH_PASSWORD,
        'Change the password; every other login of the user ends. Reply: `{"changed": true}`; '
        "errors 401 `invalid_credentials`, 422 `weak_password`.",
    )
    async def change_password(
        body: Annotated[bytes, documented_as(ChangePasswordRequest)],
    ) -> Reply:
        return await reply(body, ChangePasswordRequest, AuthService.change_password)

    @subscriber(
        subjects.AUTH_LOGOUT_ALL,
        'End every login of the user. Reply: `{"revoked": true}`.',
    )
    async def logout_all(body: Annotated[bytes, documented_as(LogoutAllRequest)]) -> Reply:
        return await reply(body, LogoutAllRequest, AuthService.logout_all)

    @subscriber(
        subjects.AUTH_JWKS,
        'The public keys that verify access tokens. Reply: a JWK set `{"keys": [...]}` '
        "(previous, current and next key).",
    )
    async def signing_keys(body: Annotated[bytes, documented_as(JwksRequest)]) -> Reply:
        return await reply(body, JwksRequest, AuthService.signing_keys)

    @subscriber(
        subjects.AUTH_API_KEYS_CREATE,
        "Make an API key. Reply: the `NewApiKey`, with the secret, shown only here; error 409 "
        "`too_many_api_keys`.",
    )
    async def api_key_create(body: Annotated[bytes, documented_as(ApiKeyCreateRequest)]) -> Reply:
        return await reply(body, ApiKeyCreateRequest, lambda s, r: s.api_keys.create(r))

    @subscriber(
        subjects.AUTH_API_KEYS_LIST,
        "The user's API keys, newest first. Reply: an `ApiKeyList` (never the secrets).",
    )
    async def api_key_list(body: Annotated[bytes, documented_as(ApiKeyListRequest)]) -> Reply:
        return await reply(body, ApiKeyListRequest, lambda s, r: s.api_keys.list(r))

    @subscriber(
        subjects.AUTH_API_KEYS_DELETE,
        'Revoke an API key (and deny it on every gateway). Reply: `{"revoked": true}`; error 404 '
        "`api_key_not_found`.",
    )
    async def api_key_delete(body: Annotated[bytes, documented_as(ApiKeyDeleteRequest)]) -> Reply:
        return await reply(body, ApiKeyDeleteRequest, lambda s, r: s.api_keys.delete(r))

    @subscriber(
        subjects.AUTH_API_KEYS_VERIFY,
        "Whose a presented API key is. Reply: an `ApiKeyOwner`; error 401 `invalid_api_key`.",
    )
    async def api_key_verify(body: Annotated[bytes, documented_as(ApiKeyVerifyRequest)]) -> Reply:
        return await reply(body, ApiKeyVerifyRequest, lambda s, r: s.api_keys.verify(r))

    @subscriber(
        subjects.AUTH_HEALTH,
        "Whether auth can serve (its database answers), for the readiness of gateways. "
        'Reply: `{"ok": true}`, or 503 `storage_unavailable`.',
    )
    async def health(body: Annotated[bytes, documented_as(HealthRequest)]) -> Reply:
        return await reply(body, HealthRequest, AuthService.health)

    @subscriber(
        subjects.AUTH_USER_GET,
        "Look a user up. Reply: the `User`; error 404 `user_not_found`.",
    )
    async def user_get(body: Annotated[bytes, documented_as(UserGetRequest)]) -> Reply:
        return await reply(body, UserGetRequest, AuthService.get_user)
