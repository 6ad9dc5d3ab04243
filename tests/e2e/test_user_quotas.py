"""Per-user quotas as a heavy user meets them, on two gateways: runs at once, runs a
minute, model tokens a day and new conversations an hour each end in 429 with
`Retry-After`, and nothing already running is disturbed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import openai
import pytest

from tests.e2e.conftest import e2e_stack
from tests.support.api import new_session, register_and_login, stream_turn
from tests.support.infra import Infra
from tests.support.procs import Proc
from tests.support.sse import SseEvent, collect_sse
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

LIMITS = {
    "MAX_ACTIVE_RUNS_PER_USER": "2",
    "RUNS_PER_MINUTE_PER_USER": "5",
    "TOKENS_PER_DAY_PER_USER": "1500",
    "CONVERSATIONS_PER_HOUR_PER_USER": "4",
}


@pytest.fixture(scope="module")
async def stack(
    infra: Infra, mockllm: Proc, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    async with e2e_stack(infra, mockllm, tmp_path_factory, LIMITS) as s:
        yield s


@pytest.fixture
async def gateways(stack: Stack, second_gateway: Proc) -> AsyncIterator[list[httpx.AsyncClient]]:
    urls = [stack.gateway_url, f"http://127.0.0.1:{second_gateway.port}"]
    async with (
        httpx.AsyncClient(base_url=urls[0], timeout=60) as first,
        httpx.AsyncClient(base_url=urls[1], timeout=60) as second,
    ):
        yield [first, second]


async def new_user(api: httpx.AsyncClient) -> dict[str, str]:
    return await register_and_login(api, f"quota-{uuid.uuid4().hex[:10]}@example.com")


def assert_limited(r: httpx.Response, *, at_most_s: int) -> None:
    assert r.status_code == 429, r.text
    retry = int(r.headers["retry-after"])
    assert 1 <= retry <= at_most_s
    error = r.json()["error"]
    assert error["code"] == "rate_limited" and error["retry_after_s"] == retry


async def test_runs_at_once_are_limited_and_the_running_ones_finish(
    gateways: list[httpx.AsyncClient],
) -> None:
    api, api2 = gateways
    user = await new_user(api)
    sessions = [await new_session(api, user) for _ in range(3)]
    slow = [
        asyncio.create_task(stream_turn(gw, user, s, "take your time [mock:ttft=3000]"))
        for gw, s in zip(gateways, sessions[:2], strict=True)
    ]
    await asyncio.sleep(1.0)  # both started
    for gw in gateways:
        r = await gw.post(
            "/conversation", json={"message": "one more", "session_id": sessions[2]}, headers=user
        )
        assert_limited(r, at_most_s=10)
    finished = await asyncio.gather(*slow)
    assert [events[-1].event for events in finished] == ["done", "done"]
    # With the others done, the same message goes through.
    events = await stream_turn(api2, user, sessions[2], "one more")
    assert events[-1].event == "done"


async def test_runs_a_minute_are_limited_across_gateways(
    gateways: list[httpx.AsyncClient],
) -> None:
    user = await new_user(gateways[0])
    session_id = await new_session(gateways[0], user)
    for i in range(5):
        events = await stream_turn(gateways[i % 2], user, session_id, f"quick {i}")
        assert events[-1].event == "done"
    for gw in gateways:
        r = await gw.post(
            "/conversation", json={"message": "sixth", "session_id": session_id}, headers=user
        )
        assert_limited(r, at_most_s=61)
    # Another user is not affected.
    other = await new_user(gateways[1])
    events = await stream_turn(gateways[1], other, await new_session(gateways[1], other), "hi")
    assert events[-1].event == "done"


async def test_model_tokens_a_day_are_limited_by_what_runs_used(
    gateways: list[httpx.AsyncClient],
) -> None:
    api, api2 = gateways
    user = await new_user(api)
    session_id = await new_session(api, user)
    events = await stream_turn(api, user, session_id, "a long one [mock:tokens=2000]")
    assert events[-1].event == "done"
    usage = events[-1].data["usage"]
    assert usage["output_tokens"] >= 2000
    r = await api2.post(
        "/conversation", json={"message": "more", "session_id": session_id}, headers=user
    )
    assert_limited(r, at_most_s=86_401)
    assert "token" in r.json()["error"]["message"]


async def test_new_conversations_an_hour_are_limited_for_tokens_and_api_keys_alike(
    gateways: list[httpx.AsyncClient],
) -> None:
    api, api2 = gateways
    user = await new_user(api)
    r = await api.post("/auth/api-keys", json={"name": "script"}, headers=user)
    as_key = {"Authorization": f"Bearer {r.json()['key']}"}
    for headers in (user, as_key, user):
        await new_session(api, headers)
    events = await stream_turn_new(api2, as_key, "a fourth, started by its first message")
    assert events[-1].event == "done"
    assert_limited(await api.post("/conversation/session", json={}, headers=user), at_most_s=3601)
    r = await api2.post("/conversation", json={"message": "a fifth"}, headers=as_key)
    assert_limited(r, at_most_s=3601)


async def stream_turn_new(
    api: httpx.AsyncClient, headers: dict[str, str], message: str
) -> list[SseEvent]:
    """A turn that starts a new conversation."""
    async with api.stream("POST", "/conversation", json={"message": message}, headers=headers) as r:
        assert r.status_code == 200, await r.aread()
        return await collect_sse(r)


async def test_the_openai_api_meets_the_same_quotas_as_a_rate_limit_error(
    stack: Stack, gateways: list[httpx.AsyncClient]
) -> None:
    api = gateways[0]
    user = await new_user(api)
    token = user["Authorization"].removeprefix("Bearer ")
    sdk = openai.AsyncOpenAI(base_url=f"{stack.gateway_url}/v1", api_key=token, max_retries=0)
    slow = [{"role": "user", "content": f"take your time {n} [mock:ttft=3000]"} for n in range(2)]
    running = [
        asyncio.create_task(sdk.chat.completions.create(model="mock-model", messages=[m]))  # type: ignore[list-item]
        for m in slow
    ]
    await asyncio.sleep(1.0)  # both started (stateless: no conversation of their own)
    with pytest.raises(openai.RateLimitError) as limited:
        await sdk.chat.completions.create(
            model="mock-model", messages=[{"role": "user", "content": "one more"}]
        )
    assert limited.value.code == "rate_limited" and limited.value.type == "rate_limit_error"
    assert 1 <= int(limited.value.response.headers["retry-after"]) <= 10
    replies = await asyncio.gather(*running)
    assert [r.choices[0].finish_reason for r in replies] == ["stop", "stop"]
