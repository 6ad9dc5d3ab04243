"""Form actions: log in, register (then log in), log out.

Gateway errors become a friendly message on the form, with the gateway's status.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from llmsvc.common.logging import get_logger
from llmsvc.web.context import WebContext
from llmsvc.web.csrf import new_csrf_token, tokens_match
from llmsvc.web.deps import Ctx, MaybeSession, browser_address
from llmsvc.web.forms import EXPIRED, UNAVAILABLE, friendly, page_status, signed_out
from llmsvc.web.gateway_client import GatewayError, GatewayUnavailable, TokenPair
from llmsvc.web.rendering import render_page
from llmsvc.web.session_cookie import WebSession

__all__ = ["router"]

log = get_logger(__name__)

router = APIRouter(prefix="/web/auth")

# Plain strings with defaults: a missing or odd field is the gateway's to judge and
# comes back as a message on the form, never as a JSON validation error.
FormField = Annotated[str, Form()]


def _logged_in(ctx: WebContext, pair: TokenPair) -> Response:
    # A fresh CSRF token at login, so a token seen before login is worth nothing after.
    session = WebSession(
        csrf=new_csrf_token(),
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        user_id=pair.user.user_id if pair.user else None,
        user_name=pair.user.name if pair.user else None,
    )
    response = RedirectResponse("/web/chat", status_code=303)
    ctx.cookies.save(response, session)
    return response


@router.post("/login")
async def login(
    request: Request,
    ctx: Ctx,
    session: MaybeSession,
    email: FormField = "",
    password: FormField = "",
    csrf_token: FormField = "",
) -> Response:
    def again(status_code: int, error: str) -> Response:
        return render_page(
            request, ctx, "login.html", session, status_code=status_code, email=email, error=error
        )

    if session is None or not tokens_match(session.csrf, csrf_token):
        return again(403, EXPIRED)
    try:
        pair = await ctx.gateway.login(
            email=email.strip(), password=password, client=browser_address(request)
        )
    except GatewayError as exc:
        return again(page_status(exc), friendly(exc, logging_in=True))
    except GatewayUnavailable:
        return again(503, UNAVAILABLE)
    return _logged_in(ctx, pair)


@router.post("/register")
async def register(
    request: Request,
    ctx: Ctx,
    session: MaybeSession,
    name: FormField = "",
    email: FormField = "",
    password: FormField = "",
    password_confirm: FormField = "",
    csrf_token: FormField = "",
) -> Response:
    def again(status_code: int, error: str) -> Response:
        return render_page(
            request,
            ctx,
            "register.html",
            session,
            status_code=status_code,
            name=name,
            email=email,
            error=error,
        )

    if session is None or not tokens_match(session.csrf, csrf_token):
        return again(403, EXPIRED)
    if password != password_confirm:
        return again(422, "The passwords do not match.")
    try:
        await ctx.gateway.register(
            name=name.strip(),
            email=email.strip(),
            password=password,
            client=browser_address(request),
        )
        pair = await ctx.gateway.login(
            email=email.strip(), password=password, client=browser_address(request)
        )
    except GatewayError as exc:
        return again(page_status(exc), friendly(exc, logging_in=False))
    except GatewayUnavailable:
        return again(503, UNAVAILABLE)
    return _logged_in(ctx, pair)


@router.get("/logout")
async def logout_page(request: Request, ctx: Ctx, session: MaybeSession) -> Response:
    """A link to log out only asks: logging out is a POST with the form's CSRF token."""
    if session is None or not session.logged_in:
        return RedirectResponse("/web/", status_code=303)
    return render_page(request, ctx, "logout.html", session)


@router.post("/logout")
async def logout(
    request: Request, ctx: Ctx, session: MaybeSession, csrf_token: FormField = ""
) -> Response:
    if session is not None and session.logged_in and not tokens_match(session.csrf, csrf_token):
        # A form from elsewhere must not log the user out: ask first.
        return render_page(request, ctx, "logout.html", session, status_code=403)
    if session is not None and session.access_token:
        await _revoke(ctx, session, client=browser_address(request))
    return signed_out(ctx)


async def _revoke(ctx: WebContext, session: WebSession, *, client: str | None) -> None:
    """Best effort: the cookie goes whatever the gateway says."""
    assert session.access_token is not None
    try:
        reply = await ctx.gateway.logout(session.access_token, refresh_token=session.refresh_token)
        if reply.status_code == 401 and session.refresh_token:
            # An expired access token: rotate once, so the refresh token that is
            # revoked is the live one.
            pair = await ctx.refresher.refresh(session.refresh_token, client=client)
            await ctx.gateway.logout(pair.access_token, refresh_token=pair.refresh_token)
    except (GatewayError, GatewayUnavailable) as exc:
        log.info("logout at the gateway failed", error=str(exc))
