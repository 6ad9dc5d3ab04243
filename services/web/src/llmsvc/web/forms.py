"""What the form actions answer: friendly messages for gateway errors, the page status
that goes with them, and the signed-out redirect."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from llmsvc.web.context import WebContext
from llmsvc.web.gateway_client import GatewayError

__all__ = ["EXPIRED", "UNAVAILABLE", "friendly", "page_status", "signed_out"]

EXPIRED = "This form has expired. Please try again."
UNAVAILABLE = "The service is unavailable right now. Please try again in a moment."


def friendly(exc: GatewayError, *, logging_in: bool) -> str:
    if exc.status == 401 and logging_in:
        return "Wrong email or password."
    if exc.status == 409:
        return "An account with this email already exists."
    if exc.status in (400, 422):
        return f"Please check the form: {exc.message}"
    if exc.status == 429:
        return "Too many attempts. Please wait a moment and try again."
    if exc.status >= 500:
        return "Something went wrong on our side. Please try again in a moment."
    return exc.message


def page_status(exc: GatewayError) -> int:
    return exc.status if 400 <= exc.status < 500 else 503


def signed_out(ctx: WebContext) -> Response:
    """Back to the login page, the cookie gone."""
    response = RedirectResponse("/web/login?signed_out=1", status_code=303)
    ctx.cookies.clear(response)
    return response
