"""The HTTP surface: an OpenAI-compatible chat-completions server with scripted replies."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
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


@dataclass
class MockState:
    settings: MockSettings
    defaults: Behaviour
    stats: StreamStats


def plan_reply(
    body: ChatCompletionRequest, headers: Mapping[str, str], defaults: Behaviour
) -> Plan:
    """Resolve the behaviour (headers over message directives over settings) and the
    exact tokens to send."""
    turns = [(m.role, content_text(m.content)) for m in body.messages]
    behaviour = parse_directives(last_user_text(turns)).apply(defaults)
    behaviour = parse_mock_headers(headers).apply(behaviour)
    n = behaviour.reply_tokens
    tokens = fixed_tokens(n) if n > 0 else tokenize(reply_text(turns, 0))
    finish_reason = "stop"
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
    )


def injected_error(fail: FailMode, model: str) -> JSONResponse | None:
    if fail is FailMode.RATE_LIMIT:
        body = error_body(
            f"Rate limit reached for {model} (injected by mockllm).",
            type="requests",
            code="rate_limit_exceeded",
        )
        return JSONResponse(body, status_code=429)
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
        completion=len(plan.tokens),
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

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
        start = asyncio.get_running_loop().time()
        plan = plan_reply(body, request.headers, state.defaults)
        return await respond(plan, stream=body.stream, request=request, state=state, start=start)

    return app


def _model_card(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "mockllm"}
