"""A run that no worker takes: the client learns at once that it is queued, and after
`RUN_START_TIMEOUT_S` gets `error` `no_worker`; the run never happens behind the user's
back, and the conversation is free for the next message."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import nats
import pytest

from llmsvc.common import subjects
from tests.support.api import history, new_session, register_and_login, stream_turn
from tests.support.infra import Infra
from tests.support.mockllm import requests_ending_with
from tests.support.procs import Proc
from tests.support.sse import SseEvent, read_sse
from tests.support.stack import Stack, wait_for_responders
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

START_TIMEOUT_S = 4.0


@pytest.fixture(scope="module")
async def stack(
    infra: Infra, mockllm: Proc, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    from tests.e2e.conftest import e2e_stack

    env = {"RUN_START_TIMEOUT_S": str(START_TIMEOUT_S)}
    async with e2e_stack(infra, mockllm, tmp_path_factory, extra_env=env) as s:
        yield s


@pytest.fixture
async def no_worker(stack: Stack) -> AsyncIterator[Proc]:
    worker = stack.procs["worker"]
    worker.stop()
    try:
        yield worker
    finally:
        if not worker.alive:
            worker.start()


async def start_worker(stack: Stack, worker: Proc) -> None:
    worker.start()
    identity = stack.nats_identity()
    await wait_for_responders(stack.env["NATS_URL"], [subjects.AGENT_HISTORY], identity=identity)


async def rest_of(sse: AsyncIterator[SseEvent]) -> list[SseEvent]:
    return [event async for event in sse]


async def jobs_waiting(stack: Stack) -> int:
    """Jobs in the queue that no worker has finished (pending or being run)."""
    nc = await nats.connect(stack.env["NATS_URL"], **stack.nats_identity().connect_options())
    try:
        info = await nc.jetstream().stream_info(subjects.AGENT_JOBS_STREAM)
        return int(info.state.messages)
    finally:
        await nc.close()


async def test_a_run_nobody_takes_ends_with_no_worker_and_frees_the_conversation(
    stack: Stack, mockllm: Proc, no_worker: Proc
) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as api:
        headers = await register_and_login(api, "no-worker@example.com")
        sid = await new_session(api, headers)
        sent = time.monotonic()
        async with api.stream(
            "POST",
            "/conversation",
            json={"message": "anyone there?", "session_id": sid},
            headers=headers,
        ) as r:
            assert r.status_code == 200
            sse = read_sse(r)
            queued = await asyncio.wait_for(anext(sse), 2)  # at once, not after a ping
            events = await asyncio.wait_for(rest_of(sse), START_TIMEOUT_S + 10)
        waited = time.monotonic() - sent
        assert queued.event == "queued" and queued.id is None
        assert queued.data["session_id"] == sid and queued.data["run_id"]
        assert [(e.id, e.event) for e in events] == [(1, "error")]
        assert events[0].data["code"] == "no_worker" and events[0].data["message"]
        assert waited >= START_TIMEOUT_S - 0.5

        # Withdrawn: the queue no longer holds it, and a replay ends the same way.
        assert await jobs_waiting(stack) == 0
        run_id = queued.data["run_id"]
        async with api.stream("GET", f"/conversation/runs/{run_id}/events", headers=headers) as r:
            replay = await rest_of(read_sse(r))
        assert [(e.id, e.event, e.data["code"]) for e in replay] == [(1, "error", "no_worker")]

        # A reply that is waited for (`stream: false`) is a 503 with the same code.
        r = await api.post(
            "/conversation",
            json={"message": "still nobody?", "session_id": sid, "stream": False},
            headers=headers,
        )
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "no_worker"

        # The conversation is free at once; with a worker back, only this turn runs.
        await start_worker(stack, no_worker)
        events = await stream_turn(api, headers, sid, "now then")
        assert events[-1].event == "done"
        messages = await history(api, headers, sid)
        assert [(m["role"], m["content"]) for m in messages][0] == ("user", "now then")
        assert [m["role"] for m in messages] == ["user", "assistant"]
        assert await requests_ending_with(mockllm, "anyone there?") == []
        assert await requests_ending_with(mockllm, "still nobody?") == []


async def test_a_queued_run_can_be_followed_again_until_it_is_withdrawn(
    stack: Stack, mockllm: Proc, no_worker: Proc
) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as api:
        headers = await register_and_login(api, "no-worker-resume@example.com")
        other = await register_and_login(api, "no-worker-other@example.com")
        sid = await new_session(api, headers)
        async with api.stream(
            "POST",
            "/conversation",
            json={"message": "hello?", "session_id": sid},
            headers=headers,
        ) as r:
            queued = await anext(read_sse(r))  # then the client goes away
        run_id = queued.data["run_id"]
        # Nobody else can follow it, as if it did not exist.
        r = await api.get(f"/conversation/runs/{run_id}/events", headers=other)
        assert r.status_code == 404 and r.json()["error"]["code"] == "run_not_found"
        async with api.stream("GET", f"/conversation/runs/{run_id}/events", headers=headers) as r:
            assert r.status_code == 200
            events = await asyncio.wait_for(rest_of(read_sse(r)), START_TIMEOUT_S + 10)
        assert [(e.id, e.event) for e in events] == [(None, "queued"), (1, "error")]
        assert events[0].data == {"run_id": run_id, "session_id": sid}
        assert events[1].data["code"] == "no_worker"
        # This gateway did not queue it, so its job stays in the queue; the worker that
        # takes it does not run it.
        await start_worker(stack, no_worker)
        await wait_until(lambda: jobs_waiting(stack), lambda n: n == 0, timeout_s=30)
        assert await requests_ending_with(mockllm, "hello?") == []


async def test_a_worker_does_not_run_a_job_queued_too_long_ago(
    stack: Stack, mockllm: Proc, no_worker: Proc
) -> None:
    """The client went away and so nobody withdrew the run: the worker that finally takes
    it ends it with `no_worker` instead of answering a question nobody waits for."""
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as api:
        headers = await register_and_login(api, "no-worker-late@example.com")
        sid = await new_session(api, headers)
        async with api.stream(
            "POST",
            "/conversation",
            json={"message": "too late", "session_id": sid},
            headers=headers,
        ) as r:
            run_id = (await anext(read_sse(r))).data["run_id"]
        await asyncio.sleep(START_TIMEOUT_S + 0.5)
        assert await jobs_waiting(stack) == 1
        await start_worker(stack, no_worker)
        await wait_until(lambda: jobs_waiting(stack), lambda n: n == 0, timeout_s=30)
        async with api.stream("GET", f"/conversation/runs/{run_id}/events", headers=headers) as r:
            events = await rest_of(read_sse(r))
        assert [(e.id, e.event, e.data.get("code")) for e in events] == [(1, "error", "no_worker")]
        assert await requests_ending_with(mockllm, "too late") == []
        # Its conversation is free and its history holds nothing of it.
        assert (await stream_turn(api, headers, sid, "in time"))[-1].event == "done"
        assert [m["content"] for m in await history(api, headers, sid)][0] == "in time"
