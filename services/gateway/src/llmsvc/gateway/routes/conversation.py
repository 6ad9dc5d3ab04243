from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response, status
from fastapi.responses import StreamingResponse

from llmsvc.common import subjects
from llmsvc.common.contracts.agent import RunJob
from llmsvc.common.contracts.sessions import Session
from llmsvc.common.errors import NotFound
from llmsvc.gateway.deps import Authenticated, State
from llmsvc.gateway.run_errors import wait_for_reply
from llmsvc.gateway.runs import (
    RunEvents,
    new_job,
    queued_run,
    resolve_session,
    run_owner,
    start_and_follow,
)
from llmsvc.gateway.schemas import ConversationBody, ConversationReply, IdPath, RegenerateBody
from llmsvc.gateway.sse import SSE_HEADERS, queued_frame, sse_stream
from llmsvc.gateway.state import GatewayState

router = APIRouter(prefix="/conversation", tags=["conversation"])

_EVENT_ID = re.compile(r"[0-9]{1,18}")
RunIdPath = IdPath
SessionIdPath = IdPath

_SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "run events (SSE)"}
}


@router.post("", responses=_SSE_DOC, response_model=ConversationReply)
async def converse(body: ConversationBody, caller: Authenticated, state: State) -> Response:
    """Send a message (to a new conversation without `session_id`), or with
    `edit_message_id` replace an earlier user message and everything after it."""
    session = await resolve_session(
        state, user_id=caller.sub, session_id=body.session_id, first_message=body.message
    )
    job = new_job(session, body.message, edit_message_id=body.edit_message_id)
    return await respond(state, session, job, stream=body.stream)


@router.post(
    "/session/{session_id}/regenerate", responses=_SSE_DOC, response_model=ConversationReply
)
async def regenerate(
    session_id: SessionIdPath,
    caller: Authenticated,
    state: State,
    body: RegenerateBody | None = None,
) -> Response:
    """Answer the conversation's last user message again; the reply it replaces (and its
    tool steps) leave the history and the model's memory."""
    session = await resolve_session(
        state, user_id=caller.sub, session_id=session_id, first_message=""
    )
    job = new_job(session, "", regenerate=True)
    return await respond(state, session, job, stream=(body or RegenerateBody()).stream)


async def respond(state: GatewayState, session: Session, job: RunJob, *, stream: bool) -> Response:
    """Start `job` and answer with its events (SSE) or, with `stream: false`, its reply."""
    events = await start_and_follow(state, session=session, job=job)
    if stream:
        first = queued_frame(run_id=job.run_id, session_id=job.session_id)
        return StreamingResponse(
            sse_stream(events.follow(ping_s=state.settings.sse_ping_s), first=first),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )
    done = await wait_for_reply(events, timeout_s=state.settings.blocking_reply_timeout_s)
    reply = ConversationReply(
        session_id=session.session_id,
        run_id=events.run_id,
        message=done["message"],
        usage=done.get("usage", {}),
    )
    return Response(reply.model_dump_json(), media_type="application/json")


@router.get("/runs/{run_id}/events", responses=_SSE_DOC)
async def run_events(
    run_id: RunIdPath,
    caller: Authenticated,
    state: State,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """Follow a run's events (again): from the start, or after `Last-Event-ID`. A run no
    worker has taken yet opens with `queued`, as when it was sent."""
    queued = None
    try:
        owner = await run_owner(state, run_id)
    except NotFound:
        queued = await queued_run(state, user_id=caller.sub, run_id=run_id)
        owner = caller.sub
    if owner != caller.sub:
        raise NotFound("no such run", code="run_not_found")
    # Anything but a plain event number (as sent by EventSource) replays from the start.
    after = int(last_event_id) if last_event_id and _EVENT_ID.fullmatch(last_event_id) else 0
    events = await RunEvents.open(state, run_id, queued)
    first = b"" if queued is None else queued_frame(run_id=run_id, session_id=queued.session_id)
    return StreamingResponse(
        sse_stream(events.follow(after_seq=after, ping_s=state.settings.sse_ping_s), first=first),
        media_type="text/event-stream",
        headers=SSE_HEADERS,
    )


@router.post("/runs/{run_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
async def cancel_run(run_id: RunIdPath, caller: Authenticated, state: State) -> dict[str, str]:
    """Stop a run of the caller's, also one no worker has taken yet (the cancel is kept
    for the worker that takes it). Another user's run, or none, is 404 and records
    nothing."""
    try:
        owner = await run_owner(state, run_id)
    except NotFound:
        await queued_run(state, user_id=caller.sub, run_id=run_id)  # or 404
        owner = caller.sub
    if owner != caller.sub:
        raise NotFound("no such run", code="run_not_found")
    # Kept for a worker that has not picked the run up yet, and told to one running it.
    await state.cancels.request(run_id, caller.sub)
    await state.nc.publish(subjects.run_cancel(run_id), b"{}")
    return {"run_id": run_id, "status": "cancel_requested"}
