"""Small HTTP steps of a user through the gateway, shared by the end-to-end tests."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.sse import SseEvent, collect_sse

PASSWORD = "correct horse"


async def register_and_login(api: httpx.AsyncClient, email: str) -> dict[str, str]:
    r = await api.post("/auth/register", json={"name": "Ada", "email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    user = r.json()
    assert "password" not in str(user) and "hash" not in str(user)
    r = await api.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["refresh_token"] and body["expires_in"] > 0
    assert body["user"]["user_id"] == user["user_id"]
    return {"Authorization": f"Bearer {body['access_token']}"}


async def stream_turn(
    api: httpx.AsyncClient, headers: dict[str, str], session_id: str, message: str
) -> list[SseEvent]:
    async with api.stream(
        "POST",
        "/conversation",
        json={"message": message, "session_id": session_id},
        headers=headers,
    ) as r:
        assert r.status_code == 200, await r.aread()
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-cache"
        return await collect_sse(r)


async def new_session(api: httpx.AsyncClient, headers: dict[str, str]) -> str:
    r = await api.post("/conversation/session", json={}, headers=headers)
    assert r.status_code == 201, r.text
    return str(r.json()["session_id"])


async def history(api: httpx.AsyncClient, headers: dict[str, str], session_id: str) -> list[Any]:
    """The conversation's newest history page, oldest first."""
    r = await api.get(f"/conversation/session/{session_id}/history", headers=headers)
    assert r.status_code == 200, r.text
    messages: list[Any] = r.json()["messages"]
    return messages


def streamed_text(events: list[SseEvent]) -> str:
    """The text a client shows from a run's `token` events."""
    return "".join(e.data["text"] for e in events if e.event == "token")


def assert_error_body(r: httpx.Response, status: int, code: str | None = None) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in r.text
    if code is not None:
        assert body["error"]["code"] == code, body
