"""The trace context crosses real NATS in message headers (`llmsvc.common.tracing`),
seen with the SDK's in-memory exporter; with tracing off nothing is added."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from llmsvc.common import tracing

pytestmark = pytest.mark.integration


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    assert tracing.configure_tracing("tests", exporter=memory)
    yield memory
    tracing.shutdown_tracing()
    tracing._state.provider = None


def test_off_by_default_adds_nothing() -> None:
    assert not tracing.enabled()
    headers = {"Nats-Msg-Id": "run-1"}
    assert tracing.trace_headers(headers) is headers
    assert tracing.context_from({"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}) is None
    with tracing.span("nothing") as span:
        assert span is None


async def test_a_span_continues_on_the_other_side_of_nats(
    exporter: InMemorySpanExporter, nc: NATS
) -> None:
    received: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()

    async def on_message(msg: Msg) -> None:
        received.set_result(msg)

    await nc.subscribe("tests.trace.context", cb=on_message)
    with tracing.span("send", kind=SpanKind.PRODUCER):
        headers = tracing.trace_headers({"Nats-Msg-Id": "x"})
        assert headers is not None and headers["Nats-Msg-Id"] == "x"
        await nc.publish("tests.trace.context", b"{}", headers=headers)
    msg = await asyncio.wait_for(received, 5)
    with tracing.span("handle", parent=tracing.context_from(msg.headers), kind=SpanKind.CONSUMER):
        pass
    handle, send = sorted(exporter.get_finished_spans(), key=lambda s: s.name)
    assert send.context is not None and handle.context is not None
    assert handle.context.trace_id == send.context.trace_id
    assert handle.parent is not None and handle.parent.span_id == send.context.span_id
