"""Typed clients of the services' NATS request/reply subjects: each method binds one
subject to its request contract and its reply, so a caller cannot pair them wrongly.
The gateway, the worker and the tests call the services through these."""

from __future__ import annotations

from typing import Any, TypeVar

from nats.aio.client import Client as NATS
from pydantic import BaseModel

from llmsvc.common import subjects
from llmsvc.common.contracts.agent import HistoryPage, HistoryRequest
from llmsvc.common.contracts.auth import (
    ApiKeyCreateRequest,
    ApiKeyDeleteRequest,
    ApiKeyList,
    ApiKeyListRequest,
    ApiKeyOwner,
    ApiKeyVerifyRequest,
    ChangePasswordRequest,
    JwksRequest,
    LoginRequest,
    LogoutAllRequest,
    LogoutRequest,
    NewApiKey,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
    User,
    UserGetRequest,
)
from llmsvc.common.contracts.base import HealthRequest
from llmsvc.common.contracts.sessions import (
    CreateSession,
    DeleteSession,
    GetSession,
    ListSessions,
    Session,
    SessionPage,
    SetAutoTitle,
    TouchSession,
    UpdateSession,
)
from llmsvc.common.nats_client import request

__all__ = ["AgentClient", "AuthClient", "SessionsClient"]

M = TypeVar("M", bound=BaseModel)
Reply = dict[str, Any]


class _Client:
    def __init__(self, nc: NATS, *, timeout_s: float = 10.0) -> None:
        self._nc = nc
        self._timeout_s = timeout_s

    async def _ask(self, subject: str, payload: BaseModel, reply: type[M]) -> M:
        return reply.model_validate(await self._send(subject, payload))

    async def _send(self, subject: str, payload: BaseModel) -> Any:
        """The reply's data, or the typed error it carries, raised."""
        return await request(self._nc, subject, payload, timeout_s=self._timeout_s)


class AuthClient(_Client):
    """`auth.v1.*`. Register, login and refresh take the `...Attempt` contracts when the
    caller knows the client's address (the gateway does)."""

    async def register(self, req: RegisterRequest) -> User:
        return await self._ask(subjects.AUTH_REGISTER, req, User)

    async def login(self, req: LoginRequest) -> TokenPair:
        return await self._ask(subjects.AUTH_LOGIN, req, TokenPair)

    async def refresh(self, req: RefreshRequest) -> TokenPair:
        return await self._ask(subjects.AUTH_REFRESH, req, TokenPair)

    async def logout(self, req: LogoutRequest) -> Reply:
        reply: Reply = await self._send(subjects.AUTH_LOGOUT, req)
        return reply

    async def change_password(self, req: ChangePasswordRequest) -> Reply:
        reply: Reply = await self._send(subjects.AUTH_PASSWORD, req)
        return reply

    async def logout_all(self, req: LogoutAllRequest) -> Reply:
        reply: Reply = await self._send(subjects.AUTH_LOGOUT_ALL, req)
        return reply

    async def health(self) -> Reply:
        reply: Reply = await self._send(subjects.AUTH_HEALTH, HealthRequest())
        return reply

    async def user(self, req: UserGetRequest) -> User:
        return await self._ask(subjects.AUTH_USER_GET, req, User)

    async def signing_keys(self) -> Reply:
        """The JWK set of the public keys access tokens are verified with."""
        reply: Reply = await self._send(subjects.AUTH_JWKS, JwksRequest())
        return reply

    async def create_api_key(self, req: ApiKeyCreateRequest) -> NewApiKey:
        return await self._ask(subjects.AUTH_API_KEYS_CREATE, req, NewApiKey)

    async def api_keys(self, req: ApiKeyListRequest) -> ApiKeyList:
        return await self._ask(subjects.AUTH_API_KEYS_LIST, req, ApiKeyList)

    async def revoke_api_key(self, req: ApiKeyDeleteRequest) -> None:
        await self._send(subjects.AUTH_API_KEYS_DELETE, req)

    async def api_key_owner(self, req: ApiKeyVerifyRequest) -> ApiKeyOwner:
        return await self._ask(subjects.AUTH_API_KEYS_VERIFY, req, ApiKeyOwner)


class SessionsClient(_Client):
    """`sessions.v1.*`: every request names the user, and only their sessions answer."""

    async def health(self) -> Reply:
        reply: Reply = await self._send(subjects.SESSIONS_HEALTH, HealthRequest())
        return reply

    async def create(self, req: CreateSession) -> Session:
        return await self._ask(subjects.SESSIONS_CREATE, req, Session)

    async def get(self, req: GetSession) -> Session:
        return await self._ask(subjects.SESSIONS_GET, req, Session)

    async def list(self, req: ListSessions) -> SessionPage:
        return await self._ask(subjects.SESSIONS_LIST, req, SessionPage)

    async def update(self, req: UpdateSession) -> Session:
        return await self._ask(subjects.SESSIONS_UPDATE, req, Session)

    async def set_auto_title(self, req: SetAutoTitle) -> Session | None:
        """The retitled session, or None when someone had named it already."""
        data = await self._send(subjects.SESSIONS_TITLE, req)
        return None if data is None else Session.model_validate(data)

    async def delete(self, req: DeleteSession) -> None:
        await self._send(subjects.SESSIONS_DELETE, req)

    async def touch(self, req: TouchSession) -> Session:
        return await self._ask(subjects.SESSIONS_TOUCH, req, Session)


class AgentClient(_Client):
    """`agent.v1.history`, answered by any worker."""

    async def history(self, req: HistoryRequest) -> HistoryPage:
        return await self._ask(subjects.AGENT_HISTORY, req, HistoryPage)
