"""The OpenAI-compatible API: `POST /v1/chat/completions` and `GET /v1/models`, so the
official `openai` SDK and what is built on it work unchanged (base URL `…/v1`, the
access token or an API key as the API key).

Runs go through the same jobs, workers, quotas and one-run-per-conversation lock as
`/conversation`. With `X-Session-Id`, the conversation's stored history is the context:
the client may send only its new message (or the whole exchange: what follows the
request's last assistant message is what is new), and the exchange is stored, so it
shows in the web UI and continues over `/conversation`. Without it the request is
stateless: its messages are used as given and nothing is kept. Errors have OpenAI's
shape, `{"error": {"message", "type", "param", "code"}}` (`errors.py`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.responses import Response

from llmsvc.common.contracts.agent import Completion, RunJob
from llmsvc.common.contracts.sessions import Session
from llmsvc.common.errors import BadRequest, NotFound
from llmsvc.common.ids import new_id, utcnow
from llmsvc.gateway.deps import Authenticated, Caller, State
from llmsvc.gateway.openai_replies import CompletionReply
from llmsvc.gateway.openai_schemas import (
    ChatCompletionRequest,
    ChatMessage,
    ErrorBody,
    ModelObject,
    ModelsPage,
)
from llmsvc.gateway.run_errors import wait_for_reply
from llmsvc.gateway.runs import resolve_session, start_and_follow
from llmsvc.gateway.sse import SSE_HEADERS
from llmsvc.gateway.state import GatewayState

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["openai"])

SessionHeader = Annotated[
    str | None,
    Header(
        alias="X-Session-Id",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="keep the exchange in this conversation and answer from its history",
    ),
]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("no valid access token or API key"),
    429: _error("a quota refuses the run (`Retry-After` says when to try again)"),
}
_COMPLETION_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "application/json": {},
            "text/event-stream": {"description": "chat.completion.chunk frames, then [DONE]"},
        },
        "description": "a chat.completion, or with stream: true its chunks (SSE)",
    },
    400: _error("a field is not valid (`param` names it), or no new message in a conversation"),
    404: _error("no such model (`model_not_found`), or no such conversation for X-Session-Id"),
    409: _error("the conversation already has a run in progress (`run_active`)"),
    413: _error("the body is larger than MAX_BODY_BYTES"),
    502: _error("the model failed (`model_error`, …)"),
    503: _error("the service or the model is unavailable right now"),
    504: _error("the model did not answer in time"),
    **_ERRORS,
}


@router.get("/models", response_model=ModelsPage, responses=_ERRORS)
async def list_models(_caller: Authenticated, state: State) -> ModelsPage:
    """The models on offer, in OpenAI's list format (the operator's `MODELS`)."""
    return ModelsPage(
        data=[ModelObject(id=m.id, created=0, owned_by="llmsvc") for m in state.models.models]
    )


@router.post("/chat/completions", responses=_COMPLETION_DOC)
async def chat_completions(
    body: ChatCompletionRequest,
    caller: Authenticated,
    state: State,
    session_id: SessionHeader = None,
) -> Response:
    """A chat completion, streamed (`stream: true`) or whole, in OpenAI's format.

    Without `X-Session-Id` the request is stateless: `messages` (system, developer,
    user, assistant and tool messages) are the whole context and nothing is stored. With
    `X-Session-Id: <session_id>` (one of the caller's conversations) the server supplies
    its history: send only the new user message (or the results of the tools the last
    reply asked for); what follows the request's last assistant message is taken as new,
    so resending the whole exchange stores nothing twice. The exchange is then part of
    the conversation, as if sent to `POST /conversation`.

    `tools` and `tool_choice` go to the model and its `tool_calls` come back for the
    client to run (the service's own tools are not used here). `temperature`, `top_p`,
    `max_tokens`, `max_completion_tokens`, `stop`, `seed`, `user`, the penalties,
    `response_format` and `parallel_tool_calls` pass through; other fields are ignored.
    `n` must be 1."""
    if state.models.get(body.model) is None:
        raise NotFound(
            f"the model {body.model!r} does not exist; GET /v1/models lists them",
            code="model_not_found",
            param="model",
        )
    session, job = await _job(state, caller, body, session_id)
    events = await start_and_follow(state, session=session, job=job)
    reply = CompletionReply(job.run_id, body.model)
    if body.stream:
        include_usage = body.stream_options is not None and body.stream_options.include_usage
        follow = events.follow(ping_s=state.settings.sse_ping_s)
        return StreamingResponse(
            reply.frames(follow, include_usage=include_usage),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )
    done = await wait_for_reply(events, timeout_s=state.settings.blocking_reply_timeout_s)
    return JSONResponse(reply.completion(done))


def _new_messages(messages: list[ChatMessage]) -> list[ChatMessage]:
    """What a request to a conversation adds to it: the messages after its last
    assistant message (system messages included, which apply to this call only)."""
    last = max((n for n, m in enumerate(messages) if m.role == "assistant"), default=-1)
    new = messages[last + 1 :]
    if not any(m.role in ("user", "tool") for m in new):
        raise BadRequest(
            "with X-Session-Id, end the messages with a new user message (or tool results)",
            code="no_new_message",
            param="messages",
        )
    return new


def _text(message: ChatMessage | None) -> str:
    if message is None or message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    return "\n".join(str(p.get("text", "")) for p in message.content if p.get("type") == "text")


async def _job(
    state: GatewayState, caller: Caller, body: ChatCompletionRequest, session_id: str | None
) -> tuple[Session | None, RunJob]:
    run_id = new_id()
    if session_id is None:
        messages, session, stateless = body.messages, None, True
        thread = f"stateless-{run_id}"
    else:
        session = await resolve_session(
            state, user_id=caller.sub, session_id=session_id, first_message=""
        )
        messages, stateless, thread = _new_messages(body.messages), False, session.thread_id
    question = next((m for m in reversed(messages) if m.role == "user"), None)
    completion = Completion(
        messages=[m.for_model() for m in messages],
        stateless=stateless,
        tools=[t.model_dump(exclude_none=True) for t in body.tools or []],
        tool_choice=body.tool_choice,
        params=body.model_params(),
    )
    job = RunJob(
        run_id=run_id,
        session_id=session.session_id if session else thread,
        thread_id=thread,
        user_id=caller.sub,
        message=_text(question),
        message_id=f"user-{new_id()}",
        created_at=utcnow(),
        model=body.model,
        instructions=session.instructions if session else "",
        wants_title=session is not None and session.title_source == "default",
        completion=completion,
    )
    return session, job
