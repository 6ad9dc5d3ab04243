"""Rendering a page: the template, the session cookie it needs, no caching."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from llmsvc.web.context import WebContext
from llmsvc.web.session_cookie import WebSession

__all__ = ["render_page"]


def render_page(
    request: Request,
    ctx: WebContext,
    template: str,
    session: WebSession | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """Render `template`; a visitor without a session gets an anonymous one, so that
    every form on the page can carry a CSRF token."""
    fresh = session is None
    current = WebSession.anonymous() if session is None else session
    response = ctx.templates.TemplateResponse(
        request,
        template,
        {"session": current, "csrf_token": current.csrf, **context},
        status_code=status_code,
    )
    # Pages carry the CSRF token and the user's name: keep them out of shared caches.
    response.headers["Cache-Control"] = "no-store"
    if fresh:
        ctx.cookies.save(response, current)
    return response
