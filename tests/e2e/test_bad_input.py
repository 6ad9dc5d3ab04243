"""Bad input at every gateway endpoint: a clear 4xx with the documented error body, never a
500, a hang or a trace, and nothing already stored is lost."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.api import assert_error_body
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

VALID_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
async def user(stack: Stack) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        r = await api.post(
            "/auth/register",
            json={
                "name": "Bad Input",
                "email": "bad-input@example.com",
                "password": "long enough, truly",
            },
        )
        assert r.status_code == 201, r.text
        r = await api.post(
            "/auth/login", json={"email": "bad-input@example.com", "password": "long enough, truly"}
        )
        login = r.json()
        headers = {"Authorization": f"Bearer {login['access_token']}"}
        r = await api.post("/conversation/session", json={"name": "keep me"}, headers=headers)
        return {"headers": headers, "session": r.json(), "user": login["user"]}


UNAUTHENTICATED = [
    ("POST", "/auth/register", {"name": "x"}, 422),
    (
        "POST",
        "/auth/register",
        {"name": "x", "email": "not-an-email", "password": "long enough, truly"},
        422,
    ),
    ("POST", "/auth/register", {"name": "x", "email": "a@b.co", "password": "short"}, 422),
    (
        "POST",
        "/auth/register",
        {"name": "", "email": "a@b.co", "password": "long enough, truly"},
        422,
    ),
    ("POST", "/auth/register", {"name": "x", "email": "a@b.co", "password": "p" * 10_000}, 422),
    ("POST", "/auth/login", {"email": "bad-input@example.com"}, 422),
    ("POST", "/auth/login", {"email": "bad-input@example.com", "password": "wrong one"}, 401),
    ("POST", "/auth/login", {"email": "nobody@example.com", "password": "long enough, truly"}, 401),
    ("POST", "/auth/login", [1, 2, 3], 422),
    ("POST", "/auth/refresh", {}, 422),
    ("POST", "/auth/refresh", {"refresh_token": "not-a-token"}, 401),
    ("GET", "/auth/me", None, 401),
    ("POST", "/conversation", {"message": "hi"}, 401),
    ("GET", "/conversation/sessions", None, 401),
    ("GET", f"/conversation/session/{VALID_ID}", None, 401),
    ("GET", "/no/such/route", None, 404),
    ("PUT", "/auth/login", None, 405),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), UNAUTHENTICATED)
async def test_bad_requests_without_token(
    stack: Stack, user: dict[str, Any], method: str, path: str, body: Any, status: int
) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        r = await api.request(method, path, json=body)
    assert_error_body(r, status)
    if status == 422:
        assert r.json()["error"]["fields"], "a validation error names the offending fields"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer not.a.jwt"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."},
    ],
)
async def test_bad_tokens_are_401(stack: Stack, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        r = await api.get("/conversation/sessions", headers=headers)
    assert_error_body(r, 401)
    assert r.headers.get("www-authenticate", "").lower().startswith("bearer")


async def test_malformed_json_is_422(stack: Stack, user: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        for path in ("/auth/register", "/auth/login", "/conversation", "/conversation/session"):
            r = await api.post(
                path,
                content=b'{"message": "unterminated',
                headers={**user["headers"], "content-type": "application/json"},
            )
            assert_error_body(r, 422, "validation_error")


def authed_cases(session_id: str, user_id: str) -> list[tuple[str, str, Any, int, str | None]]:
    s = f"/conversation/session/{session_id}"
    return [
        ("POST", "/conversation", {}, 422, "validation_error"),
        ("POST", "/conversation", {"message": ""}, 422, "validation_error"),
        ("POST", "/conversation", {"message": "x" * 40_000}, 422, "validation_error"),
        ("POST", "/conversation", {"message": "hi", "session_id": "../../etc"}, 422, None),
        (
            "POST",
            "/conversation",
            {"message": "hi", "session_id": VALID_ID},
            404,
            "session_not_found",
        ),
        ("POST", "/conversation", {"message": "hi", "stream": "maybe"}, 422, None),
        ("POST", "/conversation", {"message": "hi", "unknown": 1}, 422, None),
        ("POST", "/conversation", {"message": 5}, 422, None),
        ("POST", "/conversation/session", {"name": ""}, 422, None),
        ("POST", "/conversation/session", {"name": "n" * 500}, 422, None),
        ("GET", f"/conversation/session/{VALID_ID}", None, 404, "session_not_found"),
        ("GET", "/conversation/session/bad id!", None, 422, None),
        ("PATCH", s, {}, 422, None),
        ("PATCH", s, {"name": "   "}, 422, None),
        ("PATCH", f"/conversation/session/{VALID_ID}", {"name": "x"}, 404, "session_not_found"),
        ("DELETE", f"/conversation/session/{VALID_ID}", None, 404, "session_not_found"),
        ("GET", f"{s}/history?limit=0", None, 422, None),
        ("GET", f"{s}/history?limit=abc", None, 422, None),
        ("GET", f"{s}/history?before=nope", None, 400, "invalid_cursor"),
        ("GET", "/conversation/sessions?limit=1000", None, 422, None),
        ("GET", "/conversation/sessions?cursor=%%%garbage", None, 400, "invalid_cursor"),
        ("GET", "/conversation/sessions/user/someone-else", None, 403, "forbidden"),
        ("GET", f"/conversation/sessions/user/{user_id}?limit=-1", None, 422, None),
        ("GET", f"/conversation/runs/{VALID_ID}/events", None, 404, "run_not_found"),
        ("GET", "/conversation/runs/bad.id/events", None, 422, None),
    ]


async def test_bad_requests_with_token_lose_nothing(stack: Stack, user: dict[str, Any]) -> None:
    session = user["session"]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        for method, path, body, status, code in authed_cases(
            session["session_id"], user["user"]["user_id"]
        ):
            r = await api.request(method, path, json=body, headers=user["headers"])
            try:
                assert_error_body(r, status, code)
            except AssertionError as exc:
                raise AssertionError(f"{method} {path} {body!r:.80}: {exc}") from exc
        r = await api.get(f"/conversation/session/{session['session_id']}", headers=user["headers"])
        assert r.status_code == 200 and r.json()["name"] == "keep me"
        r = await api.get("/conversation/sessions", headers=user["headers"])
        assert [s["session_id"] for s in r.json()["sessions"]] == [session["session_id"]]


async def test_second_message_while_a_run_is_active_is_409(
    stack: Stack, user: dict[str, Any]
) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        sid = (await api.post("/conversation/session", json={}, headers=user["headers"])).json()[
            "session_id"
        ]
        # A slow reply (mock directive) keeps the first run active while we send again.
        async with api.stream(
            "POST",
            "/conversation",
            json={"message": "slow [mock:tps=20] [mock:tokens=40]", "session_id": sid},
            headers=user["headers"],
        ) as first:
            assert first.status_code == 200
            lines = first.aiter_lines()
            run_id = None
            async for line in lines:
                if line.startswith("data:") and "run_id" in line:
                    import json

                    run_id = json.loads(line[5:])["run_id"]
                    break
            r = await api.post(
                "/conversation",
                json={"message": "again", "session_id": sid},
                headers=user["headers"],
            )
            assert_error_body(r, 409, "run_active")
            assert r.json()["error"]["run_id"] == run_id
            async for _ in lines:
                pass
        r = await api.post(
            "/conversation",
            json={"message": "after", "session_id": sid, "stream": False},
            headers=user["headers"],
        )
        assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("password", "name"),
    [
        ("password", "Eve"),
        ("12345678", "Eve"),
        ("qwertyuiop", "Eve"),
        ("evelyn-smith-2026", "Evelyn Smith"),
    ],
)
async def test_weak_passwords_are_refused_with_the_reason(
    stack: Stack, password: str, name: str
) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        r = await api.post(
            "/auth/register",
            json={"name": name, "email": "evelyn@example.com", "password": password},
        )
        assert_error_body(r, 422, "weak_password")
        [field] = r.json()["error"]["fields"]
        assert field["loc"] == ["body", "password"] and field["msg"]
        # Nothing was created: a good password registers the same email afterwards.
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        r = await api.post(
            "/auth/login", json={"email": "evelyn@example.com", "password": password}
        )
        assert_error_body(r, 401)


async def test_a_body_over_the_limit_is_413_and_tokens_are_not_cached(
    stack: Stack, user: dict[str, Any]
) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        huge = {"message": "x" * (1024 * 1024), "session_id": user["session"]["session_id"]}
        r = await api.post("/conversation", json=huge, headers=user["headers"])
        assert_error_body(r, 413, "payload_too_large")

        async def chunked() -> Any:
            for _ in range(300):
                yield b"x" * 1024

        r = await api.post(
            "/auth/login",
            content=chunked(),
            headers={"content-type": "application/json"},
        )
        assert_error_body(r, 413, "payload_too_large")
        # The conversation is untouched and the API still answers.
        r = await api.get(
            f"/conversation/session/{user['session']['session_id']}", headers=user["headers"]
        )
        assert r.status_code == 200

        r = await api.post(
            "/auth/login", json={"email": "bad-input@example.com", "password": "long enough, truly"}
        )
        assert r.status_code == 200
        assert r.headers["cache-control"] == "no-store"
