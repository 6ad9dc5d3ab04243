from __future__ import annotations

from datetime import UTC, datetime

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from llmsvc.agent_worker.flows import _error_body
from llmsvc.agent_worker.history import page_of, to_history_message
from llmsvc.common.contracts.agent import HistoryMessage
from llmsvc.common.errors import BadRequest

pytestmark = pytest.mark.unit


def msgs(n: int) -> list[HistoryMessage]:
    return [HistoryMessage(id=f"m{i}", role="user", content=str(i)) for i in range(n)]


def test_pages_walk_backwards_oldest_first() -> None:
    all_ = msgs(5)
    first = page_of(all_, limit=2, before=None)
    assert [m.id for m in first.messages] == ["m3", "m4"] and first.next_cursor == "m3"
    second = page_of(all_, limit=2, before=first.next_cursor)
    assert [m.id for m in second.messages] == ["m1", "m2"] and second.next_cursor == "m1"
    last = page_of(all_, limit=2, before=second.next_cursor)
    assert [m.id for m in last.messages] == ["m0"] and last.next_cursor is None


def test_unknown_cursor_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        page_of(msgs(2), limit=2, before="nope")


def test_messages_map_to_roles_and_hide_tool_traffic() -> None:
    when = datetime(2026, 1, 2, tzinfo=UTC)
    human = HumanMessage("hi", id="h1", response_metadata={"created_at": when.isoformat()})
    converted = to_history_message(human)
    assert converted is not None
    assert (converted.role, converted.content, converted.created_at) == ("user", "hi", when)
    ai = to_history_message(AIMessage("yo", id="a1"))
    assert ai is not None and ai.role == "assistant"
    assert to_history_message(ToolMessage("x", tool_call_id="t", id="t1")) is None


def test_model_errors_are_reported_by_kind_without_internals() -> None:
    class RateLimitError(Exception):
        pass

    class APIConnectionError(Exception):
        pass

    assert _error_body(RateLimitError("key sk-123"))["code"] == "model_rate_limited"
    assert _error_body(APIConnectionError())["code"] == "model_unreachable"
    body = _error_body(ValueError("sk-secret"))
    assert body["code"] == "model_error" and "sk-secret" not in body["message"]
