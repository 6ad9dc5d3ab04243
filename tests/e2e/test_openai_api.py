"""The OpenAI-compatible API through the official `openai` SDK and langchain-openai's
`ChatOpenAI`, unpatched, against the running stack: streaming and whole replies,
stateless requests and server-side memory (`X-Session-Id`) shared with `/conversation`,
the client's own tools, and each error as the SDK's own exception."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, cast

import httpx
import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_openai import ChatOpenAI
from openai.types.chat import ChatCompletion

from tests.support.api import history, new_session, register_and_login, stream_turn, streamed_text
from tests.support.mockllm import requests_ending_with
from tests.support.procs import Proc
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

MODEL = "mock-model"
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city now.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ASK_WEATHER = 'Weather in Paris? [mock:tool=get_weather:{"city": "Paris"}]'


def echo(text: str, users: int) -> str:
    return f"You said: {text}. I have seen {users} user messages."


@pytest.fixture
async def token(api: httpx.AsyncClient) -> str:
    headers = await register_and_login(api, f"sdk-{uuid.uuid4().hex[:10]}@example.com")
    return headers["Authorization"].removeprefix("Bearer ")


@pytest.fixture
def sdk(stack: Stack, token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stack.gateway_url}/v1", api_key=token, max_retries=0)


@pytest.fixture
def async_sdk(stack: Stack, token: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{stack.gateway_url}/v1", api_key=token, max_retries=0)


def create(client: openai.OpenAI, **request: Any) -> ChatCompletion:
    """One whole completion. The requests are plain dicts, as a client writes them: the
    SDK's overloads are for type checkers, not for what goes over the wire."""
    reply: ChatCompletion = cast(Any, client.chat.completions).create(**request)
    return reply


async def acreate(client: openai.AsyncOpenAI, **request: Any) -> Any:
    """The async client's completion, or its stream with `stream=True`."""
    return await cast(Any, client.chat.completions).create(**request)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def session_count(api: httpx.AsyncClient, token: str) -> int:
    r = await api.get("/conversation/sessions", params={"limit": 100}, headers=bearer(token))
    return len(r.json()["sessions"])


async def test_models_list_in_openai_format(sdk: openai.OpenAI) -> None:
    models = await asyncio.to_thread(sdk.models.list)
    assert [m.id for m in models.data] == ["mock-model", "mock-large"]
    assert {m.object for m in models.data} == {"model"}


