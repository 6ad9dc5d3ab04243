"""The worker's model call over real HTTP: what reaches an OpenAI-compatible endpoint
(key, model, parameters, the conversation) and how its answers come back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from llmsvc.agent_worker.app import build_model
from llmsvc.agent_worker.model_stream import stream_reply
from llmsvc.agent_worker.run_outcomes import model_error_body
from llmsvc.agent_worker.settings import WorkerSettings

pytestmark = pytest.mark.integration

SSE = (
    b'data: {"choices":[{"index":0,"delta":{"content":"Hi "}}]}\n\n'
    b'data: {"choices":[{"index":0,"delta":{"content":"there"},"finish_reason":"stop"}]}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}\n\n'
    b"data: [DONE]\n\n"
)


class Endpoint:
    """A one-route HTTP server answering every request with `status` and `body`."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body
        self.requests: list[tuple[dict[str, str], dict[str, object]]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")[1:]
        headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines if h)}
        body = await reader.readexactly(int(headers["content-length"]))
        self.requests.append((headers, json.loads(body)))
        kind = b"text/event-stream" if self.status == 200 else b"application/json"
        writer.write(
            b"HTTP/1.1 %d X\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n%s"
            % (self.status, kind, len(self.body), self.body)
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def endpoint(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Endpoint, str]]:
    status, body = getattr(request, "param", (200, SSE))
    ep = Endpoint(status, body)
    server = await asyncio.start_server(ep.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield ep, f"http://127.0.0.1:{port}/v1"


async def call(base_url: str, texts: list[str]) -> AIMessage:
    settings = WorkerSettings(
        openai_base_url=base_url,
        openai_api_key="sk-test-key",
        openai_model="my-model",
        model_max_tokens=64,
        model_max_retries=0,
    )
    http = openai.DefaultAioHttpClient()
    try:
        conversation = [SystemMessage("be brief"), HumanMessage("hello", id="u1")]
        reply = await stream_reply(build_model(settings, http), conversation, texts.append)
    finally:
        await http.aclose()
    return reply.message(message_id="ai-1", created_at="2026-01-01T00:00:00+00:00")


async def test_the_request_carries_key_model_parameters_and_conversation(
    endpoint: tuple[Endpoint, str],
) -> None:
    ep, url = endpoint
    texts: list[str] = []
    message = await call(url, texts)
    headers, body = ep.requests[0]
    assert headers["authorization"] == "Bearer sk-test-key"
    assert body["model"] == "my-model" and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_completion_tokens"] == 64
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello"},
    ]
    assert texts == ["Hi ", "there"] and message.content == "Hi there"
    assert message.usage_metadata is not None and message.usage_metadata["output_tokens"] == 2


@pytest.mark.parametrize(
    ("endpoint", "code"),
    [
        ((429, b'{"error": {"message": "slow down"}}'), "model_rate_limited"),
        ((500, b'{"error": {"message": "boom"}}'), "model_error"),
    ],
    indirect=["endpoint"],
)
async def test_an_error_status_ends_the_run_with_its_kind(
    endpoint: tuple[Endpoint, str], code: str
) -> None:
    _, url = endpoint
    with pytest.raises(openai.APIStatusError) as caught:
        await call(url, [])
    body = model_error_body(caught.value)
    assert body is not None and body["code"] == code


class FlakyEndpoint(Endpoint):
    """Drops the first `drop` connections without a word (as a restarting server or a
    broken proxy does), then answers like `Endpoint`."""

    def __init__(self, drop: int) -> None:
        super().__init__(200, SSE)
        self.drop = drop
        self.dropped = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.dropped < self.drop:
            self.dropped += 1
            await reader.readuntil(b"\r\n\r\n")
            writer.close()
            return
        await super().handle(reader, writer)


async def call_with_retries(url: str, retries: int) -> AIMessage:
    settings = WorkerSettings(
        openai_base_url=url, openai_api_key="k", openai_model="m", model_max_retries=retries
    )
    http = openai.DefaultAioHttpClient()
    try:
        texts: list[str] = []
        reply = await stream_reply(build_model(settings, http), [HumanMessage("hi")], texts.append)
    finally:
        await http.aclose()
    return reply.message(message_id="ai-1", created_at="2026-01-01T00:00:00+00:00")


@pytest.mark.parametrize(("drop", "retries", "answered"), [(2, 2, True), (3, 2, False)])
async def test_a_connection_dropped_before_the_first_token_is_retried(
    drop: int, retries: int, answered: bool
) -> None:
    ep = FlakyEndpoint(drop)
    server = await asyncio.start_server(ep.handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    async with server:
        if answered:
            message = await call_with_retries(url, retries)
            assert message.content == "Hi there"
        else:
            with pytest.raises(openai.APIConnectionError) as caught:
                await call_with_retries(url, retries)
            body = model_error_body(caught.value)
            assert body is not None and body["code"] == "model_unreachable"
    assert ep.dropped == drop and len(ep.requests) == (1 if answered else 0)
