"""The model node's stream reader: SSE framing across byte chunks, text and tool-call
deltas, usage and in-stream errors, as an OpenAI-compatible server sends them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest

from llmsvc.agent_worker.model_stream import ModelStreamError, StreamedReply, _sse_data

pytestmark = pytest.mark.unit


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def collect(*parts: bytes) -> list[bytes]:
    return [d async for d in _sse_data(chunks(*parts))]


async def test_events_split_across_and_within_chunks() -> None:
    stream = b'data: {"a":1}\n\ndata: {"b"' + b":2}\n\n: comment\n\ndata: [DONE]\n\n"
    # Every way of cutting the stream into two chunks yields the same payloads.
    for cut in range(1, len(stream)):
        got = await collect(stream[:cut], stream[cut:])
        assert got == [b'{"a":1}', b'{"b":2}', b"[DONE]"], cut


async def test_a_last_event_without_newline_is_kept() -> None:
    assert await collect(b"data: [DONE]") == [b"[DONE]"]


def delta(**d: object) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": d, "finish_reason": None}]}


def test_text_goes_out_as_it_arrives_and_the_reply_carries_usage() -> None:
    seen: list[str] = []
    reply = StreamedReply()
    for chunk in (
        delta(role="assistant", content="Hel"),
        delta(content="lo"),
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}], "model": "m1"},
        {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}},
    ):
        reply.add(chunk, seen.append)
    assert seen == ["Hel", "lo"]
    message = reply.message(message_id="ai-1", created_at="2026-01-01T00:00:00+00:00")
    assert message.content == "Hello" and message.id == "ai-1"
    assert message.response_metadata["finish_reason"] == "length"
    assert message.response_metadata["model_name"] == "m1"
    assert message.usage_metadata == {"input_tokens": 7, "output_tokens": 2, "total_tokens": 9}


def test_tool_call_deltas_become_tool_calls() -> None:
    reply = StreamedReply()
    calls = [
        {"index": 0, "id": "call_a", "function": {"name": "calculator", "arguments": '{"expr'}},
        {"index": 1, "id": "call_b", "function": {"name": "current_time", "arguments": "{}"}},
        {"index": 0, "function": {"arguments": 'ession": "2+2"}'}},
        {"index": 2, "id": "call_c", "function": {"name": "broken", "arguments": "not json"}},
    ]
    for call in calls:
        reply.add(delta(tool_calls=[call]), lambda _t: None)
    message = reply.message(message_id="ai-2", created_at="2026-01-01T00:00:00+00:00")
    assert [(c["id"], c["name"], c["args"]) for c in message.tool_calls] == [
        ("call_a", "calculator", {"expression": "2+2"}),
        ("call_b", "current_time", {}),
    ]
    assert [c["id"] for c in message.invalid_tool_calls] == ["call_c"]


def test_an_error_inside_the_stream_raises() -> None:
    reply = StreamedReply()
    with pytest.raises(ModelStreamError, match="overloaded"):
        reply.add(orjson.loads(b'{"error": {"message": "overloaded"}}'), lambda _t: None)
