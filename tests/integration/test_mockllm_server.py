"""mockllm as a real process, driven by the real openai SDK and langchain-openai."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_openai import ChatOpenAI
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam

from llmsvc.mockllm import reply_for
from tests.support.mockllm import base_url, start_mockllm
from tests.support.procs import Proc

pytestmark = pytest.mark.integration

Messages = list[ChatCompletionMessageParam]


def user(text: str) -> ChatCompletionMessageParam:
    return {"role": "user", "content": text}


HELLO: Messages = [user("hello there")]


@pytest.fixture(scope="module")
def mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    proc = start_mockllm(tmp_path_factory.mktemp("mockllm"))
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def slow_mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    proc = start_mockllm(tmp_path_factory.mktemp("mockllm-slow"), MOCKLLM_TTFT_MS=300)
    yield proc
    proc.stop()


@pytest.fixture
async def client(mock: Proc) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(base_url=base_url(mock), api_key="x", max_retries=0) as c:
        yield c


def chat_model(proc: Proc, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=base_url(proc),
        api_key="x",
        model="mock-model",
        stream_usage=True,
        use_responses_api=False,
        max_retries=0,
        **kwargs,
    )


async def stream_text(
    client: AsyncOpenAI, messages: Messages, **kwargs: Any
) -> tuple[list[str], Any, float | None]:
    """The content deltas, the usage, and the seconds until the first content."""
    start = time.monotonic()
    first_at: float | None = None
    deltas: list[str] = []
    usage = None
    stream = await client.chat.completions.create(
        model="mock-model",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
        **kwargs,
    )
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                first_at = first_at or time.monotonic() - start
                deltas.append(choice.delta.content)
    return deltas, usage, first_at


async def test_streamed_tokens_join_to_the_expected_reply(client: AsyncOpenAI) -> None:
    messages: Messages = [
        user("first"),
        {"role": "assistant", "content": "ok"},
        user("second one"),
    ]
    deltas, usage, _ = await stream_text(client, messages)
    expected = reply_for(messages)
    assert expected == "You said: second one. I have seen 2 user messages."
    assert "".join(deltas) == expected
    assert len(deltas) == len(expected.split())
    assert usage is not None
    assert usage.completion_tokens == len(deltas)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > len(deltas)


async def test_non_streaming_reply(client: AsyncOpenAI) -> None:
    result = await client.chat.completions.create(model="any-name", messages=HELLO)
    assert result.choices[0].message.content == reply_for(HELLO)
    assert result.choices[0].finish_reason == "stop"
    assert result.model == "any-name"
    assert result.usage is not None and result.usage.completion_tokens == 10


async def test_models_lists_the_configured_model(client: AsyncOpenAI) -> None:
    models = [m.id async for m in client.models.list()]
    assert models == ["mock-model"]
    assert (await client.models.retrieve("mock-model")).id == "mock-model"
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("gpt-unknown")


async def test_reply_length_and_max_tokens(client: AsyncOpenAI) -> None:
    deltas, usage, _ = await stream_text(client, HELLO, extra_headers={"x-mock-reply-tokens": "40"})
    assert "".join(deltas) == " ".join(f"tok{i}" for i in range(40))
    assert usage.completion_tokens == 40
    result = await client.chat.completions.create(
        model="m",
        messages=[user("hi [mock:tokens=40]")],
        max_tokens=5,
    )
    assert result.choices[0].message.content == "tok0 tok1 tok2 tok3 tok4 "
    assert result.choices[0].finish_reason == "length"


@pytest.mark.parametrize("stream", [True, False])
async def test_injected_rate_limit_and_server_error(client: AsyncOpenAI, stream: bool) -> None:
    with pytest.raises(openai.RateLimitError) as limited:
        await client.chat.completions.create(
            model="m",
            messages=HELLO,
            stream=stream,
            extra_headers={"x-mock-fail": "429"},
        )
    assert limited.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(
            model="m",
            messages=[user("boom [mock:fail=500]")],
            stream=stream,
        )


async def test_disconnect_makes_the_client_raise(client: AsyncOpenAI) -> None:
    received: list[str] = []

    async def consume() -> None:
        stream = await client.chat.completions.create(
            model="m",
            messages=HELLO,
            stream=True,
            extra_headers={"x-mock-fail": "disconnect"},
        )
        async for chunk in stream:
            received.extend(c.delta.content or "" for c in chunk.choices)

    with pytest.raises((httpx.HTTPError, openai.APIError)):
        await asyncio.wait_for(consume(), timeout=10)
    assert "".join(received) == "You said: hello "
    with pytest.raises(openai.APIConnectionError):
        await client.chat.completions.create(model="m", messages=[user("x [mock:fail=disconnect]")])


async def open_streams(proc: Proc) -> int:
    async with httpx.AsyncClient() as http:
        health = (await http.get(f"http://127.0.0.1:{proc.port}/healthz")).json()
    return int(health["open_streams"])


async def test_stall_sends_one_token_then_hangs_until_the_client_leaves(
    client: AsyncOpenAI, mock: Proc
) -> None:
    stream = await client.chat.completions.create(
        model="m", messages=[user("hi [mock:fail=stall]")], stream=True
    )
    chunks = aiter(stream)
    first = await asyncio.wait_for(anext(chunks), timeout=5)
    assert first.choices[0].delta.content == "You "
    second = asyncio.ensure_future(anext(chunks))
    done, _ = await asyncio.wait({second}, timeout=0.5)
    assert not done
    assert await open_streams(mock) >= 1
    second.cancel()
    await stream.close()
    for _ in range(100):  # the server notices the disconnect within moments
        if not await open_streams(mock):
            break
        await asyncio.sleep(0.05)
    assert await open_streams(mock) == 0


async def test_non_streaming_stall_ends_in_a_client_timeout(mock: Proc) -> None:
    async with AsyncOpenAI(base_url=base_url(mock), api_key="x", max_retries=0, timeout=0.5) as c:
        with pytest.raises(openai.APITimeoutError):
            await c.chat.completions.create(model="m", messages=[user("[mock:fail=stall]")])


async def test_ttft_from_settings_delays_the_first_token(slow_mock: Proc) -> None:
    async with AsyncOpenAI(base_url=base_url(slow_mock), api_key="x", max_retries=0) as c:
        deltas, _, first_at = await stream_text(c, HELLO)
    assert "".join(deltas) == reply_for(HELLO)
    assert first_at is not None and first_at >= 0.3


async def test_ttft_and_rate_per_request(client: AsyncOpenAI) -> None:
    _, _, first_at = await stream_text(client, HELLO, extra_headers={"x-mock-ttft-ms": "200"})
    assert first_at is not None and first_at >= 0.2
    start = time.monotonic()
    messages = [user("[mock:ttft=100] [mock:tps=20] [mock:tokens=5]")]
    deltas, _, first_at = await stream_text(client, messages)
    assert first_at is not None and first_at >= 0.1
    # Token i is due at ttft + i / tps: the fifth at 0.1 + 4 / 20 s.
    assert time.monotonic() - start >= 0.3
    assert "".join(deltas) == "tok0 tok1 tok2 tok3 tok4"


async def test_concurrent_streams_each_get_their_own_reply(client: AsyncOpenAI) -> None:
    conversations = [[user(f"number {i} [mock:tps=200]")] for i in range(40)]
    results = await asyncio.gather(*(stream_text(client, m) for m in conversations))
    for messages, (deltas, usage, _) in zip(conversations, results, strict=True):
        assert "".join(deltas) == reply_for(messages)
        assert usage.completion_tokens == len(deltas)


async def test_langchain_streams_with_usage(mock: Proc) -> None:
    history: list[BaseMessage] = [
        HumanMessage("one"),
        AIMessage(reply_for([{"role": "user", "content": "one"}])),
        HumanMessage("two"),
    ]
    expected = reply_for(
        [
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "…"},
            {"role": "user", "content": "two"},
        ]
    )
    assert expected.endswith("I have seen 2 user messages.")
    total: AIMessageChunk | None = None
    pieces: list[str] = []
    async for chunk in chat_model(mock).astream(history):
        pieces.append(chunk.text)
        total = chunk if total is None else total + chunk
    assert "".join(pieces) == expected
    assert total is not None and total.usage_metadata is not None
    assert total.usage_metadata["output_tokens"] == len(expected.split())
    assert total.usage_metadata["input_tokens"] > 0


async def test_langchain_invoke_and_errors(mock: Proc) -> None:
    model = chat_model(mock)
    reply = await model.ainvoke([HumanMessage("hi")])
    assert reply.content == "You said: hi. I have seen 1 user messages."
    assert reply.usage_metadata is not None and reply.usage_metadata["output_tokens"] == 9
    with pytest.raises(openai.RateLimitError):
        await model.ainvoke([HumanMessage("hi [mock:fail=429]")])
    with pytest.raises(openai.InternalServerError):
        async for _ in model.astream([HumanMessage("hi [mock:fail=500]")]):
            pass


async def test_bad_requests_get_openai_shaped_400s(mock: Proc, client: AsyncOpenAI) -> None:
    url = f"http://127.0.0.1:{mock.port}/v1/chat/completions"
    async with httpx.AsyncClient() as http:
        cases = [
            await http.post(url, json={"model": "m"}),
            await http.post(url, json={"model": "m", "messages": [{"role": "wizard"}]}),
            await http.post(
                url, content=b'{"model": ', headers={"content-type": "application/json"}
            ),
            await http.post(url, json={"model": "m", "messages": HELLO, "max_tokens": 0}),
            await http.post(
                url, json={"model": "m", "messages": HELLO}, headers={"x-mock-fail": "x"}
            ),
        ]
    for response in cases:
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["message"]
    with pytest.raises(openai.BadRequestError, match="unknown mock directive"):
        await client.chat.completions.create(model="m", messages=[user("[mock:speed=9]")])


async def test_scripted_tool_calls_then_an_answer_from_their_results(client: AsyncOpenAI) -> None:
    question = user('Sum? [mock:tool=calculator:{"expression": "1+2"}][mock:tool=current_time:{}]')
    stream = await client.chat.completions.create(
        model="m", messages=[question], stream=True, stream_options={"include_usage": True}
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    async for chunk in stream:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or ():
                slot = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                slot["id"] += delta.id or ""
                if delta.function is not None:
                    slot["name"] += delta.function.name or ""
                    slot["arguments"] += delta.function.arguments or ""
            finish = choice.finish_reason or finish
    assert finish == "tool_calls"
    assert [(c["name"], json.loads(c["arguments"])) for c in calls.values()] == [
        ("calculator", {"expression": "1+2"}),
        ("current_time", {}),
    ]
    asked: Any = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for c in calls.values()
        ],
    }
    results: Any = [
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "3"},
        {"role": "tool", "tool_call_id": calls[1]["id"], "content": "noon"},
    ]
    answer = await client.chat.completions.create(model="m", messages=[question, asked, *results])
    assert answer.choices[0].message.content == (
        "The calculator tool said: 3. The current_time tool said: noon."
    )
    # As OpenAI does, a conversation whose tool calls are not all answered is refused.
    with pytest.raises(openai.BadRequestError, match="no results"):
        await client.chat.completions.create(model="m", messages=[question, asked, results[0]])
    with pytest.raises(openai.BadRequestError, match="must answer a preceding tool call"):
        await client.chat.completions.create(model="m", messages=[question, results[0]])


async def test_fail_first_fails_only_the_first_requests_of_a_conversation(
    client: AsyncOpenAI,
) -> None:
    flaky = [user("again [mock:fail=500] [mock:fail_first=2]")]
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model="m", messages=flaky)
    answer = await client.chat.completions.create(model="m", messages=flaky)
    assert answer.choices[0].message.content
