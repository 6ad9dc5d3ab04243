"""One renderer for every error the gateway returns: the error body of docs/design.md
§4, or under `/v1/` (the OpenAI-compatible API) OpenAI's
`{"error": {"message", "type", "param", "code"}}` with its statuses (a validation error
is a 400 there), so the `openai` SDK raises its usual exception classes."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from llmsvc.common.errors import ServiceError
from llmsvc.common.logging import get_logger
from llmsvc.gateway.openai_replies import error_body

log = get_logger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def error_response(status: int, code: str, message: str, **extra: object) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"error": {"code": code, "message": message, **extra}}, status_code=status, headers=headers
    )


def _openai(request: Request) -> bool:
    return request.url.path.startswith("/v1/")


def _render(
    request: Request,
    status: int,
    code: str,
    message: str,
    *,
    param: str | None = None,
    **extra: object,
) -> JSONResponse:
    if not _openai(request):
        return error_response(status, code, message, **extra)
    status = 400 if status == 422 else status
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(error_body(status, code, message, param), status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        if exc.status >= 500:
            log.warning("upstream_error", code=exc.error_code, message=exc.message)
        extra = {k: v for k, v in exc.extra.items() if k != "status"}
        param = extra.pop("param", None)
        response = _render(
            request,
            exc.status,
            exc.error_code,
            exc.message,
            param=str(param) if param is not None else None,
            **extra,
        )
        if exc.status == 429:
            response.headers["Retry-After"] = str(int(extra.get("retry_after_s") or 1))
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        fields = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg"), "type": e.get("type")}
            for e in errors
        ]
        if _openai(request) and errors:
            where = [str(p) for p in errors[0].get("loc", ())]
            param = ".".join(where[1:] if where[:1] in (["body"], ["header"]) else where)
            message = f"{param or 'request'}: {errors[0].get('msg')}"
            return _render(request, 422, "invalid_request", message, param=param or None)
        return error_response(422, "validation_error", "request is not valid", fields=fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return _render(request, exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", error=repr(exc))
        return _render(request, 500, "internal_error", "internal error")
