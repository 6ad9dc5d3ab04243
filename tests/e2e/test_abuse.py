"""Requests an attacker sends on purpose: operator injection, wildcards and traversal in
ids, hostile encodings and nesting, other users' runs, and races meant to get more
than one of something. Each gets a clear 4xx (or exactly one winner), never a 500, and
changes nothing it should not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import nats
import pytest
from nats.js.errors import InvalidKeyError, KeyNotFoundError

from llmsvc.common.run_cancels import BUCKET as CANCELS_BUCKET
from tests.support.api import (
    PASSWORD,
    assert_error_body,
    history,
    new_session,
    register_and_login,
    stream_turn,
)
from tests.support.infra import Infra
from tests.support.procs import Proc
from tests.support.sse import collect_sse
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

OPERATORS: list[Any] = [{"$gt": ""}, {"$ne": None}, {"$where": "1"}, ["$gt", ""]]
#: Runs at once per user; the other quotas are out of the way of these tests.
ACTIVE_RUNS = 4


@pytest.fixture(scope="module")
async def stack(
    infra: Infra, mockllm: Proc, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    from tests.e2e.conftest import e2e_stack

    limits = {
        "MAX_ACTIVE_RUNS_PER_USER": str(ACTIVE_RUNS),
        "RUNS_PER_MINUTE_PER_USER": "10000",
        "CONVERSATIONS_PER_HOUR_PER_USER": "10000",
    }
    async with e2e_stack(infra, mockllm, tmp_path_factory, extra_env=limits) as s:
        yield s


@pytest.fixture(scope="module")
async def alice(stack: Stack) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        return await register_and_login(api, "alice-abuse@example.com")


@pytest.fixture(scope="module")
async def mallory(stack: Stack) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        return await register_and_login(api, "mallory-abuse@example.com")


async def cancel_recorded(stack: Stack, run_id: str) -> bool:
    nc = await nats.connect(stack.env["NATS_URL"], **stack.nats_identity().connect_options())
    try:
        kv = await nc.jetstream().key_value(CANCELS_BUCKET)
        try:
            await kv.get(run_id)
        except (KeyNotFoundError, InvalidKeyError):
            return False
        return True
    finally:
        await nc.close()


async def test_operator_injection_in_every_field_is_refused(
    stack: Stack, alice: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        sid = await new_session(api, alice)
        for op in OPERATORS:
            cases: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
                ("POST", "/auth/login", {"email": op, "password": op}, {}),
                ("POST", "/auth/login", {"email": "alice-abuse@example.com", "password": op}, {}),
                (
                    "POST",
                    "/auth/register",
                    {"name": op, "email": "x@example.com", "password": PASSWORD},
                    {},
                ),
                ("POST", "/auth/register", {"name": "x", "email": op, "password": op}, {}),
                ("POST", "/auth/refresh", {"refresh_token": op}, {}),
                ("POST", "/conversation", {"message": op}, alice),
                ("POST", "/conversation", {"message": "hi", "session_id": op}, alice),
                (
                    "POST",
                    "/conversation",
                    {"message": "hi", "edit_message_id": op, "session_id": sid},
                    alice,
                ),
                ("POST", "/conversation/session", {"name": op}, alice),
                ("PATCH", f"/conversation/session/{sid}", {"name": op}, alice),
                ("PATCH", f"/conversation/session/{sid}", {"instructions": op}, alice),
                (
                    "POST",
                    "/v1/chat/completions",
                    {"model": op, "messages": [{"role": "user", "content": "hi"}]},
                    alice,
                ),
            ]
            for method, path, body, headers in cases:
                r = await api.request(method, path, json=body, headers=headers)
                try:
                    assert r.status_code in (400, 401, 422), r.text
                    assert "Traceback" not in r.text
                except AssertionError as exc:
                    raise AssertionError(f"{method} {path} {body}: {exc}") from exc
        # Nothing was created or changed by any of it.
        r = await api.get("/conversation/sessions", headers=alice)
        assert [s["session_id"] for s in r.json()["sessions"]] == [sid]
        r = await api.post("/auth/login", json={"email": "x@example.com", "password": PASSWORD})
        assert r.status_code == 401


@pytest.mark.parametrize(
    "run_id",
    ["*", ">", "a.b", "a.*", "..", "%2e%2e%2f%2e%2e", "$JS.API.INFO", "x" * 300, "a%20b", "ü"],
)
async def test_wildcards_and_traversal_in_ids_are_refused(
    stack: Stack, alice: dict[str, str], run_id: str
) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        for method, path in [
            ("GET", f"/conversation/runs/{run_id}/events"),
            ("POST", f"/conversation/runs/{run_id}/cancel"),
            ("GET", f"/conversation/session/{run_id}"),
            ("GET", f"/conversation/session/{run_id}/history"),
            ("DELETE", f"/conversation/session/{run_id}"),
            ("POST", f"/conversation/session/{run_id}/regenerate"),
        ]:
            r = await api.request(method, path, headers=alice)
            # (`..` is resolved by the client, to a route that exists or not.)
            assert r.status_code in (404, 405, 422), (method, path, r.status_code, r.text)
            assert "Traceback" not in r.text
        assert not await cancel_recorded(stack, run_id)


async def test_hostile_bodies_get_a_clear_4xx(stack: Stack, alice: dict[str, str]) -> None:
    deep = b"[" * 50_000 + b"]" * 50_000
    deep_object = b'{"message": ' + b'{"a":' * 5_000 + b"1" + b"}" * 5_000 + b"}"
    json_headers = {**alice, "content-type": "application/json"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        for path in ("/conversation", "/auth/login", "/conversation/session"):
            for body in (deep, deep_object, b'{"message": "\xff\xfe bad utf-8"}', b"\x00" * 64):
                r = await api.post(path, content=body, headers=json_headers)
                assert 400 <= r.status_code < 500, (path, body[:20], r.status_code, r.text)
                assert_error_body(r, r.status_code)
        # The longest message allowed is taken; one more character is a 422.
        sid = await new_session(api, alice)
        events = await stream_turn(api, alice, sid, "x" * 32_000)
        assert events[-1].event == "done"
        r = await api.post(
            "/conversation", json={"message": "x" * 32_001, "session_id": sid}, headers=alice
        )
        assert_error_body(r, 422, "validation_error")


async def test_header_injection_in_names_stays_data(stack: Stack) -> None:
    name = "Eve\r\nSet-Cookie: stolen=1\r\nX-Injected: yes"
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        r = await api.post(
            "/auth/register",
            json={"name": name, "email": "eve-abuse@example.com", "password": PASSWORD},
        )
        if r.status_code == 201:
            login = await api.post(
                "/auth/login", json={"email": "eve-abuse@example.com", "password": PASSWORD}
            )
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            for response in (r, login, await api.get("/auth/me", headers=headers)):
                assert "x-injected" not in response.headers
                assert "stolen" not in response.headers.get("set-cookie", "")
        else:
            assert_error_body(r, 422)
        # (CR and LF cannot be sent in a header at all: HTTP clients and servers refuse.)


async def test_cancel_of_a_missing_or_foreign_run_is_404_and_records_nothing(
    stack: Stack, alice: dict[str, str], mallory: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as api:
        missing = "0123456789abcdef0123456789abcdef"
        r = await api.post(f"/conversation/runs/{missing}/cancel", headers=alice)
        assert_error_body(r, 404, "run_not_found")
        assert not await cancel_recorded(stack, missing)

        sid = await new_session(api, alice)
        async with api.stream(
            "POST",
            "/conversation",
            json={"message": "mine [mock:tps=20] [mock:tokens=30]", "session_id": sid},
            headers=alice,
        ) as r:
            events: list[str] = []
            async for line in r.aiter_lines():
                if line.startswith("data:") and '"run_id"' in line and not events:
                    run_id = line.split('"run_id":"')[1].split('"')[0]
                    c = await api.post(f"/conversation/runs/{run_id}/cancel", headers=mallory)
                    assert_error_body(c, 404, "run_not_found")
                    f = await api.get(f"/conversation/runs/{run_id}/events", headers=mallory)
                    assert_error_body(f, 404, "run_not_found")
                    events.append(run_id)
                if line.startswith("event: "):
                    events.append(line[7:])
        assert events[-1] == "done", events  # Mallory's cancel did not stop it
        assert not await cancel_recorded(stack, events[0])
        # A finished run: still 404 for someone else.
        r = await api.post(f"/conversation/runs/{events[0]}/cancel", headers=mallory)
        assert_error_body(r, 404, "run_not_found")


async def test_parallel_streams_of_one_user_are_capped_by_the_quota(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as api:
        headers = await register_and_login(api, "many-streams@example.com")

        async def one(n: int) -> tuple[int, list[str]]:
            async with api.stream(
                "POST",
                "/conversation",
                json={"message": f"stream {n} [mock:tps=20] [mock:tokens=20]"},
                headers=headers,
            ) as r:
                if r.status_code != 200:
                    await r.aread()
                    assert r.status_code != 429 or r.headers.get("retry-after"), r.headers
                    return r.status_code, []
                return 200, [e.event for e in await collect_sse(r)]

        results = await asyncio.gather(*(one(n) for n in range(16)))
    statuses = sorted(status for status, _ in results)
    # Runs at once per user: every other stream is told to wait.
    assert statuses.count(200) == ACTIVE_RUNS, statuses
    assert set(statuses) == {200, 429}, statuses
    assert all(kinds[-1] == "done" for status, kinds in results if status == 200)


async def test_parallel_registrations_of_one_email_have_one_winner(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as api:
        body = {"name": "Twin", "email": "twin-abuse@example.com", "password": PASSWORD}
        results = await asyncio.gather(*(api.post("/auth/register", json=body) for _ in range(12)))
        statuses = sorted(r.status_code for r in results)
        assert statuses == [201] + [409] * 11, statuses
        for r in results:
            if r.status_code == 409:
                assert_error_body(r, 409)
        r = await api.post("/auth/login", json={"email": body["email"], "password": PASSWORD})
        assert r.status_code == 200


async def test_parallel_messages_to_one_conversation_start_one_run(
    stack: Stack, alice: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as api:
        sid = await new_session(api, alice)

        async def one(n: int) -> tuple[int, list[str]]:
            async with api.stream(
                "POST",
                "/conversation",
                json={"message": f"racer {n} [mock:tps=20] [mock:tokens=20]", "session_id": sid},
                headers=alice,
            ) as r:
                if r.status_code != 200:
                    await r.aread()
                    return r.status_code, [r.json()["error"]["code"]]
                return 200, [e.event for e in await collect_sse(r)]

        results = await asyncio.gather(*(one(n) for n in range(12)))
        statuses = sorted(status for status, _ in results)
        assert statuses == [200] + [409] * 11, statuses
        assert {tuple(k) for s, k in results if s == 409} == {("run_active",)}
        messages = await history(api, alice, sid)
        assert [m["role"] for m in messages] == ["user", "assistant"]
