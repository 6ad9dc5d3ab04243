"""The web's own errors; `error_handlers` renders them (and the gateway's)."""

from __future__ import annotations

from typing import ClassVar

from starlette.responses import JSONResponse

__all__ = ["CsrfFailed", "NotLoggedIn", "SessionExpired", "WebError", "error_json"]


class WebError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    message: ClassVar[str] = "Bad request."
    clears_session: ClassVar[bool] = False


class NotLoggedIn(WebError):
    status = 401
    code = "not_logged_in"
    message = "Please log in."


class SessionExpired(WebError):
    status = 401
    code = "session_expired"
    message = "Your session has expired. Please log in again."
    clears_session = True


class CsrfFailed(WebError):
    status = 403
    code = "csrf_failed"
    message = "This page has expired. Reload it and try again."


def error_json(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
