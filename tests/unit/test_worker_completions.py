"""A completion run's messages: ids stable per run, system messages kept out of the
stored turn, and tool calls left without results answered so the context stays valid."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from llmsvc.agent_worker.completions import NO_RESULT, CompletionTurn, answer_open_tool_calls
from llmsvc.common.contracts.agent import Completion, RunJob

pytestmark = pytest.mark.unit


def job(messages: list[dict[str, Any]], *, stateless: bool, instructions: str = "") -> RunJob:
    return RunJob(
        run_id="r1",
        session_id="s1",
        thread_id="t1",
        user_id="u1",
        message="",
        message_id="user-x",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        instructions=instructions,
        completion=Completion(messages=messages, stateless=stateless, params={"seed": 1}),
    )


def test_open_tool_calls_get_an_error_result_right_after_their_message() -> None:
    ask = AIMessage(
        "", tool_calls=[{"id": "a", "name": "f", "args": {}}, {"id": "b", "name": "g", "args": {}}]
    )
    later = [HumanMessage("next"), ToolMessage("done", tool_call_id="b")]
    out = answer_open_tool_calls([HumanMessage("q"), ask, *later])
    assert isinstance(out[2], ToolMessage) and out[2].tool_call_id == "a"
    assert out[2].content == NO_RESULT and out[2].status == "error"
    assert out[3:] == later  # the answered call keeps its own result


def test_in_a_conversation_the_request_system_message_stands_in_for_the_instructions() -> None:
    turn = CompletionTurn(
        job(
            [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"}],
            stateless=False,
            instructions="Be kind.",
        )
    )
    earlier = [HumanMessage("before", id="m1"), AIMessage("ok", id="m2")]
    context = turn.context(earlier)
    assert isinstance(context[0], SystemMessage) and context[0].content == "Be terse."
    assert [m.content for m in context[1:]] == ["before", "ok", "hi"]
    assert [m.id for m in turn.new] == ["user-x-1"]  # the system message is not stored
    assert turn.model_options() == {"seed": 1}


def test_stateless_uses_the_messages_as_given_and_stores_nothing() -> None:
    given: list[dict[str, Any]] = [
        {"role": "developer", "content": "rules"},
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ]
    turn = CompletionTurn(job(given, stateless=True, instructions="ignored"))
    assert not turn.stored
    context = turn.context([HumanMessage("never read")])
    assert [type(m).__name__ for m in context] == [
        "SystemMessage",
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
    ]
    assert context[3].id == "tool-r1-c1"
