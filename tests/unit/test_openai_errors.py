"""Every error status the gateway can answer under `/v1/` reaches the `openai` SDK as
its own exception class, with OpenAI's body (`type`, `code`, `param`), through the
gateway's real error handlers."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest
from fastapi import FastAPI

from llmsvc.common.errors import (
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    ServiceError,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from llmsvc.gateway.errors import install_error_handlers
from llmsvc.gateway.run_errors import BadGateway

pytestmark = pytest.mark.unit

CASES: list[tuple[ServiceError, type[openai.APIStatusError], int, str]] = [
    (
        ValidationFailed("bad", param="messages"),
        openai.BadRequestError,
        400,
        "invalid_request_error",
    ),
    (
        Unauthorized("who?", code="invalid_token"),
        openai.AuthenticationError,
        401,
        "authentication_error",
    ),
    (Forbidden("no", code="forbidden"), openai.PermissionDeniedError, 403, "permission_error"),
    (
        NotFound("none", code="model_not_found", param="model"),
        openai.NotFoundError,
        404,
        "not_found_error",
    ),
    (Conflict("busy", code="run_active"), openai.ConflictError, 409, "conflict_error"),
    (
        RateLimited("slow down", code="rate_limited", retry_after_s=7),
        openai.RateLimitError,
        429,
        "rate_limit_error",
    ),
    (BadGateway("model failed", code="model_error"), openai.InternalServerError, 502, "api_error"),
    (Unavailable("later", code="run_timeout"), openai.InternalServerError, 503, "api_error"),
]


def gateway_raising(error: ServiceError) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/v1/chat/completions")
    async def fail() -> Any:
        raise error

    return app


@pytest.mark.parametrize(("error", "exception", "status", "kind"), CASES)
async def test_each_status_is_the_sdks_exception(
    error: ServiceError, exception: type[openai.APIStatusError], status: int, kind: str
) -> None:
    transport = httpx2.ASGITransport(app=gateway_raising(error))
    async with httpx2.AsyncClient(transport=transport, base_url="http://gw") as http:
        sdk = openai.AsyncOpenAI(
            base_url="http://gw/v1", api_key="k", http_client=http, max_retries=0
        )
        with pytest.raises(exception) as raised:
            await sdk.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )
    assert raised.value.status_code == status
    body = raised.value.body
    assert isinstance(body, dict) and set(body) == {"message", "type", "param", "code"}
    assert (body["type"], body["code"]) == (kind, error.error_code)
    assert body["param"] == error.extra.get("param")
    if status == 429:
        assert raised.value.response.headers["retry-after"] == "7"
