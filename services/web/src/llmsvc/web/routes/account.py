"""The account page and its forms: change the password, log out everywhere, API keys
(create, shown once; revoke). Plain HTML forms with the CSRF token, no JavaScript needed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from starlette.responses import RedirectResponse, Response

from llmsvc.web.auth_flow import GatewayCall, Upstream, call_with_refresh
from llmsvc.web.context import WebContext
from llmsvc.web.csrf import tokens_match
from llmsvc.web.deps import Ctx, MaybeSession, browser_address
from llmsvc.web.errors import SessionExpired
from llmsvc.web.forms import EXPIRED, UNAVAILABLE, friendly, page_status, signed_out
from llmsvc.web.gateway_client import GatewayError, GatewayUnavailable
from llmsvc.web.rendering import render_page
from llmsvc.web.session_cookie import WebSession

__all__ = ["router"]

router = APIRouter(prefix="/web/account")

FormField = Annotated[str, Form()]
KeyId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


@dataclass(frozen=True)
class Outcome:
    """What a form action did, shown on the account page it answers with."""

    status_code: int = 200
    error: str | None = None
    notice: str | None = None
    new_key: dict[str, Any] | None = None


async def account_page(
    request: Request,
    ctx: WebContext,
    session: WebSession,
    outcome: Outcome | None = None,
    *,
    session_changed: bool = False,
) -> Response:
    """The page, with the user's API keys as the gateway lists them now.
    `session_changed`: `session` has new tokens that the cookie must take."""
    outcome = outcome or Outcome()
    keys: list[dict[str, Any]] = []
    keys_error = None
    upstream: Upstream | None = None
    try:
        upstream = await call_with_refresh(
            ctx.refresher, session, ctx.gateway.api_keys, client=browser_address(request)
        )
        if upstream.response.is_success:
            keys = list(upstream.response.json().get("api_keys", []))
        else:
            keys_error = (await GatewayError.from_response(upstream.response)).message
    except GatewayUnavailable:
        keys_error = UNAVAILABLE
    current = upstream.session if upstream else session
    response = render_page(
        request,
        ctx,
        "account.html",
        current,
        status_code=outcome.status_code,
        keys=keys,
        keys_error=keys_error,
        error=outcome.error,
        notice=outcome.notice,
        new_key=outcome.new_key,
    )
    if session_changed or (upstream is not None and upstream.refreshed):
        ctx.cookies.save(response, current)
    return response


async def _call(
    request: Request, ctx: WebContext, session: WebSession, csrf_token: str, call: GatewayCall
) -> Upstream | Outcome:
    """The gateway's answer to a form, or what to tell the user when there is none."""
    if not tokens_match(session.csrf, csrf_token):
        return Outcome(403, error=EXPIRED)
    try:
        upstream = await call_with_refresh(
            ctx.refresher, session, call, client=browser_address(request)
        )
    except GatewayUnavailable:
        return Outcome(503, error=UNAVAILABLE)
    await upstream.response.aread()
    if not upstream.response.is_success:
        exc = await GatewayError.from_response(upstream.response)
        if exc.code == "invalid_credentials":
            return Outcome(422, error="The current password is not right.")
        return Outcome(page_status(exc), error=friendly(exc, logging_in=False))
    return upstream


async def _answer(
    request: Request,
    ctx: WebContext,
    session: WebSession,
    result: Upstream | Outcome,
    done: Outcome,
) -> Response:
    if isinstance(result, Outcome):
        return await account_page(request, ctx, session, result)
    return await account_page(request, ctx, result.session, done, session_changed=result.refreshed)


def _signed_in(session: WebSession | None) -> WebSession | None:
    return session if session is not None and session.logged_in else None


@router.get("")
async def account(request: Request, ctx: Ctx, session: MaybeSession) -> Response:
    if (user := _signed_in(session)) is None:
        return RedirectResponse("/web/login", status_code=303)
    return await account_page(request, ctx, user)


@router.post("/password")
async def change_password(
    request: Request,
    ctx: Ctx,
    session: MaybeSession,
    current_password: FormField = "",
    new_password: FormField = "",
    new_password_confirm: FormField = "",
    csrf_token: FormField = "",
) -> Response:
    """Every other login ends; this browser stays signed in."""
    if (user := _signed_in(session)) is None:
        return RedirectResponse("/web/login", status_code=303)
    if new_password != new_password_confirm:
        return await account_page(
            request, ctx, user, Outcome(422, error="The new passwords do not match.")
        )
    result = await _call(
        request,
        ctx,
        user,
        csrf_token,
        lambda token: ctx.gateway.change_password(
            token, current_password=current_password, new_password=new_password
        ),
    )
    done = Outcome(notice="Your password is changed. Your other logins have ended.")
    return await _answer(request, ctx, user, result, done)


@router.post("/logout-all")
async def logout_everywhere(
    request: Request, ctx: Ctx, session: MaybeSession, csrf_token: FormField = ""
) -> Response:
    """End every login of the user: other browsers, other devices, and this one."""
    if (user := _signed_in(session)) is None:
        return RedirectResponse("/web/login", status_code=303)
    try:
        result = await _call(request, ctx, user, csrf_token, ctx.gateway.logout_all)
    except SessionExpired:
        return signed_out(ctx)
    if isinstance(result, Outcome):
        return await account_page(request, ctx, user, result)
    return signed_out(ctx)


@router.post("/api-keys")
async def create_api_key(
    request: Request,
    ctx: Ctx,
    session: MaybeSession,
    name: FormField = "",
    expires_in_days: FormField = "",
    csrf_token: FormField = "",
) -> Response:
    """A new key, shown on the page that answers (and never again)."""
    if (user := _signed_in(session)) is None:
        return RedirectResponse("/web/login", status_code=303)
    days = int(expires_in_days) if expires_in_days.strip().isdigit() else None
    result = await _call(
        request,
        ctx,
        user,
        csrf_token,
        lambda token: ctx.gateway.create_api_key(token, name=name.strip(), expires_in_days=days),
    )
    new_key = None if isinstance(result, Outcome) else result.response.json()
    done = Outcome(201, new_key=new_key)
    return await _answer(request, ctx, user, result, done)


@router.post("/api-keys/{key_id}/revoke")
async def revoke_api_key(
    request: Request, ctx: Ctx, session: MaybeSession, key_id: KeyId, csrf_token: FormField = ""
) -> Response:
    if (user := _signed_in(session)) is None:
        return RedirectResponse("/web/login", status_code=303)
    result = await _call(
        request, ctx, user, csrf_token, lambda token: ctx.gateway.revoke_api_key(token, key_id)
    )
    return await _answer(request, ctx, user, result, Outcome(notice="The key is revoked."))
