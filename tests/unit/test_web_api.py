"""The JSON API the chat page calls: relayed to the gateway with the bearer token,
CSRF-checked, refreshed once on 401, SSE passed through byte for byte."""

from __future__ import annotations

import asyncio

import pytest

from llmsvc.web.session_cookie import SessionCookies, WebSession
from tests.unit.web_standin import SSE_BYTES, Browser, browser

pytestmark = pytest.mark.unit


def session_of(web: Browser) -> WebSession:
    cookies = SessionCookies(secret=web.settings.session_secret, secure=False, max_age_s=3600)
    return WebSession.model_validate(cookies.serializer.loads(web.client.cookies[cookies.name]))


async def test_chat_relays_sse_bytes_unchanged() -> None:
    async with browser() as web:
        await web.login()
        headers = await web.api_headers()
        body = {"message": "Hi there", "session_id": "s1"}
        async with web.client.stream("POST", "/web/api/chat", json=body, headers=headers) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            assert r.headers["cache-control"] == "no-cache"
            assert r.headers["x-accel-buffering"] == "no"
            received = b"".join([chunk async for chunk in r.aiter_raw()])
        assert received == SSE_BYTES
        assert web.gateway.chat_requests == [
            {"message": "Hi there", "session_id": "s1", "stream": True}
        ]
        assert web.gateway.seen_tokens[-1] == "acc-1"


async def test_chat_without_session_id_lets_the_gateway_create_one() -> None:
    async with browser() as web:
        await web.login()
        body = {"message": "Hi", "session_id": None}
        response = await web.client.post(
            "/web/api/chat", json=body, headers=await web.api_headers()
        )
        assert response.status_code == 200
        assert web.gateway.chat_requests == [{"message": "Hi", "stream": True}]


async def test_run_active_conflict_passes_through() -> None:
    async with browser() as web:
        await web.login()
        web.gateway.active_run = "run0"
        response = await web.client.post(
            "/web/api/chat", json={"message": "again"}, headers=await web.api_headers()
        )
        assert response.status_code == 409
        assert response.json()["error"] == {
            "code": "run_active",
            "message": "a run is active",
            "run_id": "run0",
        }


async def test_resume_passes_last_event_id() -> None:
    async with browser() as web:
        await web.login()
        headers = {"Last-Event-ID": "2"}
        response = await web.client.get("/web/api/runs/run1/events", headers=headers)
        assert response.status_code == 200
        assert web.gateway.last_event_ids == ["2"]
        assert b'"text": "Hel"' not in response.content
        assert b"event: done" in response.content


async def test_session_crud_and_cancel_are_relayed() -> None:
    async with browser() as web:
        await web.login()
        headers = await web.api_headers()
        listed = await web.client.get("/web/api/sessions")
        assert listed.status_code == 200
        assert listed.json()["sessions"][0]["session_id"] == "s1"
        created = await web.client.post(
            "/web/api/sessions", json={"name": "Plans"}, headers=headers
        )
        assert created.status_code == 201
        assert created.json()["name"] == "Plans"
        deleted = await web.client.delete("/web/api/sessions/s1", headers=headers)
        assert deleted.status_code == 204
        missing = await web.client.delete("/web/api/sessions/nope", headers=headers)
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        cancelled = await web.client.post("/web/api/runs/run1/cancel", headers=headers)
        assert cancelled.status_code == 202


async def test_unsafe_methods_without_csrf_header_are_forbidden() -> None:
    async with browser() as web:
        await web.login()
        calls = len(web.gateway.seen_tokens)
        for method, url in [
            ("POST", "/web/api/sessions"),
            ("PATCH", "/web/api/sessions/s1"),
            ("DELETE", "/web/api/sessions/s1"),
            ("POST", "/web/api/chat"),
            ("POST", "/web/api/runs/run1/cancel"),
        ]:
            missing = await web.client.request(method, url, json={"message": "x", "name": "y"})
            assert missing.status_code == 403, (method, url)
            assert missing.json()["error"]["code"] == "csrf_failed"
            wrong = await web.client.request(
                method, url, json={"message": "x"}, headers={"X-CSRF-Token": "forged"}
            )
            assert wrong.status_code == 403
        assert len(web.gateway.seen_tokens) == calls  # nothing reached the gateway


async def test_api_without_login_is_401_json() -> None:
    async with browser() as web:
        response = await web.client.get("/web/api/sessions")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_logged_in"


async def test_expired_access_token_is_refreshed_once_and_retried() -> None:
    async with browser() as web:
        await web.login()
        web.gateway.expire_access_tokens()
        response = await web.client.get("/web/api/sessions")
        assert response.status_code == 200
        assert web.gateway.refresh_calls == 1
        assert web.gateway.refresh_forwarded_for == ["127.0.0.1"]  # the browser's address
        assert web.gateway.seen_tokens[-2:] == ["acc-1", "acc-2"]
        assert "set-cookie" in response.headers
        session = session_of(web)
        assert (session.access_token, session.refresh_token) == ("acc-2", "ref-2")
        assert session.user_name == "Ada"  # the rest of the session is kept

        again = await web.client.get("/web/api/sessions")
        assert again.status_code == 200
        assert web.gateway.refresh_calls == 1


async def test_chat_stream_refreshes_too() -> None:
    async with browser() as web:
        await web.login()
        headers = await web.api_headers()
        web.gateway.expire_access_tokens()
        response = await web.client.post("/web/api/chat", json={"message": "Hi"}, headers=headers)
        assert response.status_code == 200
        assert response.content == SSE_BYTES
        assert web.gateway.refresh_calls == 1
        assert session_of(web).access_token == "acc-2"


async def test_concurrent_requests_share_one_refresh() -> None:
    async with browser() as web:
        await web.login()
        web.gateway.expire_access_tokens()
        responses = await asyncio.gather(*(web.client.get("/web/api/sessions") for _ in range(4)))
        assert [r.status_code for r in responses] == [200] * 4
        # a second refresh with the rotated token would be refused as reuse
        assert web.gateway.refresh_calls == 1


async def test_failed_refresh_logs_out() -> None:
    async with browser() as web:
        await web.login()
        web.gateway.expire_access_tokens()
        web.gateway.valid_refresh.clear()
        response = await web.client.get("/web/api/sessions")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "session_expired"
        assert "Max-Age=0" in response.headers["set-cookie"]
        assert web.gateway.refresh_calls == 1
        assert (await web.client.get("/web/chat")).status_code == 303


async def test_ids_are_checked_before_they_reach_a_gateway_path() -> None:
    async with browser() as web:
        await web.login()
        calls = len(web.gateway.seen_tokens)
        for url in ("/web/api/sessions/..%2Fauth/history", "/web/api/runs/a.b/events"):
            response = await web.client.get(url)
            assert response.status_code in (404, 422), url
            assert "error" in response.json()
        assert len(web.gateway.seen_tokens) == calls


async def test_invalid_body_is_422_in_gateway_error_shape() -> None:
    async with browser() as web:
        await web.login()
        response = await web.client.post(
            "/web/api/chat", json={"message": ""}, headers=await web.api_headers()
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "validation_error"
