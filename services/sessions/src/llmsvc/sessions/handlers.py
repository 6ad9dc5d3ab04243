"""NATS subjects of the sessions service. Thin: validate, call the service, wrap the reply.

Each handler receives the payload as raw bytes (see `raw_body`), so validation is ours
and bad input is answered with a 422 envelope rather than dropped by the framework.
The returned envelope dict is sent back as the JSON reply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from faststream.nats import NatsBroker, NatsMessage
from pydantic import BaseModel

from llmsvc.common import subjects
from llmsvc.common.contracts.base import HealthRequest
from llmsvc.common.contracts.sessions import (
    CreateSession,
    DeleteSession,
    GetSession,
    ListSessions,
    SetAutoTitle,
    TouchSession,
    UpdateSession,
)
from llmsvc.common.nats_client import handle_request
from llmsvc.sessions.service import SessionService

__all__ = ["raw_body", "register_handlers"]

Reply = dict[str, Any]
Result = BaseModel | dict[str, Any] | None
M = TypeVar("M", bound=BaseModel)
Handler = Callable[[bytes], Awaitable[Reply]]


async def raw_body(msg: NatsMessage) -> bytes:
    """A decoder that hands the payload over untouched (no JSON parsing by FastStream)."""
    return msg.body


def register_handlers(
    broker: NatsBroker, service: Callable[[], SessionService], *, max_workers: int
) -> None:
    """Subscribe every sessions subject in the shared queue group, so replicas split the
    load. `service` is looked up per message: the app's lifespan builds it later."""

    async def reply(
        body: bytes, contract: type[M], operation: Callable[[SessionService, M], Awaitable[Result]]
    ) -> Reply:
        # The service is looked up inside handle_request, so that even "not ready"
        # is answered with an envelope.
        return await handle_request(body, contract, lambda req: operation(service(), req))

    def subscriber(subject: str) -> Callable[[Handler], object]:
        return broker.subscriber(
            subject, queue=subjects.SESSIONS_QUEUE, decoder=raw_body, max_workers=max_workers
        )

    @subscriber(subjects.SESSIONS_CREATE)
    async def create(body: bytes) -> Reply:
        return await reply(body, CreateSession, SessionService.create)

    @subscriber(subjects.SESSIONS_GET)
    async def get(body: bytes) -> Reply:
        return await reply(body, GetSession, SessionService.get)

    @subscriber(subjects.SESSIONS_LIST)
    async def list_sessions(body: bytes) -> Reply:
        return await reply(body, ListSessions, SessionService.list_sessions)

    @subscriber(subjects.SESSIONS_UPDATE)
    async def update(body: bytes) -> Reply:
        return await reply(body, UpdateSession, SessionService.update)

    @subscriber(subjects.SESSIONS_TITLE)
    async def title(body: bytes) -> Reply:
        return await reply(body, SetAutoTitle, SessionService.set_auto_title)

    @subscriber(subjects.SESSIONS_DELETE)
    async def delete(body: bytes) -> Reply:
        return await reply(body, DeleteSession, SessionService.delete)

    @subscriber(subjects.SESSIONS_HEALTH)
    async def health(body: bytes) -> Reply:
        return await reply(body, HealthRequest, SessionService.health)

    @subscriber(subjects.SESSIONS_TOUCH)
    async def touch(body: bytes) -> Reply:
        return await reply(body, TouchSession, SessionService.touch)
