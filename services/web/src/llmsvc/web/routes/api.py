"""JSON API for the chat page's JavaScript, relayed to the gateway (docs/design.md §4).

Every unsafe method needs the X-CSRF-Token header. Gateway statuses and error bodies
pass through unchanged, so the page sees e.g. `409 run_active` as the gateway sent it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from llmsvc.web.auth_flow import call_with_refresh
from llmsvc.web.deps import BrowserAddress, Ctx, MaybeSession, require_csrf_header
from llmsvc.web.relay import relay_body, relay_stream

__all__ = ["router"]

router = APIRouter(prefix="/web/api", dependencies=[Depends(require_csrf_header)])

# Ids go into gateway paths: allow only what our ids look like (no dots, no slashes).
Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,200}$")]
Limit = Annotated[int | None, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=500)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


Name = Annotated[str, Field(min_length=1, max_length=200)]
Instructions = Annotated[str, Field(max_length=4000)]
ModelId = Annotated[str, Field(min_length=1, max_length=200)]
OptionalId = Annotated[str | None, Field(pattern=r"^[A-Za-z0-9_-]{1,200}$")]


class NewSession(_Body):
    name: Annotated[str | None, Field(max_length=200)] = None
    model: ModelId | None = None
    instructions: Instructions | None = None


class SessionChange(_Body):
    name: Name | None = None
    model: ModelId | None = None
    instructions: Instructions | None = None


class ChatMessage(_Body):
    message: Annotated[str, Field(min_length=1, max_length=100_000)]
    session_id: OptionalId = None
    #: Replace this earlier user message (and all after it) with `message`.
    edit_message_id: OptionalId = None


@router.get("/sessions")
async def list_sessions(
    ctx: Ctx,
    session: MaybeSession,
    client: BrowserAddress,
    limit: Limit = None,
    cursor: Cursor = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    upstream = await call_with_refresh(
        ctx.refresher,
        session,
        lambda token: ctx.gateway.list_sessions(token, limit=limit, cursor=cursor, query=q),
        client=client,
    )
    return relay_body(upstream, ctx.cookies)


@router.post("/sessions")
async def create_session(
    ctx: Ctx, session: MaybeSession, client: BrowserAddress, body: NewSession
) -> Response:
    name = body.name.strip() if body.name and body.name.strip() else None
    fields = {"name": name, "model": body.model, "instructions": body.instructions}
    upstream = await call_with_refresh(
        ctx.refresher,
        session,
        lambda token: ctx.gateway.create_session(token, **fields),
        client=client,
    )
    return relay_body(upstream, ctx.cookies)


@router.get("/sessions/{session_id}")
async def get_session(
    ctx: Ctx, session: MaybeSession, client: BrowserAddress, session_id: Id
) -> Response:
    upstream = await call_with_refresh(
        ctx.refresher,
        session,
        lambda token: ctx.gateway.get_session(token, session_id),
        client=client,
    )
    return relay_body(upstream, ctx.cookies)


@router.patch("/sessions/{session_id}")
async def update_session(
    ctx: Ctx, session: MaybeSession, client: BrowserAddress, session_id: Id, body: SessionChange
) -> Response:
    """Rename, or change the model or the instructions (the gateway checks the model)."""
    fields = body.model_dump(exclude_none=True)
    upstream = await call_with_refresh(
        ctx.refresher,
        session,
        lambda token: ctx.gateway.update_session(token, session_id, **fields),
        client=client,
    )
    return relay_body(upstream, ctx.cookies)


@router.get("/models")
async def models(ctx: Ctx, session: MaybeSession, client: BrowserAddress) -> Response:
    upstream = await call_with_refresh(ctx.refresher, session, ctx.gateway.models, client=client)
    return relay_body(upstream, ctx.cookies)


@router.delete("/sessions/{session_id}")
async def delete_session(
    ctx: Ctx, session: MaybeSession, client: BrowserAddress, session_id: Id
) -> Response:
    upstream = await call_with_refresh(
        ctx.refresher,
        session,
        lambda token: ctx.gateway.delete_session(token, session_id),
        client=client,
    )
    return relay_body(upstream, ctx.cookies)


@router.get("/sessions/{session_id}/history")
async def history(
    ctx: Ctx,
    session: MaybeSession,
    client: BrowserAddress,
    session_id: Id,
    limit: Limit = None,
    before: Cursor = None,
) -> Response:
    upstream = await call_with_refresh(
        ctx.refresher,
        session,
        lambda token: ctx.gateway.history(token, session_id, limit=limit, before=before),
        client=client,
    )
    return relay_body(upstream, ctx.cookies)


@router.post("/chat")
async def chat(
    ctx: Ctx, session: MaybeSession, client: BrowserAddress, body: ChatMessage
) -> Response:
    upstream = await call_with_refresh(
        ctx.refresher,
        session,
        lambda token: ctx.gateway.start_chat(
            token,
            message=body.message,
            session_id=body.session_id,
            edit_message_id=body.edit_message_id,
        ),
        client=client,
    )
    return await relay_stream(upstream, ctx.cookies)


@router.post("/sessions/{session_id}/regenerate")
async def regenerate(
    ctx: Ctx, session: MaybeSession, client: BrowserAddress, session_id: Id
) -> Response:
    """A new answer to the conversation's last user message, streamed like /chat."""
    upstream = await call_with_refresh(
        ctx.refresher,
        session,
        lambda token: ctx.gateway.regenerate(token, session_id),
        client=client,
    )
    return await relay_stream(upstream, ctx.cookies)


@router.post("/runs/{run_id}/cancel")
async def cancel_run(
    ctx: Ctx, session: MaybeSession, client: BrowserAddress, run_id: Id
) -> Response:
    upstream = await call_with_refresh(
        ctx.refresher, session, lambda token: ctx.gateway.cancel_run(token, run_id), client=client
    )
    return relay_body(upstream, ctx.cookies)


@router.get("/runs/{run_id}/events")
async def run_events(
    ctx: Ctx,
    session: MaybeSession,
    client: BrowserAddress,
    run_id: Id,
    last_event_id: Annotated[str | None, Header(max_length=100)] = None,
) -> Response:
    upstream = await call_with_refresh(
        ctx.refresher,
        session,
        lambda token: ctx.gateway.run_events(token, run_id, last_event_id=last_event_id),
        client=client,
    )
    return await relay_stream(upstream, ctx.cookies)