async def test_whole_and_streamed_replies_stateless_store_nothing(
    api: httpx.AsyncClient, token: str, sdk: openai.OpenAI, async_sdk: openai.AsyncOpenAI
) -> None:
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "And again"},
    ]
    whole = await asyncio.to_thread(
        create, sdk, model=MODEL, messages=conversation, temperature=0.2, seed=7
    )
    assert whole.object == "chat.completion" and whole.id.startswith("chatcmpl-")
    assert whole.model == MODEL
    choice = whole.choices[0]
    # The mock counts user messages: the request's own history was used as given.
    assert choice.message.content == echo("And again", 2)
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert whole.usage is not None and whole.usage.total_tokens > 0

    stream = await acreate(
        async_sdk,
        model="mock-large",
        messages=[{"role": "user", "content": "Stream it"}],
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=50,
    )
    chunks = [chunk async for chunk in stream]
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert len({c.id for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == echo("Stream it", 1)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    assert await session_count(api, token) == 0, "a stateless request stores nothing"


async def test_sampling_fields_reach_the_model_and_unknown_ones_are_ignored(
    sdk: openai.OpenAI, mockllm: Proc
) -> None:
    text = f"parameters {uuid.uuid4().hex[:6]}"
    await asyncio.to_thread(
        create,
        sdk,
        model=MODEL,
        messages=[{"role": "user", "content": text}],
        temperature=0.3,
        top_p=0.9,
        max_completion_tokens=40,
        stop=["\n\n"],
        seed=11,
        user="end-user-1",
        extra_body={"logit_bias_unknown_field": {"x": 1}, "store": True},
    )
    sent = (await requests_ending_with(mockllm, text))[-1]
    assert sent["temperature"] == 0.3 and sent["top_p"] == 0.9 and sent["seed"] == 11
    assert sent["max_completion_tokens"] == 40 and sent["stop"] == ["\n\n"]
    assert sent["user"] == "end-user-1"
    assert "logit_bias_unknown_field" not in sent


async def test_x_session_id_keeps_the_conversation_shared_with_the_conversation_api(
    api: httpx.AsyncClient, token: str, sdk: openai.OpenAI, async_sdk: openai.AsyncOpenAI
) -> None:
    headers = bearer(token)
    sid = await new_session(api, headers)
    memory = {"X-Session-Id": sid}

    first = await asyncio.to_thread(
        create,
        sdk,
        model=MODEL,
        messages=[{"role": "user", "content": "first"}],
        extra_headers=memory,
    )
    assert first.choices[0].message.content == echo("first", 1)
    # Only the new message: the server supplies the history.
    stream = await acreate(
        async_sdk,
        model=MODEL,
        messages=[{"role": "user", "content": "second"}],
        stream=True,
        extra_headers=memory,
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == echo("second", 2)
    # A client that resends the whole exchange is not stored twice.
    whole = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": echo("first", 1)},
        {"role": "user", "content": "second"},
        {"role": "assistant", "content": echo("second", 2)},
        {"role": "user", "content": "third"},
    ]
    third = await asyncio.to_thread(create, sdk, model=MODEL, messages=whole, extra_headers=memory)
    assert third.choices[0].message.content == echo("third", 3)

    # The same conversation over /conversation, and its history shows every turn.
    events = await stream_turn(api, headers, sid, "fourth")
    assert streamed_text(events) == echo("fourth", 4)
    messages = await history(api, headers, sid)
    assert [(m["role"], m["content"]) for m in messages if m["role"] == "user"] == [
        ("user", "first"),
        ("user", "second"),
        ("user", "third"),
        ("user", "fourth"),
    ]
    assert len(messages) == 8
    # …and back: the next /v1 request sees the /conversation turn too.
    fifth = await asyncio.to_thread(
        create,
        sdk,
        model=MODEL,
        messages=[{"role": "user", "content": "fifth"}],
        extra_headers=memory,
    )
    assert fifth.choices[0].message.content == echo("fifth", 5)
    assert await session_count(api, token) == 1


async def test_the_clients_own_tools_round_trip_whole_streamed_and_with_memory(
    api: httpx.AsyncClient, token: str, sdk: openai.OpenAI, async_sdk: openai.AsyncOpenAI
) -> None:
    asked = await asyncio.to_thread(
        create,
        sdk,
        model=MODEL,
        messages=[{"role": "user", "content": ASK_WEATHER}],
        tools=[WEATHER_TOOL],
        tool_choice="auto",
    )
    choice = asked.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    follow_up: list[Any] = [
        {"role": "user", "content": ASK_WEATHER},
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 °C"},
    ]
    answer = await asyncio.to_thread(
        create, sdk, model=MODEL, messages=follow_up, tools=[WEATHER_TOOL]
    )
    assert answer.choices[0].message.content == "The get_weather tool said: sunny, 21 °C."

    # Streamed: the call arrives as tool_calls deltas.
    stream = await acreate(
        async_sdk,
        model=MODEL,
        messages=[{"role": "user", "content": ASK_WEATHER}],
        tools=[WEATHER_TOOL],
        stream=True,
    )
    chunks = [c async for c in stream]
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]
    assert [(d.index, d.function.name if d.function else None) for d in deltas] == [
        (0, "get_weather")
    ]
    assert deltas[0].function is not None
    assert json.loads(deltas[0].function.arguments or "") == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"

    # With memory, the client sends only the tool's result after the stored call.
    sid = await new_session(api, bearer(token))
    memory = {"X-Session-Id": sid}
    asked = await asyncio.to_thread(
        create,
        sdk,
        model=MODEL,
        messages=[{"role": "user", "content": ASK_WEATHER}],
        tools=[WEATHER_TOOL],
        extra_headers=memory,
    )
    stored_call = asked.choices[0].message.tool_calls
    assert stored_call is not None
    answer = await asyncio.to_thread(
        create,
        sdk,
        model=MODEL,
        messages=[{"role": "tool", "tool_call_id": stored_call[0].id, "content": "rain"}],
        tools=[WEATHER_TOOL],
        extra_headers=memory,
    )
    assert answer.choices[0].message.content == "The get_weather tool said: rain."
    roles = [m["role"] for m in await history(api, bearer(token), sid)]
    assert roles == ["user", "assistant", "tool", "assistant"]


async def test_langchain_chat_openai_works_against_the_gateway(stack: Stack, token: str) -> None:
    llm = ChatOpenAI(base_url=f"{stack.gateway_url}/v1", api_key=token, model=MODEL, max_retries=0)
    reply = await llm.ainvoke("Hello from LangChain")
    assert reply.content == echo("Hello from LangChain", 1)
    streamed = "".join([str(c.content) async for c in llm.astream("Streamed from LangChain")])
    assert streamed == echo("Streamed from LangChain", 1)
    with_tools = llm.bind_tools([WEATHER_TOOL])
    asked = await with_tools.ainvoke(ASK_WEATHER)
    assert isinstance(asked, AIMessage)
    assert [(c["name"], c["args"]) for c in asked.tool_calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    answer = await with_tools.ainvoke(
        [
            HumanMessage(ASK_WEATHER),
            asked,
            ToolMessage("cloudy", tool_call_id=asked.tool_calls[0]["id"]),
        ]
    )
    assert answer.content == "The get_weather tool said: cloudy."


async def test_an_api_key_works_as_the_sdk_api_key(
    api: httpx.AsyncClient, stack: Stack, token: str
) -> None:
    r = await api.post("/auth/api-keys", json={"name": "sdk"}, headers=bearer(token))
    key = r.json()["key"]
    client = openai.AsyncOpenAI(base_url=f"{stack.gateway_url}/v1", api_key=key, max_retries=0)
    reply = await acreate(client, model=MODEL, messages=[{"role": "user", "content": "via a key"}])
    assert reply.choices[0].message.content == echo("via a key", 1)


async def test_errors_are_the_sdks_own_exceptions_with_openai_bodies(
    api: httpx.AsyncClient, stack: Stack, token: str, async_sdk: openai.AsyncOpenAI
) -> None:
    hello = [{"role": "user", "content": "hi"}]
    stranger = openai.AsyncOpenAI(
        base_url=f"{stack.gateway_url}/v1", api_key="not-a-token", max_retries=0
    )
    with pytest.raises(openai.AuthenticationError) as unauthorized:
        await acreate(stranger, model=MODEL, messages=hello)
    assert unauthorized.value.status_code == 401
    assert unauthorized.value.type == "authentication_error"

    with pytest.raises(openai.NotFoundError) as unknown_model:
        await acreate(async_sdk, model="gpt-9", messages=hello)
    assert unknown_model.value.code == "model_not_found" and unknown_model.value.param == "model"

    with pytest.raises(openai.BadRequestError) as bad_value:
        await acreate(async_sdk, model=MODEL, messages=hello, temperature=5)
    assert bad_value.value.status_code == 400 and bad_value.value.param == "temperature"
    with pytest.raises(openai.BadRequestError) as bad_role:
        await acreate(
            async_sdk,
            model=MODEL,
            messages=[{"role": "wizard", "content": "hi"}],
        )
    assert bad_role.value.param is not None and bad_role.value.param.startswith("messages.0")

    # Someone else's conversation is not found, like a missing one.
    other = await register_and_login(api, f"other-{uuid.uuid4().hex[:8]}@example.com")
    theirs = await new_session(api, other)
    with pytest.raises(openai.NotFoundError):
        await acreate(
            async_sdk,
            model=MODEL,
            messages=hello,
            extra_headers={"X-Session-Id": theirs},
        )

    # One run per conversation: a second request while the first streams is a 409.
    sid = await new_session(api, bearer(token))
    slow = await acreate(
        async_sdk,
        model=MODEL,
        messages=[{"role": "user", "content": "slowly " * 20 + "[mock:tps=10]"}],
        stream=True,
        extra_headers={"X-Session-Id": sid},
    )
    first = await slow.__anext__()
    assert first.choices[0].delta.role == "assistant"
    with pytest.raises(openai.ConflictError) as busy:
        await acreate(
            async_sdk,
            model=MODEL,
            messages=hello,
            extra_headers={"X-Session-Id": sid},
        )
    assert busy.value.code == "run_active"
    await slow.close()

    # The model failing: a 5xx whole, an error event streamed.
    broken = [{"role": "user", "content": "break [mock:fail=500]"}]
    with pytest.raises(openai.InternalServerError) as failed:
        await acreate(async_sdk, model=MODEL, messages=broken)
    assert failed.value.status_code == 502 and failed.value.code == "model_error"
    stream = await acreate(async_sdk, model=MODEL, messages=broken, stream=True)
    with pytest.raises(openai.APIError) as in_stream:
        async for _ in stream:
            pass
    assert "model" in str(in_stream.value.message).lower()

    # Validation errors have OpenAI's shape.
    r = await api.post("/v1/chat/completions", json={"model": MODEL}, headers=bearer(token))
    assert r.status_code == 400
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    assert r.json()["error"]["param"] == "messages"
