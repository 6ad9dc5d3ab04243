"""FastAPI dependencies: the app context, the cookie session, the CSRF check.

All `async def` (they do no blocking work): FastAPI runs a plain `def` dependency in a
thread pool, a thread hop per request."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from llmsvc.web.context import WebContext
from llmsvc.web.csrf import CSRF_HEADER, SAFE_METHODS, tokens_match
from llmsvc.web.errors import CsrfFailed
from llmsvc.web.session_cookie import WebSession

__all__ = ["BrowserAddress", "Ctx", "MaybeSession", "browser_address", "require_csrf_header"]


async def get_ctx(request: Request) -> WebContext:
    return cast(WebContext, request.state.web)


Ctx = Annotated[WebContext, Depends(get_ctx)]


def browser_address(request: Request) -> str | None:
    """The browser's address, forwarded to the gateway for its per-address limits."""
    return request.client.host if request.client else None


async def get_browser_address(request: Request) -> str | None:
    return browser_address(request)


BrowserAddress = Annotated[str | None, Depends(get_browser_address)]


async def get_session(request: Request, ctx: Ctx) -> WebSession | None:
    return ctx.cookies.load(request)


MaybeSession = Annotated[WebSession | None, Depends(get_session)]


async def require_csrf_header(request: Request, session: MaybeSession) -> None:
    """Unsafe methods must echo the session's CSRF token in X-CSRF-Token."""
    if request.method in SAFE_METHODS:
        return
    if session is None or not tokens_match(session.csrf, request.headers.get(CSRF_HEADER)):
        raise CsrfFailed()
