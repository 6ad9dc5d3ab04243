"""The one place that turns errors into responses.

API paths (/web/api/…) answer with the gateway's error shape
`{"error": {"code", "message"}}`; pages answer with a friendly page or a redirect.
Nothing here ever shows a traceback.
"""

from __future__ import annotations

from typing import cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from llmsvc.common.logging import get_logger
from llmsvc.web.context import WebContext
from llmsvc.web.errors import WebError, error_json
from llmsvc.web.gateway_client import GatewayError, GatewayUnavailable

__all__ = ["install_error_handlers"]

log = get_logger(__name__)

API_PREFIX = "/web/api/"


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def _page(request: Request, status: int, message: str) -> Response:
    ctx = cast(WebContext, request.state.web)
    context = {"message": message, "status": status, "session": ctx.cookies.load(request)}
    return ctx.templates.TemplateResponse(request, "error.html", context, status_code=status)


async def _web_error(request: Request, exc: Exception) -> Response:
    err = cast(WebError, exc)
    response: Response
    if _is_api(request):
        response = error_json(err.status, err.code, err.message)
    elif err.status == 401:
        response = RedirectResponse("/web/login", status_code=303)
    else:
        response = _page(request, err.status, err.message)
    if err.clears_session:
        cast(WebContext, request.state.web).cookies.clear(response)
    return response


async def _gateway_error(request: Request, exc: Exception) -> Response:
    err = cast(GatewayError, exc)
    if _is_api(request):
        if err.body:
            return Response(err.body, status_code=err.status, media_type="application/json")
        return error_json(err.status, err.code, err.message)
    return _page(request, err.status, err.message)


async def _gateway_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("gateway unavailable", error=str(exc), path=request.url.path)
    message = "The service is unavailable right now. Please try again in a moment."
    if _is_api(request):
        return error_json(503, "gateway_unavailable", message)
    return _page(request, 503, message)


async def _http_error(request: Request, exc: Exception) -> Response:
    err = cast(HTTPException, exc)
    message = "Not found." if err.status_code == 404 else str(err.detail)
    if _is_api(request) or not request.url.path.startswith("/web"):
        return error_json(err.status_code, "http_error", message)
    return _page(request, err.status_code, message)


async def _validation_error(request: Request, exc: Exception) -> Response:
    err = cast(RequestValidationError, exc)
    fields = [".".join(str(p) for p in e.get("loc", ())) for e in err.errors()]
    message = "Invalid request: " + ", ".join(fields) if fields else "Invalid request."
    return error_json(422, "validation_error", message)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(WebError, _web_error)
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(GatewayUnavailable, _gateway_unavailable)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
