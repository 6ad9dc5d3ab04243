"""OpenTelemetry across the real processes: with an OTLP endpoint set, one message to the
gateway yields one connected trace, from its HTTP request through sessions, the job
queue and the worker to the model call and the worker's Mongo writes, exported by each
service to a real OTLP/HTTP receiver."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.e2e.conftest import e2e_stack
from tests.support.api import register_and_login
from tests.support.infra import Infra
from tests.support.otlp_receiver import ReceivedSpan, Receiver, otlp_receiver
from tests.support.procs import Proc
from tests.support.sse import collect_sse
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

SERVER, CONSUMER = 2, 5  # OTLP span kinds


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as r:
        yield r


@pytest.fixture(scope="module")
async def traced_stack(
    infra: Infra, mockllm: Proc, tmp_path_factory: pytest.TempPathFactory, receiver: Receiver
) -> AsyncIterator[Stack]:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    async with e2e_stack(infra, mockllm, tmp_path_factory, env) as s:
        yield s


def conversation_trace(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    roots = [
        s
        for s in spans
        if s.service == "gateway" and s.kind == SERVER and s.name == "POST /conversation"
    ]
    if not roots:
        return []
    return [s for s in spans if s.trace_id == roots[-1].trace_id]


async def test_one_message_is_one_trace_across_every_process(
    traced_stack: Stack, receiver: Receiver
) -> None:
    async with httpx.AsyncClient(base_url=traced_stack.gateway_url, timeout=30) as api:
        headers = await register_and_login(api, f"trace-{uuid.uuid4().hex[:8]}@example.com")
        # No session id: the gateway has sessions create the conversation first.
        async with api.stream(
            "POST", "/conversation", json={"message": "hello tracing"}, headers=headers
        ) as r:
            assert r.status_code == 200
            events = await collect_sse(r)
    assert events[-1].event == "done"

    wanted = {"gateway", "sessions", "agent-worker"}
    trace: list[ReceivedSpan] = []
    for _ in range(100):  # each service exports in batches every 100 ms
        trace = conversation_trace(receiver.snapshot())
        if wanted <= {s.service for s in trace} and any(s.name == "chat" for s in trace):
            break
        await asyncio.sleep(0.1)
    services = {s.service for s in trace}
    assert wanted <= services, [(s.service, s.name) for s in trace]

    by_id = {s.span_id: s for s in trace}
    (root,) = [s for s in trace if not s.parent_id]
    assert root.service == "gateway" and root.name == "POST /conversation"
    # Connected: every other span's parent is in the same trace.
    assert all(s.parent_id in by_id for s in trace if s is not root)

    def ancestors(span: ReceivedSpan) -> list[ReceivedSpan]:
        chain = []
        while span.parent_id:
            span = by_id[span.parent_id]
            chain.append(span)
        return chain

    (run,) = [s for s in trace if s.service == "agent-worker" and s.name == "agent run"]
    assert run.kind == CONSUMER
    assert run.attributes["llmsvc.run_id"] == events[0].data["run_id"]
    assert root in ancestors(run)
    (chat,) = [s for s in trace if s.name == "chat"]
    assert run in ancestors(chat) and chat.attributes["gen_ai.request.model"] == "mock-model"
    assert chat.attributes["gen_ai.usage.output_tokens"] > 0
    # The worker's checkpoint and message writes, inside the run.
    mongo = [s for s in trace if s.service == "agent-worker" and "db.system" in s.attributes]
    assert mongo and all(run in ancestors(s) for s in mongo)
    # sessions answered the create request inside the gateway's request.
    created = [s for s in trace if s.service == "sessions" and s.kind == CONSUMER]
    assert created and all(root in ancestors(s) for s in created)
