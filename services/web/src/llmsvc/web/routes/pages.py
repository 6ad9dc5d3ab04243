"""Server-rendered pages (docs/design.md §5) and health checks."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from llmsvc.web.deps import Ctx, MaybeSession
from llmsvc.web.rendering import render_page

__all__ = ["router"]

router = APIRouter()


@router.get("/", include_in_schema=False)
async def root() -> RedirectResponse:
    return RedirectResponse("/web/", status_code=307)


@router.get("/web/")
async def home(request: Request, ctx: Ctx, session: MaybeSession) -> Response:
    return render_page(request, ctx, "home.html", session)


@router.get("/web/login")
async def login_page(
    request: Request, ctx: Ctx, session: MaybeSession, signed_out: bool = False
) -> Response:
    if session is not None and session.logged_in:
        return RedirectResponse("/web/chat", status_code=303)
    notice = "You are logged out." if signed_out else None
    return render_page(request, ctx, "login.html", session, email="", notice=notice)


@router.get("/web/register")
async def register_page(request: Request, ctx: Ctx, session: MaybeSession) -> Response:
    if session is not None and session.logged_in:
        return RedirectResponse("/web/chat", status_code=303)
    return render_page(request, ctx, "register.html", session, name="", email="")


@router.get("/web/chat")
async def chat_page(request: Request, ctx: Ctx, session: MaybeSession) -> Response:
    if session is None or not session.logged_in:
        return RedirectResponse("/web/login", status_code=303)
    return render_page(request, ctx, "chat.html", session)


@router.get("/healthz", include_in_schema=False)
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz", include_in_schema=False)
async def readyz(ctx: Ctx) -> JSONResponse:
    if await ctx.gateway.healthz():
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "gateway unreachable"}, status_code=503)
