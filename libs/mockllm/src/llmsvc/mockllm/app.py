"""The HTTP surface: an OpenAI-compatible chat-completions server with scripted replies."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from llmsvc.mockllm.directives import Behaviour, FailMode, InvalidDirective, parse_directives
from llmsvc.mockllm.directives import parse_headers as parse_mock_headers
from llmsvc.mockllm.replies import (
    content_text,
    fixed_tokens,
    last_user_text,
    prompt_tokens,
    reply_text,
    tokenize,
)
from llmsvc.mockllm.schemas import ChatCompletionRequest, completion, error_body
from llmsvc.mockllm.settings import MockSettings
from llmsvc.mockllm.streaming import (
    DISCONNECT_AFTER_TOKENS,
    SSE_HEADERS,
    AbortableStreamingResponse,
    Pacer,
    Plan,
    StreamStats,
    install_log_filter,
    sse_chunks,
    truncated_body,
)
from llmsvc.mockllm.tool_script import ToolScript, next_tool_calls, tool_answer

#: Requests kept for `GET /_mock/requests`, newest last.
RECENT_REQUESTS = 200


@dataclass
class MockState:
    settings: MockSettings
    defaults: Behaviour
    stats: StreamStats
    #: The bodies of the latest requests, so tests can see what a client sent.
    requests: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_REQUESTS))
    #: Injected failures served so far per conversation (its last user message), for
    #: `fail_first`.
    failures: dict[str, int] = field(default_factory=dict)

    def should_fail(self, behaviour: Behaviour, conversation: str) -> bool:
        if behaviour.fail is None:
            return False
        if behaviour.fail_first == 0:
            return True
        served = self.failures.get(conversation, 0)
        if served >= behaviour.fail_first:
            return False
        if len(self.failures) >= RECENT_REQUESTS:
            self.failures.clear()  # a test stand-in: bounded, not clever
        self.failures[conversation] = served + 1
        return True


def plan_reply(
    body: ChatCompletionRequest, headers: Mapping[str, str], defaults: Behaviour
) -> Plan:
    """Resolve the behaviour (headers over message directives over settings) and the
    exact tokens to send."""
    turns = [(m.role, content_text(m.content)) for m in body.messages]
    last_user = last_user_text(turns)
    behaviour = parse_directives(last_user).apply(defaults)
    behaviour = parse_mock_headers(headers).apply(behaviour)
    messages = [m.model_dump() for m in body.messages]
    tool_calls = next_tool_calls(ToolScript.parse(last_user), messages)
    n = behaviour.reply_tokens
    if tool_calls:
        tokens: Sequence[str] = ()
    elif (answer := tool_answer(messages)) is not None:
        tokens = tokenize(answer)
    else:
        tokens = fixed_tokens(n) if n > 0 else tokenize(reply_text(turns, 0))
    finish_reason = "tool_calls" if tool_calls else "stop"
    limit = body.token_limit
    if limit is not None and len(tokens) > limit:
        tokens, finish_reason = tokens[:limit], "length"
    return Plan(
        model=body.model,
        tokens=tokens,
        finish_reason=finish_reason,
        prompt_tokens=prompt_tokens(turns),
        include_usage=body.include_usage,
        behaviour=behaviour,
        tool_calls=tool_calls,
    )


def check_tool_messages(body: ChatCompletionRequest) -> None:
    """Refuse, as OpenAI does, a conversation whose tool calls and results do not pair
    up: every tool message answers a call of the assistant message before it, and every
    call is answered before the conversation goes on."""
    open_calls: set[str] = set()
    for i, message in enumerate(body.messages):
        extra = message.model_extra or {}
        if message.role == "tool":
            call_id = extra.get("tool_call_id")
            if call_id not in open_calls:
                raise InvalidDirective(
                    f"messages[{i}]: a tool message must answer a preceding tool call",
                    param=f"messages.[{i}].tool_call_id",
                )
            open_calls.discard(call_id)
            continue
        if open_calls:
            raise InvalidDirective(
                f"messages[{i}]: the tool calls {sorted(open_calls)} have no results",
                param=f"messages.[{i}]",
            )
        if message.role == "assistant":
            open_calls = {str(c.get("id")) for c in extra.get("tool_calls") or ()}
    if open_calls:
        raise InvalidDirective(
            f"the tool calls {sorted(open_calls)} have no results", param="messages"
        )


def injected_error(fail: FailMode, model: str) -> JSONResponse | None:
    if fail is FailMode.RATE_LIMIT:
        body = error_body(
            f"Rate limit reached for {model} (injected by mockllm).",
            type="requests",
            code="rate_limit_exceeded",
        )
        # OpenAI says when to try again; clients such as the openai SDK wait that long.
        return JSONResponse(body, status_code=429, headers={"retry-after": "1"})
    if fail is FailMode.SERVER_ERROR:
        body = error_body(
            "The server had an error while processing your request (injected by mockllm).",
            type="server_error",
        )
        return JSONResponse(body, status_code=500)
    return None


async def wait_for_disconnect(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def respond(
    plan: Plan, *, stream: bool, request: Request, state: MockState, start: float
) -> Response:
    fail = plan.behaviour.fail
    if fail is not None and (error := injected_error(fail, plan.model)) is not None:
        return error
    pacer = Pacer(start, plan.behaviour)
    if stream:
        return AbortableStreamingResponse(
            sse_chunks(plan, pacer),
            stats=state.stats,
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )
    if fail is FailMode.STALL:
        # Nothing at all, not even headers, until the client gives up.
        await wait_for_disconnect(request)
        return Response(status_code=499)
    text = "".join(plan.tokens)
    body = completion(
        model=plan.model,
        text=text,
        finish_reason=plan.finish_reason,
        prompt=plan.prompt_tokens,
        completion=len(plan.tokens) or len(plan.tool_calls),
        tool_calls=plan.tool_calls,
    )
    if fail is FailMode.DISCONNECT:
        raw = JSONResponse(body).body
        index = min(DISCONNECT_AFTER_TOKENS, len(plan.tokens)) - 1
        return AbortableStreamingResponse(
            truncated_body(bytes(raw), pacer, index),
            stats=state.stats,
            media_type="application/json",
        )
    await pacer.until(len(plan.tokens) - 1)
    return JSONResponse(body)


def _invalid_request(message: str, param: Any = None, status: int = 400) -> JSONResponse:
    body = error_body(message, type="invalid_request_error", param=param)
    return JSONResponse(body, status_code=status)


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    parts, first_param = [], None
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            return f"We could not parse the JSON body of your request: {error.get('msg')}", None
        loc = [str(p) for p in error.get("loc", ()) if p != "body"]
        param = ".".join(loc) or None
        first_param = first_param or param
        parts.append(f"{param}: {error.get('msg')}" if param else str(error.get("msg")))
    return "; ".join(parts) or "invalid request", first_param


def create_app(settings: MockSettings | None = None) -> FastAPI:
    settings = settings if settings is not None else MockSettings()
    state = MockState(settings=settings, defaults=settings.behaviour(), stats=StreamStats())
    install_log_filter()
    app = FastAPI(title="mockllm", summary="OpenAI-compatible mock model server")
    app.state.mock = state

    @app.exception_handler(RequestValidationError)
    async def _on_validation(request: Request, exc: RequestValidationError) -> Response:
        message, param = _validation_message(exc)
        return _invalid_request(message, param)

    @app.exception_handler(InvalidDirective)
    async def _on_directive(request: Request, exc: InvalidDirective) -> Response:
        return _invalid_request(exc.message, exc.param)

    @app.exception_handler(StarletteHTTPException)
    async def _on_http(request: Request, exc: StarletteHTTPException) -> Response:
        kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
        body = error_body(str(exc.detail), type=kind)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "model": settings.model, "open_streams": state.stats.open_streams}

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [_model_card(settings.model)]}

    @app.get("/v1/models/{model_id:path}", response_model=None)
    async def get_model(model_id: str) -> dict[str, Any] | Response:
        if model_id != settings.model:
            return _invalid_request(f"The model '{model_id}' does not exist", "model", 404)
        return _model_card(model_id)

    @app.get("/_mock/requests")
    async def recent_requests(limit: int = 20) -> dict[str, Any]:
        """The newest chat-completion request bodies received, oldest first."""
        kept = list(state.requests)
        return {"requests": kept[-limit:] if limit > 0 else []}

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
        start = asyncio.get_running_loop().time()
        state.requests.append({**body.model_dump(exclude_none=True), "received_at": time.time()})
        check_tool_messages(body)
        plan = plan_reply(body, request.headers, state.defaults)
        if plan.behaviour.fail is not None and not state.should_fail(
            plan.behaviour,
            last_user_text([(m.role, content_text(m.content)) for m in body.messages]),
        ):
            plan = dataclasses.replace(
                plan, behaviour=dataclasses.replace(plan.behaviour, fail=None)
            )
        return await respond(plan, stream=body.stream, request=request, state=state, start=start)

    return app


def _model_card(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "mockllm"}
