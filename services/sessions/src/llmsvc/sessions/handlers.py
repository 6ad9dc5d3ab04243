"""NATS subjects of the sessions service. Thin: validate, call the service, wrap the reply.

Each handler receives the payload as raw bytes (see `raw_body`), so validation is ours
and bad input is answered with a 422 envelope rather than dropped by the framework.
The returned envelope dict is sent back as the JSON reply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from faststream.nats import NatsBroker, NatsMessage
from pydantic import BaseModel

from llmsvc.common import subjects
from llmsvc.common.contracts.base import HealthRequest
from llmsvc.common.contracts.documented import documented_as
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

    def subscriber(subject: str, description: str) -> Callable[[Handler], object]:
        # `description` is the AsyncAPI document's (docs/asyncapi.json), which also gives
        # each handler's payload from its `documented_as` contract.
        return broker.subscriber(
            subject,
            queue=subjects.SESSIONS_QUEUE,
            decoder=raw_body,
            max_workers=max_workers,
            description=description,
        )

    @subscriber(
        subjects.SESSIONS_CREATE,
        "Create a conversation for the user. Reply: the `Session`.",
    )
    async def create(body: Annotated[bytes, documented_as(CreateSession)]) -> Reply:
        return await reply(body, CreateSession, SessionService.create)

    @subscriber(
        subjects.SESSIONS_GET,
        "One of the user's conversations. Reply: the `Session`; error 404 `session_not_found` "
        "(also for another user's).",
    )
    async def get(body: Annotated[bytes, documented_as(GetSession)]) -> Reply:
        return await reply(body, GetSession, SessionService.get)

    @subscriber(
        subjects.SESSIONS_LIST,
        "The user's conversations, newest activity first, one page (keyset cursor). Reply: a "
        "`SessionPage`.",
    )
    async def list_sessions(body: Annotated[bytes, documented_as(ListSessions)]) -> Reply:
        return await reply(body, ListSessions, SessionService.list_sessions)

    @subscriber(
        subjects.SESSIONS_UPDATE,
        "Rename a conversation, or change its model or instructions; announced on "
        "`sessions.v1.notify.updated`. Reply: the `Session`; error 404 `session_not_found`.",
    )
    async def update(body: Annotated[bytes, documented_as(UpdateSession)]) -> Reply:
        return await reply(body, UpdateSession, SessionService.update)

    @subscriber(
        subjects.SESSIONS_TITLE,
        "The automatic title (from an agent worker), taken only while nobody has named the "
        "conversation. Reply: the `Session`, or null when it was not taken.",
    )
    async def title(body: Annotated[bytes, documented_as(SetAutoTitle)]) -> Reply:
        return await reply(body, SetAutoTitle, SessionService.set_auto_title)

    @subscriber(
        subjects.SESSIONS_DELETE,
        "Delete a conversation: hide it, announce `SessionDeleted` on "
        '`sessions.v1.events.deleted`, then remove it. Reply: `{"deleted": true}`; errors 404 '
        "`session_not_found`, 503 when the announcement could not be stored.",
    )
    async def delete(body: Annotated[bytes, documented_as(DeleteSession)]) -> Reply:
        return await reply(body, DeleteSession, SessionService.delete)

    @subscriber(
        subjects.SESSIONS_HEALTH,
        "Whether sessions can serve (its database answers), for the readiness of gateways. Reply: "
        '`{"ok": true}`, or 503 `storage_unavailable`.',
    )
    async def health(body: Annotated[bytes, documented_as(HealthRequest)]) -> Reply:
        return await reply(body, HealthRequest, SessionService.health)

    @subscriber(
        subjects.SESSIONS_TOUCH,
        "Mark a conversation as just used (its place in the list). Reply: the `Session`; error 404 "
        "`session_not_found`.",
    )
    async def touch(body: Annotated[bytes, documented_as(TouchSession)]) -> Reply:
        return await reply(body, TouchSession, SessionService.touch)
