"""Processes die the way they do in production (kill -9, at random points) while users
talk; the history checker (`tests.support.checker`) then compares what every client
saw with what the service stored."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.api import new_session, register_and_login
from tests.support.checker import Client, Exchange, check, histories
from tests.support.infra import Infra
from tests.support.procs import Proc, free_port
from tests.support.sse import SseEvent
from tests.support.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.faults]


@pytest.fixture(scope="module")
async def stack(
    infra: Infra, mockllm: Proc, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    from tests.e2e.conftest import e2e_stack

    # A run may be hit by several of the kills: let it be tried until one attempt ends
    # (the default of 3 attempts would end it with `run_failed`, as designed).
    env = {"JOB_MAX_DELIVER": "20", "JOB_ACK_WAIT_S": "5"}
    async with e2e_stack(infra, mockllm, tmp_path_factory, extra_env=env) as s:
        s.add("worker-2", "llm-agent-worker")
        port = free_port()
        s.add("gateway-2", "llm-gateway", port=port, GATEWAY_PORT=str(port))
        yield s


def gateway_urls(stack: Stack) -> list[str]:
    return [stack.gateway_url, f"http://127.0.0.1:{stack.procs['gateway-2'].port}"]


async def users(stack: Stack, count: int, tag: str) -> list[tuple[dict[str, str], str]]:
    """`count` users with one new conversation each: (headers, session id)."""
    found = []
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        for n in range(count):
            headers = await register_and_login(api, f"{tag}-{n}@example.com")
            found.append((headers, await new_session(api, headers)))
    return found


async def test_workers_killed_mid_reply_lose_and_duplicate_nothing(stack: Stack) -> None:
    """Two workers; one of them is killed with SIGKILL 20 times, at random moments while
    replies stream, and started again. Every run completes, exactly once."""
    rng = random.Random(12)
    workers = [stack.procs["worker"], stack.procs["worker-2"]]
    people = await users(stack, 4, "killed-workers")
    exchanges: list[Exchange] = []
    kills = 0
    killing = asyncio.Event()

    async def talk(n: int, headers: dict[str, str], session_id: str) -> None:
        client = Client(gateway_urls(stack), headers, deadline_s=180)
        try:
            turn = 0
            while not killing.is_set() or turn < 3:
                message = f"user {n} turn {turn} [mock:tps=40] [mock:tokens=30]"
                exchanges.append(await client.send(session_id, message))
                turn += 1
        finally:
            await client.close()

    async def kill() -> None:
        nonlocal kills
        try:
            while kills < 20:
                await asyncio.sleep(rng.uniform(0.3, 1.5))
                victim = rng.choice(workers)
                victim.kill()
                kills += 1
                victim.start()
                # Let the new one start before the next kill may hit it.
                await asyncio.sleep(rng.uniform(2.0, 3.5))
        finally:
            killing.set()

    talkers = [asyncio.create_task(talk(n, h, s)) for n, (h, s) in enumerate(people)]
    await asyncio.gather(kill(), *talkers)
    for worker in workers:
        assert worker.alive, worker.tail()

    stored = await histories(stack.gateway_url, {s: h for h, s in people})
    report = check("worker kill -9 x20, two workers", exchanges, stored, allow_refused=False)
    assert kills == 20
    assert report.ok, report.describe()
    # Every turn is exactly one user and one assistant message, in the order sent.
    for _, session_id in people:
        roles = [m["role"] for m in stored[session_id]]
        assert roles == ["user", "assistant"] * (len(roles) // 2), roles


async def test_a_gateway_killed_mid_stream_is_resumed_on_the_other(stack: Stack) -> None:
    """The client streams from gateway-2, which is killed with SIGKILL mid-reply; it
    resumes on the first gateway with `Last-Event-ID` and sees every event once."""
    rng = random.Random(7)
    gateway_2 = stack.procs["gateway-2"]
    [(headers, session_id)] = await users(stack, 1, "killed-gateway")
    first, second = gateway_urls(stack)
    exchanges: list[Exchange] = []
    for trial in range(5):
        cut_at = rng.randint(2, 25)

        def cut(ex: Exchange, event: SseEvent, at: int = cut_at) -> None:
            if event.event == "token" and sum(e.event == "token" for e in ex.events) == at:
                gateway_2.kill()

        client = Client([second, first], headers)
        try:
            message = f"trial {trial} [mock:tps=30] [mock:tokens=40]"
            exchanges.append(await client.send(session_id, message, watch=cut))
        finally:
            await client.close()
        assert not gateway_2.alive, "the gateway was killed mid-reply"
        gateway_2.start()
    stored = await histories(first, {session_id: headers})
    report = check("gateway kill -9 x5, resume on the other", exchanges, stored)
    assert report.ok, report.describe()
    assert all(ex.retries >= 1 and ex.outcome == "done" for ex in exchanges)
