from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from llmsvc.common.contracts.agent import HistoryPage, HistoryRequest
from llmsvc.common.contracts.sessions import (
    CreateSession,
    DeleteSession,
    ListSessions,
    Session,
    SessionPage,
    UpdateSession,
)
from llmsvc.common.errors import Forbidden, ValidationFailed
from llmsvc.gateway.deps import Authenticated, State
from llmsvc.gateway.runs import admit_conversation, owned_session
from llmsvc.gateway.schemas import CreateSessionBody, IdPath, SessionView, UpdateSessionBody
from llmsvc.gateway.state import GatewayState

router = APIRouter(prefix="/conversation", tags=["sessions"])

SessionIdPath = IdPath
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=512)]
#: Words to find in conversation names (all of them, any case).
Search = Annotated[str, Query(max_length=200)]


@router.post("/session", status_code=status.HTTP_201_CREATED, response_model=Session)
async def create_session(
    caller: Authenticated, state: State, body: CreateSessionBody | None = None
) -> Session:
    body = body or CreateSessionBody()
    check_model(state, body.model)
    await admit_conversation(state, caller.sub)
    payload = CreateSession(
        user_id=caller.sub, name=body.name, model=body.model, instructions=body.instructions
    )
    session = await state.sessions.create(payload)
    state.session_cache.put(session)  # its first message usually follows at once
    return session


@router.get("/session/{session_id}", response_model=SessionView)
async def get_session(
    session_id: SessionIdPath, caller: Authenticated, state: State
) -> SessionView:
    """The conversation, and the run answering in it now if there is one (its events:
    `GET /conversation/runs/{active_run_id}/events`), so another tab or device can
    follow a reply that is being written."""
    session, active = await asyncio.gather(
        owned_session(state, user_id=caller.sub, session_id=session_id),
        state.locks.holder(session_id),
    )
    return SessionView(**session.model_dump(), active_run_id=active)


@router.get("/sessions", response_model=SessionPage)
async def list_my_sessions(
    caller: Authenticated,
    state: State,
    limit: Limit = 20,
    cursor: Cursor = None,
    q: Search = "",
) -> SessionPage:
    """The caller's conversations, newest activity first; `q` keeps those whose name
    contains each of its words."""
    payload = ListSessions(user_id=caller.sub, limit=limit, cursor=cursor, query=q)
    return await state.sessions.list(payload)


@router.get("/sessions/user/{user_id}", response_model=SessionPage)
async def list_user_sessions(
    user_id: str, caller: Authenticated, state: State, limit: Limit = 20, cursor: Cursor = None
) -> SessionPage:
    if user_id != caller.sub:
        raise Forbidden("you can only list your own conversations")
    return await list_my_sessions(caller, state, limit, cursor)


@router.patch("/session/{session_id}", response_model=Session)
async def update_session(
    session_id: SessionIdPath, body: UpdateSessionBody, caller: Authenticated, state: State
) -> Session:
    """Rename the conversation, or change its model or instructions (from its next run)."""
    if body.name is None and body.model is None and body.instructions is None:
        raise ValidationFailed(
            "give at least one of name, model, instructions",
            fields=[{"loc": ["body"], "msg": "nothing to change", "type": "missing"}],
        )
    check_model(state, body.model)
    payload = UpdateSession(
        user_id=caller.sub,
        session_id=session_id,
        name=body.name,
        model=body.model,
        instructions=body.instructions,
    )
    session = await state.sessions.update(payload)
    state.session_cache.refresh(session)  # other gateways hear the update
    return session


def check_model(state: GatewayState, model: str | None) -> None:
    """422 for a model the operator does not offer."""
    if model is not None and state.models.get(model) is None:
        raise ValidationFailed(
            f"unknown model {model!r}; GET /models lists the models on offer",
            fields=[{"loc": ["body", "model"], "msg": "unknown model", "type": "value_error"}],
        )


@router.delete("/session/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_session(
    session_id: SessionIdPath, caller: Authenticated, state: State
) -> Response:
    payload = DeleteSession(user_id=caller.sub, session_id=session_id)
    await state.sessions.delete(payload)
    state.session_cache.forget(session_id)  # other gateways hear the deletion event
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/session/{session_id}/history", response_model=HistoryPage)
async def session_history(
    session_id: SessionIdPath,
    caller: Authenticated,
    state: State,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Cursor = None,
) -> HistoryPage:
    session = await owned_session(state, user_id=caller.sub, session_id=session_id)
    payload = HistoryRequest(
        thread_id=session.thread_id, user_id=caller.sub, limit=limit, before=before
    )
    return await state.agent.history(payload)
