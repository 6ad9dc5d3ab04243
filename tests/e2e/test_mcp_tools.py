"""Tools from MCP servers (the `mcp` SDK, streamable HTTP) through the real processes:
one server up (behind a bearer token), one down at start-up. The worker starts with
the tools it can reach, says which server is missing on `/readyz`, and picks the late
server up once it answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from llmsvc.common import subjects
from tests.support.api import new_session, register_and_login, stream_turn
from tests.support.infra import Infra
from tests.support.mcp_server import mcp_server_proc, mcp_url
from tests.support.mockllm import start_mockllm
from tests.support.procs import Proc, free_port
from tests.support.sse import SseEvent
from tests.support.stack import Stack, running_stack, wait_for_responders

pytestmark = pytest.mark.e2e

TOKEN = "mcp-secret-token"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, Proc]]:
    workdir = tmp_path_factory.mktemp("mcp")
    up = mcp_server_proc(workdir, token=TOKEN).start()
    late = mcp_server_proc(workdir, port=free_port())  # not started yet: down
    yield up, late
    late.stop()
    up.stop()


@pytest.fixture(scope="module")
async def mcp_stack(
    infra: Infra, servers: tuple[Proc, Proc], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Stack, int]]:
    up, late = servers
    workdir = tmp_path_factory.mktemp("mcp-stack")
    model = start_mockllm(workdir)
    health_port = free_port()
    mcp_servers = {
        "calc": {"url": mcp_url(up), "headers": {"Authorization": f"Bearer {TOKEN}"}},
        "late": {"url": mcp_url(late)},
    }
    try:
        with running_stack(
            workdir,
            nats_url=infra.nats_url,
            broker=infra.broker,
            mongo_uri=infra.mongo_uri,
            model_url=f"http://127.0.0.1:{model.port}/v1",
            extra_env={
                "MCP_SERVERS": json.dumps(mcp_servers),
                "MCP_RETRY_S": "1",
                "HEALTH_PORT": str(health_port),
                "TOOLS": "calculator",
            },
        ) as stack:
            await wait_for_responders(
                infra.nats_url,
                [subjects.AUTH_USER_GET, subjects.SESSIONS_GET],
                identity=infra.nats_identity(),
            )
            yield stack, health_port
    finally:
        model.stop()


async def readyz(health_port: int) -> dict[str, Any] | None:
    """The worker's readiness body, or None while it does not answer 200."""
    async with httpx.AsyncClient() as client:
        try:
            r = await client.get(f"http://127.0.0.1:{health_port}/readyz")
        except httpx.TransportError:
            return None
    body: dict[str, Any] = r.json()
    return body if r.status_code == 200 else None


async def readyz_until(health_port: int, check: Any, *, timeout_s: float = 20) -> dict[str, Any]:
    """Poll `/readyz` until its body satisfies `check`."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        body = await readyz(health_port)
        if body is not None and check(body):
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"/readyz never satisfied the check; last: {body}")
        await asyncio.sleep(0.2)


def call(name: str, **args: Any) -> str:
    return f"[mock:tool={name}:{json.dumps(args)}]"


def results(events: list[SseEvent]) -> list[dict[str, Any]]:
    return [e.data for e in events if e.event == "tool_result"]


async def test_tools_of_a_reachable_server_and_a_down_one_reported(
    mcp_stack: tuple[Stack, int], servers: tuple[Proc, Proc]
) -> None:
    stack, health_port = mcp_stack
    ready = await readyz_until(health_port, lambda body: True)
    assert ready["checks"] == {"nats": True, "mongo": True}
    assert ready["mcp"]["calc"]["status"] == "ok"
    assert sorted(ready["mcp"]["calc"]["tools"]) == ["calc_add", "calc_refuse", "calc_shout"]
    assert ready["mcp"]["late"]["status"] == "unavailable" and ready["mcp"]["late"]["error"]
    assert "calculator" in ready["tools"] and "calc_add" in ready["tools"]
    assert "worker_started" in stack.procs["worker"].tail(200)
    assert "mcp_server_unavailable" in stack.procs["worker"].tail(200)

    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        headers = await register_and_login(api, "mcp@example.com")
        session_id = await new_session(api, headers)
        events = await stream_turn(api, headers, session_id, "Add " + call("calc_add", a=2, b=3))
        assert events[-1].event == "done", events[-1]
        assert results(events) == [
            {"id": results(events)[0]["id"], "name": "calc_add", "content": "5", "is_error": False}
        ]
        assert events[-1].data["message"]["content"] == "The calc_add tool said: 5."

        # A tool that fails is an error result the model reads; the run still answers.
        events = await stream_turn(
            api, headers, session_id, "No " + call("calc_refuse", reason="not today")
        )
        assert events[-1].event == "done", events[-1]
        [failed] = results(events)
        assert failed["is_error"] is True and "refused: not today" in failed["content"]

        # The late server comes up: the worker picks it up without a restart.
        _, late = servers
        late.start()
        await readyz_until(health_port, lambda body: body["mcp"]["late"]["status"] == "ok")
        events = await stream_turn(
            api, headers, session_id, "Loud " + call("late_shout", text="hello")
        )
        assert events[-1].event == "done", events[-1]
        assert results(events)[0]["content"] == "HELLO"
