"""Reading a conversation's messages back from its LangGraph checkpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.graph.state import CompiledStateGraph

from llmsvc.common.contracts.agent import HistoryMessage, HistoryPage, HistoryRequest
from llmsvc.common.errors import BadRequest

_ROLES: dict[type[BaseMessage], str] = {
    HumanMessage: "user",
    AIMessage: "assistant",
    SystemMessage: "system",
}


def to_history_message(message: BaseMessage) -> HistoryMessage | None:
    role = next((r for cls, r in _ROLES.items() if isinstance(message, cls)), None)
    if role is None or message.id is None:
        return None  # tool calls and the like are not part of the visible conversation
    created = message.response_metadata.get("created_at")
    return HistoryMessage(
        id=message.id,
        role=role,
        content=message.text,
        created_at=datetime.fromisoformat(created) if isinstance(created, str) else None,
    )


def page_of(messages: list[HistoryMessage], *, limit: int, before: str | None) -> HistoryPage:
    """The `limit` messages just before `before` (or the newest), oldest first."""
    end = len(messages)
    if before is not None:
        end = next((i for i, m in enumerate(messages) if m.id == before), -1)
        if end < 0:
            raise BadRequest(
                "cursor does not name a message of this conversation", code="invalid_cursor"
            )
    start = max(0, end - limit)
    return HistoryPage(
        messages=messages[start:end], next_cursor=messages[start].id if start > 0 else None
    )


class HistoryReader:
    def __init__(self, graph: CompiledStateGraph[Any, Any, Any, Any]) -> None:
        self._graph = graph

    async def read(self, req: HistoryRequest) -> HistoryPage:
        state = await self._graph.aget_state({"configurable": {"thread_id": req.thread_id}})
        raw: list[BaseMessage] = (state.values or {}).get("messages", [])
        messages = [m for m in (to_history_message(x) for x in raw) if m is not None]
        return page_of(messages, limit=req.limit, before=req.before)
