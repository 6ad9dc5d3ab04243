from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
import httpx2
import openai
import pymongo.errors
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from llmsvc.agent_worker.history import to_history_message
from llmsvc.agent_worker.model_stream import ModelStreamError
from llmsvc.agent_worker.run_outcomes import model_error_body

pytestmark = pytest.mark.unit


def test_messages_map_to_roles_with_tool_steps_and_status() -> None:
    when = datetime(2026, 1, 2, tzinfo=UTC)
    human = HumanMessage("hi", id="h1", response_metadata={"created_at": when.isoformat()})
    converted = to_history_message(human)
    assert converted is not None
    assert (converted.role, converted.content, converted.created_at) == ("user", "hi", when)
    assert converted.status == "complete"
    call = {"id": "c1", "name": "calculator", "args": {"expression": "1+1"}}
    ai = to_history_message(AIMessage("", id="a1", tool_calls=[call]))
    assert ai is not None and ai.role == "assistant"
    assert ai.tool_calls is not None and ai.tool_calls[0].model_dump() == call
    result = to_history_message(
        ToolMessage("bad", tool_call_id="c1", name="calculator", status="error", id="t1")
    )
    assert result is not None
    assert (result.role, result.tool_call_id, result.name, result.is_error) == (
        "tool",
        "c1",
        "calculator",
        True,
    )
    cut = to_history_message(AIMessage("Hal", id="a2", response_metadata={"status": "interrupted"}))
    assert cut is not None and cut.status == "interrupted"


def test_model_errors_are_reported_by_kind_without_internals() -> None:
    request = httpx2.Request("POST", "http://model/v1/chat/completions")

    def code(exc: Exception) -> str | None:
        body = model_error_body(exc)
        return None if body is None else body["code"]

    limited = httpx2.Response(429, request=request)
    assert code(openai.RateLimitError("key sk-123", response=limited, body=None)) == (
        "model_rate_limited"
    )
    assert code(openai.APIConnectionError(request=request)) == "model_unreachable"
    assert code(openai.APITimeoutError(request=request)) == "model_timeout"
    # Raised by the SDK's transport while a stream is being read.
    assert code(httpx2.ReadError("peer closed")) == "model_unreachable"
    assert code(httpx2.ReadTimeout("slow")) == "model_timeout"
    # The SDK's aiohttp transport raises a dropped connection as a timeout.
    dropped = openai.APITimeoutError(request=request)
    dropped.__cause__ = aiohttp.ServerDisconnectedError()
    assert code(dropped) == "model_unreachable"
    assert code(ModelStreamError("overloaded")) == "model_error"
    failed = openai.InternalServerError(
        "sk-secret", response=httpx2.Response(500, request=request), body=None
    )
    body = model_error_body(failed)
    assert body is not None and body["code"] == "model_error"
    assert "sk-secret" not in body["message"]


def test_infrastructure_errors_are_not_the_models() -> None:
    # A Mongo or NATS failure must send the job back to the queue, not end the run.
    assert model_error_body(pymongo.errors.ServerSelectionTimeoutError("no mongo")) is None
    assert model_error_body(ValueError("bug")) is None
