"""Run events as OpenAI chat-completion chunks: the order and shape the SDK expects, tool
calls as deltas, usage last, and a run restarted on another worker that re-streams its
reply without the client seeing any text twice."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from llmsvc.common.contracts.agent import RunEvent
from llmsvc.gateway.openai_replies import CompletionReply

pytestmark = pytest.mark.unit


def run(*steps: tuple[str, dict[str, Any]]) -> list[RunEvent]:
    return [
        RunEvent(run_id="r1", seq=n, type=kind, data=data, user_id="u1")
        for n, (kind, data) in enumerate(steps, start=1)
    ]


async def frames(events: list[RunEvent], *, include_usage: bool = False) -> list[Any]:
    async def source() -> AsyncIterator[RunEvent | None]:
        for event in events:
            yield event
            yield None  # a keep-alive between events

    out: list[Any] = []
    async for frame in CompletionReply("r1", "m").frames(source(), include_usage=include_usage):
        if frame.startswith(b": "):
            continue
        payload = frame.removeprefix(b"data: ").strip()
        out.append("[DONE]" if payload == b"[DONE]" else json.loads(payload))
    return out


def text_of(chunks: list[Any]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or ""
        for c in chunks
        if isinstance(c, dict) and c.get("choices")
    )


META = ("metadata", {"run_id": "r1"})
DONE = ("done", {"finish_reason": "stop", "usage": {"input_tokens": 3, "output_tokens": 2}})


async def test_tokens_then_finish_then_usage_then_done() -> None:
    out = await frames(
        run(META, ("token", {"text": "Hel"}), ("token", {"text": "lo"}), DONE), include_usage=True
    )
    assert out[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert text_of(out) == "Hello"
    assert out[-3]["choices"][0]["finish_reason"] == "stop"
    assert out[-2]["choices"] == [] and out[-2]["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": 2,
        "total_tokens": 5,
    }
    assert out[-1] == "[DONE]"
    assert {c["id"] for c in out[:-1]} == {"chatcmpl-r1"}


async def test_tool_calls_are_indexed_deltas_with_json_arguments() -> None:
    calls = [("tool_call", {"id": f"c{n}", "name": "f", "args": {"n": n}}) for n in range(2)]
    done = ("done", {"finish_reason": "tool_calls"})
    out = await frames(run(META, *calls, done))
    deltas = [c["choices"][0]["delta"]["tool_calls"][0] for c in out[1:3]]
    assert [(d["index"], d["id"], json.loads(d["function"]["arguments"])) for d in deltas] == [
        (0, "c0", {"n": 0}),
        (1, "c1", {"n": 1}),
    ]
    assert out[-2]["choices"][0]["finish_reason"] == "tool_calls"


async def test_a_restarted_run_that_says_the_same_is_sent_on_without_repeats() -> None:
    out = await frames(
        run(
            META,
            ("token", {"text": "one "}),
            ("token", {"text": "two "}),
            ("reset", {}),
            ("token", {"text": "one two"}),
            ("token", {"text": " three"}),
            DONE,
        )
    )
    assert text_of(out) == "one two three"
    assert out[-1] == "[DONE]"


async def test_a_restarted_run_that_says_something_else_ends_in_an_error() -> None:
    out = await frames(
        run(META, ("token", {"text": "one two"}), ("reset", {}), ("token", {"text": "uno"}), DONE)
    )
    assert text_of(out) == "one two"
    assert out[-1]["error"]["code"] == "run_restarted"
    assert "[DONE]" not in out


async def test_a_failed_run_ends_with_an_openai_error_frame() -> None:
    failed = ("error", {"code": "model_error", "message": "the model failed"})
    out = await frames(run(META, ("token", {"text": "par"}), failed))
    assert out[-1] == {
        "error": {
            "message": "the model failed",
            "type": "api_error",
            "param": None,
            "code": "model_error",
        }
    }


def test_the_whole_reply_is_a_chat_completion() -> None:
    done = {
        "message": {"content": "", "tool_calls": [{"id": "c1", "name": "f", "args": {"a": 1}}]},
        "finish_reason": "tool_calls",
        "usage": {"input_tokens": 4, "output_tokens": 1},
    }
    body = CompletionReply("r1", "m").completion(done)
    message = body["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    ]
    assert body["object"] == "chat.completion" and body["usage"]["total_tokens"] == 5
