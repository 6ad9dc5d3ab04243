"""A stand-in gateway for the web's unit tests: a tiny FastAPI app speaking the
docs/design.md §4 contract, reached through httpx.ASGITransport (no network), plus a harness
that runs the web app's lifespan and drives it the way a browser would."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Header, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from llmsvc.web.app import create_app
from llmsvc.web.settings import WebSettings

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"

SSE_EVENTS = [
    b'id: 1\nevent: metadata\ndata: {"run_id": "run1", "session_id": "s1", "thread_id": "t1"}\n\n',
    b": ping\n\n",
    b'id: 2\nevent: token\ndata: {"text": "Hel"}\n\n',
    b'id: 3\nevent: token\ndata: {"text": "lo \\u00e9 <b>"}\n\n',
    b"id: 4\nevent: done\ndata: "
    b'{"message": {"id": "m1", "role": "assistant", "content": "Hello"}, '
    b'"usage": {"input_tokens": 3, "output_tokens": 2}, "finish_reason": "stop"}\n\n',
]
SSE_BYTES = b"".join(SSE_EVENTS)


def _event_id(event: bytes) -> int | None:
    first = event.split(b"\n", 1)[0]
    return int(first[4:]) if first.startswith(b"id: ") else None


def gateway_error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status)


@dataclass
class StandIn:
    """State the tests inspect and change: live tokens, calls seen."""

    valid_access: set[str] = field(default_factory=set)
    valid_refresh: set[str] = field(default_factory=set)
    users: dict[str, dict[str, str]] = field(
        default_factory=lambda: {EMAIL: {"user_id": "u1", "name": "Ada", "password": PASSWORD}}
    )
    issued: int = 0
    refresh_calls: int = 0
    #: The X-Forwarded-For of each refresh: the browser's address, for per-address limits.
    refresh_forwarded_for: list[str | None] = field(default_factory=list)
    logout_calls: list[dict[str, Any]] = field(default_factory=list)
    chat_requests: list[dict[str, Any]] = field(default_factory=list)
    seen_tokens: list[str] = field(default_factory=list)
    last_event_ids: list[str | None] = field(default_factory=list)
    active_run: str | None = None
    #: Account calls that reached the gateway: (path, body).
    account_calls: list[tuple[str, Any]] = field(default_factory=list)

    def issue(self, email: str) -> dict[str, Any]:
        self.issued += 1
        access, refresh = f"acc-{self.issued}", f"ref-{self.issued}"
        self.valid_access.add(access)
        self.valid_refresh.add(refresh)
        user = self.users[email]
        return {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": 900,
            "refresh_token": refresh,
            "user": {"user_id": user["user_id"], "name": user["name"], "email": email},
        }

    def bearer_ok(self, authorization: str | None) -> bool:
        token = (authorization or "").removeprefix("Bearer ")
        self.seen_tokens.append(token)
        return token in self.valid_access

    def expire_access_tokens(self) -> None:
        self.valid_access.clear()


def build_gateway(s: StandIn) -> FastAPI:
    app = FastAPI()
    expired = gateway_error(401, "token_expired", "access token expired")

    @app.post("/auth/register")
    async def register(body: dict[str, str]) -> Response:
        if body["email"] in s.users:
            return gateway_error(409, "email_taken", "email already registered")
        s.users[body["email"]] = {
            "user_id": "u2",
            "name": body["name"],
            "password": body["password"],
        }
        return JSONResponse({"user_id": "u2", "name": body["name"], "email": body["email"]}, 201)

    @app.post("/auth/login")
    async def login(body: dict[str, str]) -> Response:
        user = s.users.get(body["email"])
        if user is None or user["password"] != body["password"]:
            return gateway_error(401, "invalid_credentials", "invalid email or password")
        return JSONResponse(s.issue(body["email"]))

    @app.post("/auth/refresh")
    async def refresh(body: dict[str, str], request: Request) -> Response:
        s.refresh_calls += 1
        s.refresh_forwarded_for.append(request.headers.get("x-forwarded-for"))
        if body["refresh_token"] not in s.valid_refresh:
            return gateway_error(401, "invalid_refresh_token", "refresh token revoked")
        s.valid_refresh.discard(body["refresh_token"])  # rotation: the old one dies
        return JSONResponse(s.issue(EMAIL))

    @app.post("/auth/logout")
    async def logout(request: Request, authorization: str | None = Header(None)) -> Response:
        if not s.bearer_ok(authorization):
            return expired
        s.logout_calls.append(await request.json())
        return Response(status_code=204)

    @app.post("/auth/password")
    async def password(request: Request, authorization: str | None = Header(None)) -> Response:
        if not s.bearer_ok(authorization):
            return expired
        body = await request.json()
        s.account_calls.append(("/auth/password", body))
        if body["current_password"] != PASSWORD:
            return gateway_error(401, "invalid_credentials", "the current password is incorrect")
        return JSONResponse({"status": "changed"})

    @app.post("/auth/logout-all")
    async def logout_all(authorization: str | None = Header(None)) -> Response:
        if not s.bearer_ok(authorization):
            return expired
        s.account_calls.append(("/auth/logout-all", None))
        return JSONResponse({"status": "logged_out"})

    @app.get("/auth/api-keys")
    async def api_keys(authorization: str | None = Header(None)) -> Response:
        if not s.bearer_ok(authorization):
            return expired
        return JSONResponse({"api_keys": []})

    @app.post("/auth/api-keys")
    async def create_key(request: Request, authorization: str | None = Header(None)) -> Response:
        if not s.bearer_ok(authorization):
            return expired
        s.account_calls.append(("/auth/api-keys", await request.json()))
        return JSONResponse({"key_id": "k1", "name": "n", "prefix": "llms_ab", "key": "llms_x"})

    @app.get("/conversation/sessions")
    async def sessions(authorization: str | None = Header(None)) -> Response:
        if not s.bearer_ok(authorization):
            return expired
        session = {"session_id": "s1", "thread_id": "t1", "user_id": "u1", "name": "First"}
        return JSONResponse({"sessions": [session], "next_cursor": None})

    @app.post("/conversation/session")
    async def create(body: dict[str, Any], authorization: str | None = Header(None)) -> Response:
        if not s.bearer_ok(authorization):
            return expired
        return JSONResponse({"session_id": "s2", "name": body.get("name") or "New"}, 201)

    @app.delete("/conversation/session/{session_id}")
    async def delete(session_id: str, authorization: str | None = Header(None)) -> Response:
        if not s.bearer_ok(authorization):
            return expired
        if session_id != "s1":
            return gateway_error(404, "not_found", "no such session")
        return Response(status_code=204)

    @app.post("/conversation")
    async def conversation(request: Request, authorization: str | None = Header(None)) -> Response:
        if not s.bearer_ok(authorization):
            return expired
        s.chat_requests.append(await request.json())
        if s.active_run:
            return gateway_error(409, "run_active", "a run is active", run_id=s.active_run)

        async def events() -> AsyncIterator[bytes]:
            for chunk in SSE_EVENTS:
                yield chunk

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    @app.get("/conversation/runs/{run_id}/events")
    async def run_events(
        run_id: str,
        authorization: str | None = Header(None),
        last_event_id: str | None = Header(None),
    ) -> Response:
        if not s.bearer_ok(authorization):
            return expired
        s.last_event_ids.append(last_event_id)
        after = int(last_event_id or 0)
        kept = [e for e in SSE_EVENTS if _event_id(e) is None or (_event_id(e) or 0) > after]
        return Response(b"".join(kept), media_type="text/event-stream")

    @app.post("/conversation/runs/{run_id}/cancel")
    async def cancel(run_id: str, authorization: str | None = Header(None)) -> Response:
        if not s.bearer_ok(authorization):
            return expired
        return JSONResponse({"run_id": run_id, "status": "cancelling"}, 202)

    return app


def make_settings(**overrides: Any) -> WebSettings:
    values: dict[str, Any] = {"environment": "test", "session_secret": "t" * 40, **overrides}
    return WebSettings(**values)


@dataclass
class Browser:
    client: httpx.AsyncClient
    gateway: StandIn
    settings: WebSettings

    async def csrf(self, page: str = "/web/login") -> str:
        html = (await self.client.get(page)).text
        found = re.search(r'name="csrf-token" content="([^"]*)"', html)
        assert found, html
        return found.group(1)

    async def login(self, email: str = EMAIL, password: str = PASSWORD) -> httpx.Response:
        token = await self.csrf("/web/login")
        form = {"email": email, "password": password, "csrf_token": token}
        return await self.client.post("/web/auth/login", data=form)

    async def api_headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": await self.csrf("/web/chat")}


@asynccontextmanager
async def browser(
    gateway_transport: httpx.AsyncBaseTransport | None = None, **settings: Any
) -> AsyncIterator[Browser]:
    standin = StandIn()
    transport = gateway_transport or httpx.ASGITransport(app=build_gateway(standin))
    web_settings = make_settings(**settings)
    app = create_app(web_settings, gateway_transport=transport)
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
            scope["state"] = dict(state or {})  # what uvicorn does with lifespan state
            await app(scope, receive, send)

        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=with_state), base_url="http://testserver"
        ) as client:
            yield Browser(client, standin, web_settings)
