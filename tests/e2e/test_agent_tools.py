"""The agent's tool loop through the real processes: the model (mockllm, scripted) asks
for tools, the worker runs them, the results go back to the model, and the client sees
every step as it happens and finds it in history afterwards."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from llmsvc.mockllm.replies import reply_for
from tests.support.api import history, new_session, register_and_login, stream_turn, streamed_text
from tests.support.mockllm import requests_ending_with
from tests.support.procs import Proc

pytestmark = pytest.mark.e2e


def tool(name: str, **args: Any) -> str:
    """The mockllm directive asking for one tool call."""
    return f"[mock:tool={name}:{json.dumps(args)}]"


async def test_calculator_round_trip_streams_steps_and_keeps_them_in_history(
    api: httpx.AsyncClient, mockllm: Proc
) -> None:
    headers = await register_and_login(api, "calc@example.com")
    session_id = await new_session(api, headers)
    question = "What is (2+3)*4? " + tool("calculator", expression="(2+3)*4")
    events = await stream_turn(api, headers, session_id, question)

    kinds = [e.event for e in events]
    assert kinds[:2] == ["queued", "metadata"] and kinds[-1] == "done"
    assert kinds.index("tool_call") < kinds.index("tool_result") < kinds.index("token")
    call = next(e.data for e in events if e.event == "tool_call")
    assert call["name"] == "calculator" and call["args"] == {"expression": "(2+3)*4"}
    result = next(e.data for e in events if e.event == "tool_result")
    assert result == {"id": call["id"], "name": "calculator", "content": "20", "is_error": False}
    answer = "The calculator tool said: 20."
    assert streamed_text(events) == answer
    assert events[-1].data["message"]["content"] == answer

    messages = await history(api, headers, session_id)
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[1]["tool_calls"] == [
        {"id": call["id"], "name": "calculator", "args": {"expression": "(2+3)*4"}}
    ]
    assert messages[2]["tool_call_id"] == call["id"]
    assert (messages[2]["name"], messages[2]["content"], messages[2]["is_error"]) == (
        "calculator",
        "20",
        False,
    )
    assert messages[3]["content"] == answer
    assert {m["status"] for m in messages} == {"complete"}

    # The next turn sends the tool exchange back to the model, well-formed (mockllm
    # refuses unpaired tool calls as OpenAI does), and the model sees both questions.
    events = await stream_turn(api, headers, session_id, "Thanks")
    assert events[-1].event == "done", events[-1]
    assert "I have seen 2 user messages" in streamed_text(events)
    sent = (await requests_ending_with(mockllm, "Thanks"))[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "user"]
    assert sent[1]["tool_calls"][0]["function"]["name"] == "calculator"


async def test_parallel_tools_and_a_tool_error_reach_the_model(api: httpx.AsyncClient) -> None:
    headers = await register_and_login(api, "clock@example.com")
    session_id = await new_session(api, headers)
    question = "Time in Tokyo and on Mars? " + (
        tool("current_time", timezone="Asia/Tokyo") + tool("current_time", timezone="Mars/Olympus")
    )
    events = await stream_turn(api, headers, session_id, question)
    assert events[-1].event == "done", events[-1]
    calls = [e.data for e in events if e.event == "tool_call"]
    results = {e.data["id"]: e.data for e in events if e.event == "tool_result"}
    assert [c["args"]["timezone"] for c in calls] == ["Asia/Tokyo", "Mars/Olympus"]
    tokyo, mars = results[calls[0]["id"]], results[calls[1]["id"]]
    assert tokyo["is_error"] is False
    now = datetime.fromisoformat(tokyo["content"])
    assert now.utcoffset() == timedelta(hours=9)
    assert mars["is_error"] is True and "unknown time zone" in mars["content"]
    # A failing tool is the model's information, not the run's failure.
    assert f"The current_time tool said: {tokyo['content']}." in streamed_text(events)
    assert "The current_time tool said: Error: unknown time zone" in streamed_text(events)


async def test_a_model_that_never_stops_calling_tools_hits_the_step_limit(
    api: httpx.AsyncClient,
) -> None:
    headers = await register_and_login(api, "loop@example.com")
    session_id = await new_session(api, headers)
    question = "Loop " + tool("calculator", expression="1+1") + "[mock:tool_rounds=100]"
    events = await stream_turn(api, headers, session_id, question)
    assert events[-1].event == "error"
    assert events[-1].data["code"] == "tool_step_limit"
    # The default AGENT_MAX_STEPS is 8: seven rounds of tools ran, the eighth call was
    # refused.
    assert sum(e.event == "tool_result" for e in events) == 7

    messages = await history(api, headers, session_id)
    assert messages[0]["role"] == "user" and messages[0]["content"] == question
    assert messages[-1]["role"] == "assistant" and messages[-1]["status"] == "interrupted"
    # The refused calls are answered with errors, so the next turn is well-formed.
    assert messages[-2]["role"] == "tool" and messages[-2]["is_error"] is True
    events = await stream_turn(api, headers, session_id, "Just answer")
    assert events[-1].event == "done", events[-1]
    assert streamed_text(events) == reply_for(
        [{"role": "user", "content": question}, {"role": "user", "content": "Just answer"}]
    )
