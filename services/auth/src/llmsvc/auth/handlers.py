"""NATS subjects of the auth service. Thin: validate, call the service, wrap the reply.

Each handler receives the payload as raw bytes (see `raw_body`), so validation is ours
and bad input is answered with a 422 envelope rather than dropped by the framework.
The returned envelope dict is sent back as the JSON reply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

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

    def subscriber(subject: str) -> Callable[[Handler], object]:
        return broker.subscriber(
            subject, queue=subjects.AUTH_QUEUE, decoder=raw_body, max_workers=max_workers
        )

    @subscriber(subjects.AUTH_REGISTER)
    async def register(body: bytes) -> Reply:
        return await reply(body, RegisterAttempt, AuthService.register)

    @subscriber(subjects.AUTH_LOGIN)
    async def login(body: bytes) -> Reply:
        return await reply(body, LoginAttempt, AuthService.login)

    @subscriber(subjects.AUTH_REFRESH)
    async def refresh(body: bytes) -> Reply:
        return await reply(body, RefreshAttempt, AuthService.refresh)

    @subscriber(subjects.AUTH_LOGOUT)
    async def logout(body: bytes) -> Reply:
        return await reply(body, LogoutRequest, AuthService.logout)

    @subscriber(subjects.AUTH_PASSWORD)
    async def change_password(body: bytes) -> Reply:
        return await reply(body, ChangePasswordRequest, AuthService.change_password)

    @subscriber(subjects.AUTH_LOGOUT_ALL)
    async def logout_all(body: bytes) -> Reply:
        return await reply(body, LogoutAllRequest, AuthService.logout_all)

    @subscriber(subjects.AUTH_JWKS)
    async def signing_keys(body: bytes) -> Reply:
        return await reply(body, JwksRequest, AuthService.signing_keys)

    @subscriber(subjects.AUTH_API_KEYS_CREATE)
    async def api_key_create(body: bytes) -> Reply:
        return await reply(body, ApiKeyCreateRequest, lambda s, r: s.api_keys.create(r))

    @subscriber(subjects.AUTH_API_KEYS_LIST)
    async def api_key_list(body: bytes) -> Reply:
        return await reply(body, ApiKeyListRequest, lambda s, r: s.api_keys.list(r))

    @subscriber(subjects.AUTH_API_KEYS_DELETE)
    async def api_key_delete(body: bytes) -> Reply:
        return await reply(body, ApiKeyDeleteRequest, lambda s, r: s.api_keys.delete(r))

    @subscriber(subjects.AUTH_API_KEYS_VERIFY)
    async def api_key_verify(body: bytes) -> Reply:
        return await reply(body, ApiKeyVerifyRequest, lambda s, r: s.api_keys.verify(r))

    @subscriber(subjects.AUTH_HEALTH)
    async def health(body: bytes) -> Reply:
        return await reply(body, HealthRequest, AuthService.health)

    @subscriber(subjects.AUTH_USER_GET)
    async def user_get(body: bytes) -> Reply:
        return await reply(body, UserGetRequest, AuthService.get_user)
